"""Packing mixed examples: labels, loss positions, dropout and per-example determinism."""

from __future__ import annotations

import torch
from PIL import Image

from uno_train.plans import DropoutProbs, Example, TextItem, VaeItem, VitItem, pack

IMG = Image.new("RGB", (32, 32), (200, 30, 30))


def _examples():
    return [
        Example([TextItem("a red circle", enable_cfg=True), VaeItem(IMG, noisy=True)], "t2i", 0),
        Example([VitItem(IMG), TextItem("a red circle", loss=True)], "caption", 1),
    ]


def test_mixed_pack_layout(fresh_loaded):
    tok = fresh_loaded.tokenizer
    p = pack(fresh_loaded, _examples(), seed=0, dropout=DropoutProbs(0, 0, 0))
    b = p.batch
    caption = tok.encode("a red circle")
    n_lat = 64  # 32x32 at 4 px per token
    assert b.sample_lens == [len(caption) + 2 + n_lat + 2, n_lat + 2 + len(caption) + 2]
    # CE only on the caption: predicts the caption words then <|im_end|>
    assert b.ce_labels.tolist() == [*caption, tok.special.eos]
    assert b.mse_indexes.numel() == n_lat and b.vae_noisy.all()
    assert p.x0.shape == p.eps.shape == (n_lat, fresh_loaded.config.patch_latent_dim)
    assert 0 < float(b.vae_timesteps[0]) < 1
    # the caption sample's ViT block precedes its text; the t2i sample's noisy block is a noise split
    assert [s.mode for s in b.splits[0]] == ["causal", "noise"]
    assert [s.mode for s in b.splits[1]] == ["full", "causal"]


def test_draws_depend_only_on_the_example(fresh_loaded):
    a = pack(fresh_loaded, _examples(), seed=0)
    b = pack(fresh_loaded, _examples()[:1], seed=0)
    assert torch.equal(a.x0[:64], b.x0) and torch.equal(a.eps[:64], b.eps)
    assert torch.equal(a.batch.vae_timesteps[:64], b.batch.vae_timesteps)
    c = pack(fresh_loaded, _examples()[:1], seed=1)
    assert not torch.equal(c.eps, b.eps)


def test_text_dropout_removes_the_prompt(fresh_loaded):
    p = pack(fresh_loaded, _examples()[:1], seed=0, dropout=DropoutProbs(text=1.0, vit=0, vae=0))
    assert [s.mode for s in p.batch.splits[0]] == ["noise"]
    assert p.batch.position_ids.tolist() == [0] * 66  # RoPE did not advance for the dropped text
    q = pack(fresh_loaded, [Example([VitItem(IMG, enable_cfg=True), TextItem("x", loss=True)], "c", 5)],
             seed=0, dropout=DropoutProbs(text=0, vit=1.0, vae=0))
    assert q.batch.vit_patches is None and q.batch.position_ids.tolist()[0] == 1  # dropped image: +1
