"""Small modules against their formulas (upstream ByteDance-Seed/Bagel modeling/bagel/modeling_utils.py)."""

from __future__ import annotations

import math

import numpy as np
import torch

from uno_bench.models.bagel.model import (
    apply_rope,
    grid_position_ids,
    rope_cos_sin,
    sincos_2d_table,
    timestep_frequencies,
)
from uno_bench.models.bagel.vit import conv_patch_weight_to_linear, patchify


def test_timestep_frequencies_cos_first_unscaled():
    t = torch.tensor([0.0, 0.25, 1.0])
    emb = timestep_frequencies(t, 256)
    i = torch.arange(128, dtype=torch.float32)
    freqs = torch.exp(-math.log(10000.0) * i / 128)
    assert torch.allclose(emb[:, :128], torch.cos(t[:, None] * freqs))
    assert torch.allclose(emb[:, 128:], torch.sin(t[:, None] * freqs))
    assert torch.equal(emb[0, :128], torch.ones(128))  # t = 0 (clean image) is not a zero vector


def test_sincos_table_column_first():
    d, g = 16, 5
    table = sincos_2d_table(d, g)
    omega = 1.0 / 10000 ** (np.arange(d // 4) / (d / 4))
    row, col = 3, 1
    expected_col = np.concatenate([np.sin(col * omega), np.cos(col * omega)])
    expected_row = np.concatenate([np.sin(row * omega), np.cos(row * omega)])
    assert np.allclose(table[row * g + col, : d // 2], expected_col)
    assert np.allclose(table[row * g + col, d // 2 :], expected_row)


def test_grid_positions_row_major_with_max_side():
    assert grid_position_ids(32, 48, 16, 64).tolist() == [0, 1, 2, 64, 65, 66]


def test_rope_rotates_pairs_of_halves():
    cos, sin = rope_cos_sin(torch.tensor([0, 3]), 4, 10000.0, torch.float32)
    x = torch.arange(8, dtype=torch.float32).view(2, 1, 4)
    out = apply_rope(x, cos, sin)
    assert torch.allclose(out[0], x[0])  # position 0: identity
    inv = 1.0 / 10000 ** (torch.arange(0, 4, 2).float() / 4)
    ang = 3 * inv
    a, b = x[1, 0, :2], x[1, 0, 2:]
    expected = torch.cat([a * ang.cos() - b * ang.sin(), b * ang.cos() + a * ang.sin()])
    assert torch.allclose(out[1, 0], expected)


def test_linear_patch_embed_equals_the_conv():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 8, kernel_size=4, stride=4)
    image = torch.randn(3, 8, 12)
    linear_w = conv_patch_weight_to_linear(conv.weight)
    via_linear = patchify(image, 4) @ linear_w.T + conv.bias
    via_conv = conv(image[None])[0].flatten(1).T  # [(h*w), 8] row-major
    assert torch.allclose(via_linear, via_conv, atol=1e-5)
