"""Loss terms against hand-computed values on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from uno_train.objectives import (
    combine,
    cross_entropy,
    flow_matching_loss,
    noisy_latents,
    sample_timesteps,
    shift_timesteps,
)


def test_timesteps_are_shifted_logit_normal():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    t = sample_timesteps(5, 3.0, g1)
    s = torch.randn(5, generator=g2)
    u = 1 / (1 + torch.exp(-s))
    assert torch.allclose(t, 3 * u / (1 + 2 * u))
    assert float(shift_timesteps(torch.tensor(0.5), 1.0)) == 0.5


def test_flow_matching_target_and_mse():
    x0 = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    eps = torch.tensor([[0.5, 0.0], [1.0, 1.0]])
    t = torch.tensor([0.25, 1.0])
    assert torch.allclose(noisy_latents(x0, eps, t), torch.tensor([[0.875, 1.5], [1.0, 1.0]]))
    pred = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    # target = eps - x0 = [[-0.5, -2], [1, 2]] -> per-token mean squared error
    assert torch.allclose(flow_matching_loss(pred, x0, eps), torch.tensor([(0.25 + 4) / 2, 0.0]))


def test_cross_entropy_and_normalisation():
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    ce = cross_entropy(logits, torch.tensor([0, 0]))
    assert torch.allclose(ce, torch.tensor([math.log(2.0), math.log(4 / 3)]))
    mse = torch.tensor([1.0, 3.0])
    # BAGEL: sum / global count x world size, then weighted
    total, parts = combine({"ce": ce, "mse": mse}, {"ce": 0.25, "mse": 1.0}, {"ce": 4, "mse": 8}, world_size=2)
    expected = 0.25 * float(ce.sum()) / 4 * 2 + 4.0 / 8 * 2
    assert float(total) == pytest.approx(expected)
    assert parts["mse"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        combine({"ce": ce}, {"ce": 1.0}, {"ce": 0})
