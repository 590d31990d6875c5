"""Attention over a packed training sequence (many samples in one 1-D token sequence).

Three interchangeable implementations of the `Attention` callable the decoder layers use, all with
the same visibility (nothing crosses a sample boundary); the KV-cache implementations live in
`cache.py`:

- `per-sample` (`PackedMaskAttention`): one SDPA call per sample with its dense mask [l, l] — the
  official non-flex path and the reference the others are tested against.
- `block-diagonal` (`BlockDiagonalAttention`): ONE SDPA call per layer over the whole packed
  sequence, with the per-sample masks placed on the diagonal of one [L, L] mask. Works on every
  device; its cost is quadratic in the total length L, not in each sample's.
- `flex` (`FlexPackedAttention`): ONE FlexAttention call per layer with a `BlockMask` built from
  split ids (`SplitVisibility`), so blocks between samples are skipped and no dense mask is stored.
  Fused (and trainable) only where torch.compile's flex kernels exist (CUDA). In torch 2.14 on the
  CPU FlexAttention has no backward at all (eager or compiled) and its eager forward materialises
  the scores; it is refused there while gradients are on.

`packed_attention_kind` resolves `auto` per device type from `AUTO_KIND`, set by measurement
(`scripts/bench_attention.py`, docs/training.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import torch
import torch.nn.functional as F
from torch import Tensor

KINDS = ("per-sample", "block-diagonal", "flex")
# Measured on the CPU (docs/training.md): the loop is fastest there. CUDA is not measured yet; until
# `scripts/bench_attention.py --device cuda` says otherwise it keeps the reference path too.
AUTO_KIND = {"cpu": "per-sample", "cuda": "per-sample"}


def packed_attention_kind(kind: str, device: torch.device | str) -> str:
    """`kind` itself, or for `auto` the measured choice for this device type."""
    if kind == "auto":
        return AUTO_KIND.get(torch.device(device).type, "per-sample")
    if kind not in KINDS:
        raise ValueError(f"packed attention must be auto or one of {', '.join(KINDS)} (got {kind!r})")
    return kind


def expand_kv(x: Tensor, groups: int, head_dim: int = -2) -> Tensor:
    """GQA: kv head j serves query heads j*groups ... (j+1)*groups-1."""
    return x if groups == 1 else x.repeat_interleave(groups, dim=head_dim)


def sdpa(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None) -> Tensor:
    """Scaled dot-product attention on [..., heads, len, dim] with grouped K/V heads, without
    materialising the repeated K/V where torch can avoid it."""
    groups = q.shape[-3] // k.shape[-3]
    if groups == 1:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    try:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=True)
    except TypeError:  # torch < 2.5
        return F.scaled_dot_product_attention(q, expand_kv(k, groups, -3), expand_kv(v, groups, -3), attn_mask=mask)


class PackedMaskAttention:
    """Samples are attended one by one (nothing crosses a sample boundary), each with its own
    boolean mask [l, l] (True = may attend)."""

    def __init__(self, sample_lens: list[int], masks: list[Tensor]):
        self.sample_lens, self.masks = sample_lens, masks

    def __call__(self, layer: int, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        groups = q.shape[1] // k.shape[1]
        k, v = expand_kv(k, groups, 1), expand_kv(v, groups, 1)
        outs = []
        for qs, ks, vs, mask in zip(q.split(self.sample_lens), k.split(self.sample_lens),
                                    v.split(self.sample_lens), self.masks):
            # [l, H, D] -> [H, l, D]
            o = F.scaled_dot_product_attention(
                qs.transpose(0, 1), ks.transpose(0, 1), vs.transpose(0, 1), attn_mask=mask.to(q.device)
            )
            outs.append(o.transpose(0, 1))
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=0)


class BlockDiagonalAttention:
    """The whole packed sequence in one SDPA call; the per-sample masks sit on the diagonal of one
    [L, L] mask (built once per forward, shared by every layer)."""

    def __init__(self, masks: list[Tensor], device: torch.device | None = None):
        self.mask = torch.block_diag(*[m.to(device) for m in masks])

    def __call__(self, layer: int, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        # [L, H, D] -> [H, L, D]; grouped K/V heads are left to SDPA where it can
        out = sdpa(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), self.mask)
        return out.transpose(0, 1)


@dataclass
class SplitVisibility:
    """Packed visibility at split granularity — what a FlexAttention mask function can evaluate
    without a dense [L, L] mask. Token i belongs to split `token_split[i]` (ids unique over the whole
    packed sequence); a query of split a sees a key of another split b iff `sees[a, b]` (False
    across samples); inside one split it sees every key (full) or the keys up to itself (`causal`)."""

    token_split: Tensor  # [L] long
    causal: Tensor  # [S] bool
    sees: Tensor  # [S, S] bool, diagonal False (a split's view of itself is `causal`'s business)

    def allows(self, q_idx: Tensor, k_idx: Tensor) -> Tensor:
        """Elementwise: may query token q_idx attend key token k_idx (broadcasting, vmap-safe)."""
        sq, sk = self.token_split[q_idx], self.token_split[k_idx]
        return ((sq == sk) & (~self.causal[sq] | (k_idx <= q_idx))) | self.sees[sq, sk]

    def dense(self) -> Tensor:
        """The [L, L] boolean mask (tests; the block-diagonal of the per-sample masks)."""
        idx = torch.arange(self.token_split.numel(), device=self.token_split.device)
        return self.allows(idx[:, None], idx[None, :])

    def with_full_sample(self, length: int) -> SplitVisibility:
        """One more sample at the end: a single split of `length` tokens that see each other."""
        s, dev = self.causal.numel(), self.causal.device
        sees = torch.zeros(s + 1, s + 1, dtype=torch.bool, device=dev)
        sees[:s, :s] = self.sees
        return SplitVisibility(torch.cat([self.token_split, torch.full((length,), s, device=dev)]),
                               torch.cat([self.causal, torch.zeros(1, dtype=torch.bool, device=dev)]), sees)


@cache
def _flex_attention(compiled: bool):
    from torch.nn.attention.flex_attention import flex_attention

    # Uncompiled flex runs an unfused reference that materialises the scores; compiled it is one
    # fused kernel (the point of this path on a GPU). Packed lengths change every step: torch.compile's
    # default recompiles once with dynamic shapes, then reuses that kernel.
    return torch.compile(flex_attention) if compiled else flex_attention


class FlexPackedAttention:
    """The whole packed sequence in one FlexAttention call per layer. The BlockMask (built once per
    forward from `SplitVisibility`) lets the kernel skip blocks between samples."""

    def __init__(self, visibility: SplitVisibility, compiled: bool | None = None, block_size: int = 128):
        from torch.nn.attention.flex_attention import create_block_mask

        dev = visibility.token_split.device
        if dev.type == "cpu" and torch.is_grad_enabled():
            raise NotImplementedError("FlexAttention has no backward on the CPU (torch "
                                      f"{torch.__version__}): train with packed attention per-sample or "
                                      "block-diagonal there")
        length = visibility.token_split.numel()

        def mask_mod(b: Tensor, h: Tensor, q_idx: Tensor, kv_idx: Tensor) -> Tensor:
            return visibility.allows(q_idx, kv_idx)

        self.block_mask = create_block_mask(mask_mod, None, None, length, length, device=dev, BLOCK_SIZE=block_size)
        self.attend = _flex_attention(dev.type == "cuda" if compiled is None else compiled)

    def __call__(self, layer: int, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        groups = q.shape[1] // k.shape[1]
        # [L, H, D] -> [1, H, L, D]
        q4, k4, v4 = (x.transpose(0, 1).unsqueeze(0) for x in (q, k, v))
        out = self.attend(q4, k4, v4, block_mask=self.block_mask, enable_gqa=groups > 1)
        return out.squeeze(0).transpose(0, 1)
