"""Understanding: the KV-cached greedy decoder agrees with the packed forward's logits."""

from __future__ import annotations

import torch
from PIL import Image

from uno_bench.models.bagel.packing import PackedBuilder, forward_packed
from uno_bench.models.bagel.transforms import vit_inputs
from uno_bench.models.bagel.understand import describe, reply_ids


def test_cached_decoding_matches_packed_forward(tiny_loaded):
    image = Image.new("RGB", (48, 40), (30, 160, 60))
    prompt = "what is in the image"
    tok, model, cfg = tiny_loaded.tokenizer, tiny_loaded.model, tiny_loaded.config
    ids = reply_ids(tiny_loaded, image, tok.encode(prompt), max_new_tokens=6)
    assert ids[0] == tok.special.bos and len(ids) >= 2
    generated = ids[1:-1] if ids[-1] == tok.special.eos else ids[1:]
    assert describe(tiny_loaded, [image], prompt, max_new_tokens=6)[0] == tok.decode(generated)

    b = PackedBuilder.for_model(model, tok.special)
    b.start_sample()
    patches, grid = vit_inputs(image, cfg.vit_transform, cfg.vit.patch_size)
    b.add_vit_image(patches, grid)
    b.add_text(tok.encode(prompt))
    b.add_text(generated, loss=True)  # <|im_start|> reply <|im_end|>: each position predicts the next
    batch = b.build()
    with torch.no_grad():
        logits = model.logits(forward_packed(model, batch)[batch.ce_indexes])
    greedy = logits.argmax(-1).tolist()
    # the greedy decoder produced exactly these tokens (up to the max length)
    assert greedy[: len(ids) - 1] == ids[1:]
