"""Attention over a packed sequence with dense per-sample masks (the official non-flex path).

`PackedMaskAttention` is one implementation of the `Attention` callable the decoder layers use;
the KV-cache implementations live in `cache.py`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


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
