"""Training objectives, as BAGEL's `Bagel.forward` and train script define them (ByteDance-Seed/Bagel@056b5fd
modeling/bagel/bagel.py, train/pretrain_unified_navit.py).

Flow matching: per noisy image a raw s ~ N(0, 1); t = sigmoid(s) (logit-normal), then the SD3
shift t <- shift*t / (1 + (shift-1)*t). x_t = (1 - t) x0 + t eps (t = 1 is noise); the model
predicts the velocity eps - x0; the per-token loss is the mean squared error over channels.
Cross-entropy: next-token loss from the und-side final hidden states through the LM head.
Both are summed and divided by the *global* number of their tokens, times the world size (FSDP
averages gradients over ranks; this undoes it), then `ce * ce_weight + mse * mse_weight`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def shift_timesteps(t: Tensor, shift: float) -> Tensor:
    return shift * t / (1 + (shift - 1) * t)


def sample_timesteps(num_images: int, shift: float, generator: torch.Generator | None = None) -> Tensor:
    """One flow time per noisy image: sigmoid of a standard normal sample, then shifted."""
    s = torch.randn(num_images, generator=generator)
    return shift_timesteps(torch.sigmoid(s), shift)


def noisy_latents(x0: Tensor, eps: Tensor, t: Tensor) -> Tensor:
    """x_t = (1 - t) x0 + t eps, with t per token ([n]) or broadcastable."""
    t = t.reshape(-1, *([1] * (x0.dim() - 1))) if t.dim() == 1 else t
    return (1 - t) * x0 + t * eps


def flow_matching_loss(pred: Tensor, x0: Tensor, eps: Tensor) -> Tensor:
    """Per-token MSE against the velocity target eps - x0 (mean over channels)."""
    return ((pred.float() - (eps - x0).float()) ** 2).mean(dim=-1)


def cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Per-token next-token cross-entropy."""
    return F.cross_entropy(logits.float(), labels, reduction="none")


def combine(terms: dict[str, Tensor], weights: dict[str, float], global_counts: dict[str, float],
            world_size: int = 1) -> tuple[Tensor, dict[str, float]]:
    """BAGEL's normalisation for every term: sum / global token count x world size, then the
    weighted sum. Terms with no tokens anywhere, or weight 0, are left out."""
    total = None
    logs: dict[str, float] = {}
    for name, per_token in terms.items():
        count, w = global_counts.get(name, 0), weights.get(name, 0.0)
        if per_token is None or count == 0 or w == 0:
            continue
        term = per_token.sum() / count * world_size
        logs[name] = float(per_token.detach().sum()) / count * world_size
        total = term * w if total is None else total + term * w
    if total is None:
        raise ValueError("no loss term: the batch has no token of any weighted term")
    return total, logs
