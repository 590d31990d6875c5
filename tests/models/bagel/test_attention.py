"""Packed attention: one call per layer (block-diagonal SDPA, FlexAttention) equals the per-sample
reference in fp32, forward and gradients, on a real mixed training batch (the project's packing)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from uno_bench.models.bagel.attention import (
    BlockDiagonalAttention,
    FlexPackedAttention,
    PackedMaskAttention,
    packed_attention_kind,
)
from uno_train.plans import DropoutProbs, Example, TextItem, VaeItem, VitItem, pack
from uno_train.trainer import TrainConfig, Trainer
from uno_train.uno import UnoConfig, UnoObjective

TOL = dict(rtol=1e-6, atol=1e-6)


def _image(w: int, h: int, colour: tuple[int, int, int]) -> Image.Image:
    im = Image.new("RGB", (w, h), (128, 128, 128))
    im.paste(colour, (4, 4, w // 2, h // 2))
    return im


def _examples(obj: UnoObjective) -> list[Example]:
    """Every visibility rule BAGEL training uses, in samples of different lengths: causal text, full
    ViT / clean VAE blocks, noisy images hidden from later tokens, UNO's `sees` (caption and
    metaqueries that skip the prompt)."""
    red, blue = _image(32, 32, (220, 30, 30)), _image(64, 32, (30, 30, 220))
    t2i = Example([TextItem("a photo of a red square", enable_cfg=True), VaeItem(red, noisy=True)], "t2i", 0,
                  meta={"captions": ["a red square"]})
    edit = Example([VitItem(red, enable_cfg=True), VaeItem(red, noisy=False, enable_cfg=True),
                    TextItem("make it blue", enable_cfg=True), VaeItem(blue, noisy=True)], "edit", 1)
    caption = Example([VitItem(blue), TextItem("a blue square", loss=True)], "caption", 2)
    wide = Example([TextItem("two blue squares", enable_cfg=True), VaeItem(blue, noisy=True)], "t2i", 3,
                   meta={"captions": ["two blue squares"]})
    return [obj.prepare(t2i), edit, caption, obj.prepare(wide)]


def _packed(loaded):
    obj = UnoObjective(UnoConfig(), loaded.model)
    return obj, pack(loaded, _examples(obj), seed=0, dropout=DropoutProbs(0, 0, 0))


def test_the_batch_is_mixed(fresh_loaded):
    _, p = _packed(fresh_loaded)
    lens = p.batch.sample_lens
    assert len(lens) == 4 and len(set(lens)) == 4
    modes = {s.mode for splits in p.batch.splits for s in splits}
    assert modes >= {"causal", "full", "noise"}
    assert any(s.sees is not None for splits in p.batch.splits for s in splits)


def test_split_visibility_is_the_block_diagonal_of_the_sample_masks(fresh_loaded):
    _, p = _packed(fresh_loaded)
    masks = p.batch.attention_masks()
    vis = p.batch.split_visibility()
    assert torch.equal(vis.dense(), torch.block_diag(*masks))
    ghost = torch.ones(3, 3, dtype=torch.bool)
    assert torch.equal(vis.with_full_sample(3).dense(), torch.block_diag(*masks, ghost))


def _qkv(length: int, heads: int = 4, kv_heads: int = 2, dim: int = 16):
    g = torch.Generator().manual_seed(0)
    return [torch.randn(length, h, dim, generator=g, requires_grad=True) for h in (heads, kv_heads, kv_heads)]


def _run(attend, qkv):
    q, k, v = qkv
    out = attend(0, q, k, v)
    grads = torch.autograd.grad((out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum(), qkv)
    return out.detach(), grads


def test_block_diagonal_attention_equals_per_sample(fresh_loaded):
    _, p = _packed(fresh_loaded)
    masks, lens = p.batch.attention_masks(), p.batch.sample_lens
    qkv = _qkv(sum(lens))
    ref_out, ref_grads = _run(PackedMaskAttention(lens, masks), qkv)
    out, grads = _run(BlockDiagonalAttention(masks), qkv)
    torch.testing.assert_close(out, ref_out, **TOL)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, **TOL)


def test_flex_forward_equals_per_sample_on_cpu(fresh_loaded):
    """Eager (unfused) FlexAttention on the CPU: forward only, torch has no CPU backward for it."""
    _, p = _packed(fresh_loaded)
    masks, lens = p.batch.attention_masks(), p.batch.sample_lens
    q, k, v = (x.detach() for x in _qkv(sum(lens)))
    with torch.no_grad():
        ref = PackedMaskAttention(lens, masks)(0, q, k, v)
        out = FlexPackedAttention(p.batch.split_visibility(), compiled=False)(0, q, k, v)
    torch.testing.assert_close(out, ref, **TOL)
    with pytest.raises(NotImplementedError, match="no backward on the CPU"):
        FlexPackedAttention(p.batch.split_visibility())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="FlexAttention trains only on CUDA (compiled kernel)")
def test_flex_forward_and_gradients_equal_per_sample_on_cuda(fresh_loaded):
    _, p = _packed(fresh_loaded)
    dev = torch.device("cuda")
    masks, lens = p.batch.attention_masks(dev), p.batch.sample_lens
    qkv = [x.detach().to(dev).requires_grad_() for x in _qkv(sum(lens))]
    ref_out, ref_grads = _run(PackedMaskAttention(lens, masks), qkv)
    out, grads = _run(FlexPackedAttention(p.batch.split_visibility(dev)), qkv)
    torch.testing.assert_close(out, ref_out, rtol=1e-5, atol=1e-5)  # fused kernel: another summation order
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)


def _training_step(loaded, tmp_path, kind: str):
    """UNO's training forward + backward through the whole model (the trainer's own path)."""
    obj, p = _packed(loaded)
    trainer = Trainer(loaded, None, TrainConfig(steps=1, batch_size=4), tmp_path / kind, objective=obj,
                      attention=kind)
    loaded.model.zero_grad(set_to_none=True)
    terms = obj(trainer, p)
    assert {"mse", "ce", "uno_caption", "uno_regression"} <= set(terms)
    loss = sum(t.mean() for t in terms.values())
    loss.backward()
    grads = {n: w.grad.clone() for n, w in loaded.model.named_parameters() if w.grad is not None}
    grads.update({f"extra.{n}": w.grad.clone() for n, w in obj.parameters().items()})
    return {k: t.detach() for k, t in terms.items()}, grads


def test_block_diagonal_training_step_equals_per_sample(tiny_ckpt, tmp_path):
    from uno_bench.models.bagel import checkpoint

    runs = {}
    for kind in ("per-sample", "block-diagonal"):
        torch.manual_seed(0)  # the UNO regression head's initial weights
        runs[kind] = _training_step(checkpoint.load(tiny_ckpt, dtype=torch.float32), tmp_path, kind)
    (ref_terms, ref_grads), (terms, grads) = runs["per-sample"], runs["block-diagonal"]
    for name in ref_terms:
        torch.testing.assert_close(terms[name], ref_terms[name], **TOL)
    assert grads.keys() == ref_grads.keys() and len(grads) > 50
    for name in ref_grads:
        torch.testing.assert_close(grads[name], ref_grads[name], **TOL, msg=lambda m, n=name: f"{n}: {m}")


def test_model_forward_with_ghost_sample_agrees_across_kinds(fresh_loaded):
    """`Bagel.forward` builds each kind itself, the distributed ghost sample included."""
    _, p = _packed(fresh_loaded)
    model, batch = fresh_loaded.model, p.batch
    batch.embed_indexes = batch.embed_indexes[:0]  # metaquery slots: zeros, not learned embeddings
    hidden = {}
    with torch.no_grad():
        for kind in ("per-sample", "block-diagonal", "flex"):
            hidden[kind] = model(batch, ghost=True, attention=kind).hidden
    # the final hidden states (|h| up to 3.6) after every layer: fp32 rounding of another summation
    # order compounds over the layers (measured: 1.4e-6 block-diagonal, 1.8e-6 flex, at most)
    for kind in ("block-diagonal", "flex"):
        torch.testing.assert_close(hidden[kind], hidden["per-sample"], rtol=1e-5, atol=1e-5)


def test_auto_kind_and_unknown_names():
    assert packed_attention_kind("auto", "cpu") == "per-sample"
    assert packed_attention_kind("block-diagonal", "cpu") == "block-diagonal"
    with pytest.raises(ValueError, match="packed attention"):
        packed_attention_kind("varlen", "cpu")
