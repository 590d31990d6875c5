"""Prefilling inference contexts into KV caches: text (und expert, causal), a clean VAE image
(markers und, latents gen, t = 0, full attention inside the block) and a ViT image (und, full) —
the `forward_cache_update_*` steps of the official inferencer, one sequence at a time."""

from __future__ import annotations

import torch
from torch import Tensor

from uno_bench.models.bagel.cache import PrefillAttention, SequenceCache
from uno_bench.models.bagel.model import Bagel, grid_position_ids
from uno_bench.models.bagel.packing import SpecialTokens


@torch.no_grad()
def prefill_text(model: Bagel, cache: SequenceCache, ids: list[int], special: SpecialTokens) -> Tensor:
    """`<|im_start|> ids <|im_end|>` into the cache; returns the final hidden states."""
    tokens = torch.tensor([special.bos, *ids, special.eos], device=model.device)
    x = model.embed_text(tokens)
    pos = torch.arange(cache.rope, cache.rope + len(tokens), device=model.device)
    attend = PrefillAttention(cache, len(tokens), causal=True)
    h = model.decode(x, pos, None, attend)
    attend.commit(advance_rope=len(tokens))
    return h


def _image_block(model: Bagel, inner: Tensor, special: SpecialTokens) -> Tensor:
    markers = model.embed_text(torch.tensor([special.start_of_image, special.end_of_image], device=model.device))
    return torch.cat([markers[:1], inner.to(markers.dtype), markers[1:]])


@torch.no_grad()
def prefill_vae_image(model: Bagel, cache: SequenceCache, tokens: Tensor, grid: tuple[int, int],
                      special: SpecialTokens) -> None:
    c = model.config
    pos_ids = grid_position_ids(grid[0] * c.latent_downsample, grid[1] * c.latent_downsample,
                                c.latent_downsample, c.max_latent_size, model.device)
    t0 = torch.zeros(1, device=model.device)
    x = _image_block(model, model.embed_latents(tokens.to(model.device), t0, pos_ids), special)
    n = x.shape[0]
    gen = torch.arange(1, n - 1, device=model.device)
    attend = PrefillAttention(cache, n, causal=False)
    model.decode(x, torch.full((n,), cache.rope, device=model.device), gen, attend)
    attend.commit(advance_rope=1)


@torch.no_grad()
def prefill_vit_image(model: Bagel, cache: SequenceCache, patches: Tensor, grid: tuple[int, int],
                      special: SpecialTokens) -> None:
    c = model.config
    pos_ids = grid_position_ids(grid[0] * c.vit.patch_size, grid[1] * c.vit.patch_size, c.vit.patch_size,
                                c.vit_max_num_patch_per_side, model.device)
    inner = model.embed_vit(patches.to(model.device), pos_ids, [patches.shape[0]])
    x = _image_block(model, inner, special)
    n = x.shape[0]
    attend = PrefillAttention(cache, n, causal=False)
    model.decode(x, torch.full((n,), cache.rope, device=model.device), None, attend)
    attend.commit(advance_rope=1)
