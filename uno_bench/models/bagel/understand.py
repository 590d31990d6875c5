"""Understanding: image (ViT) + prompt -> greedy text, with a KV cache (BAGEL's `chat`).

Context: `[<|vision_start|> ViT tokens <|vision_end|>]` (und expert, full attention, one RoPE
position), then `<|im_start|> prompt <|im_end|>` (causal); decoding starts by feeding
`<|im_start|>` at the next position and stops at `<|im_end|>`. The reply is the text between.
"""

from __future__ import annotations

import torch
from PIL import Image

from uno_bench.models.bagel.cache import PrefillAttention, SequenceCache
from uno_bench.models.bagel.checkpoint import LoadedBagel
from uno_bench.models.bagel.context import prefill_text, prefill_vit_image
from uno_bench.models.bagel.transforms import as_rgb, vit_inputs


@torch.no_grad()
def greedy_reply(loaded: LoadedBagel, cache: SequenceCache, max_new_tokens: int) -> list[int]:
    model, special = loaded.model, loaded.tokenizer.special
    token, out = special.bos, [special.bos]
    cache.reserve(max_new_tokens + 1)
    for _ in range(max_new_tokens):
        x = model.embed_text(torch.tensor([token], device=model.device))
        attend = PrefillAttention(cache, 1, causal=True)
        h = model.decode(x, torch.tensor([cache.rope], device=model.device), None, attend)
        attend.commit(advance_rope=1)
        token = int(model.logits(h[-1]).argmax())
        out.append(token)
        if token == special.eos:
            break
    return out


def reply_ids(loaded: LoadedBagel, image: Image.Image, prompt_ids: list[int] | None,
              max_new_tokens: int = 64) -> list[int]:
    """Greedy token ids for one image (starting with `<|im_start|>`, ending with `<|im_end|>` unless
    the length limit came first)."""
    c, special = loaded.config, loaded.tokenizer.special
    patches, grid = vit_inputs(as_rgb(image), c.vit_transform, c.vit.patch_size)
    extra = len(prompt_ids) + 2 if prompt_ids is not None else 0
    cache = SequenceCache.for_model(loaded.model, capacity=patches.shape[0] + 2 + extra + max_new_tokens + 1)
    prefill_vit_image(loaded.model, cache, patches, grid, special)
    if prompt_ids is not None:
        prefill_text(loaded.model, cache, prompt_ids, special)
    return greedy_reply(loaded, cache, max_new_tokens)


def describe(loaded: LoadedBagel, images: list[Image.Image], prompt: str, max_new_tokens: int = 64) -> list[str]:
    """One greedy reply per image (e.g. a caption or a VQA answer)."""
    tok = loaded.tokenizer
    prompt_ids = tok.encode(prompt) if prompt else None
    return [tok.decode_reply(reply_ids(loaded, im, prompt_ids, max_new_tokens)) for im in images]
