"""UNO: the mask, the gradient path through the frozen und expert, the loss terms, the control."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from uno_train.freeze import freeze
from uno_train.objectives import cross_entropy
from uno_train.plans import DropoutProbs, Example, TextItem, VaeItem, pack
from uno_train.trainer import Objective, TrainConfig, Trainer
from uno_train.uno import UnoConfig, UnoObjective

IMG = Image.new("RGB", (32, 32), (128, 128, 128))
IMG.paste((220, 30, 30), (8, 8, 20, 20))
NO_DROPOUT = DropoutProbs(0, 0, 0)


def _t2i(index: int = 0) -> Example:
    return Example([TextItem("a photo of a red square", enable_cfg=True), VaeItem(IMG, noisy=True)], "t2i", index,
                   meta={"captions": ["a red square"]})


def _packed(loaded, cfg: UnoConfig, examples=None):
    obj = UnoObjective(cfg, loaded.model)
    return obj, pack(loaded, [obj.prepare(e) for e in (examples or [_t2i()])], seed=0, dropout=NO_DROPOUT)


def _block(mask, a, b):
    return mask[a[0] : a[0] + a[1], b[0] : b[0] + b[1]]


def test_mask_hides_the_prompt_and_shows_the_noisy_image(fresh_loaded):
    obj, p = _packed(fresh_loaded, UnoConfig())
    names = p.named_splits[0]
    assert list(names) == ["P", "G", "C", "Q"] and len(p.named_splits) == 1
    mask = p.batch.attention_masks()[0]
    P, G, C, Q = names["P"], names["G"], names["C"], names["Q"]
    assert not _block(mask, C, P).any() and not _block(mask, Q, P).any()  # prompt masking
    assert _block(mask, C, G).all() and _block(mask, Q, G).all()  # the noisy block is visible
    assert _block(mask, Q, C).all()  # metaqueries read the caption (configurable)
    assert _block(mask, G, P).all() and not _block(mask, G, C).any()  # G is conditioned on P as in BAGEL
    # no clean VAE/ViT copy of the target anywhere in the sequence: the regression targets come from a
    # side image that only the ViT sees; metaqueries are one per 2x2 ViT patches (8x8 grid -> 16)
    assert p.batch.vit_patches is None and p.batch.side_vit_grids == [(8, 8)]
    assert (p.batch.vae_noisy).all() and Q[1] == 16 + 2
    # und-hidden targets need the clean copy inside the LLM: it goes to an isolated sample
    _, u = _packed(fresh_loaded, UnoConfig(regression_target="und_hidden"))
    assert list(u.named_splits[1]) == ["target"] and u.batch.vit_indexes.min() >= u.batch.sample_lens[0]
    # RoPE: the caption starts one past the image position
    pos = p.batch.position_ids
    assert int(pos[C[0]]) == int(pos[G[0]]) + 1
    # without prompt masking the caption reads the prompt; metaqueries may ignore the caption
    _, q = _packed(fresh_loaded, UnoConfig(prompt_masking=False, metaqueries_see_caption=False))
    m2, n2 = q.batch.attention_masks()[0], q.named_splits[0]
    assert _block(m2, n2["C"], n2["P"]).all() and not _block(m2, n2["Q"], n2["C"]).any()


@pytest.mark.parametrize("target", ["vit", "und_hidden"])
def test_proxy_gradients_reach_the_gen_expert_in_every_layer(fresh_loaded, tmp_path, target):
    model = fresh_loaded.model
    cfg = UnoConfig(regression_target=target)
    frozen = set(freeze(model, list(cfg.freeze)))
    obj = UnoObjective(cfg, model)
    trainer = Trainer(fresh_loaded, None, TrainConfig(steps=1, batch_size=1), tmp_path, objective=obj)
    packed = pack(fresh_loaded, [obj.prepare(_t2i())], seed=0, dropout=NO_DROPOUT)
    for term in ("uno_caption", "uno_regression"):
        model.zero_grad(set_to_none=True)
        for p in obj.parameters().values():
            p.grad = None
        terms = obj(trainer, packed)
        terms[term].mean().backward()
        for name, p in model.named_parameters():
            if name in frozen:
                assert p.grad is None, (term, name)
        for i, layer in enumerate(model.language_model.model.layers):
            for w in (layer.self_attn.k_proj_moe_gen.weight, layer.self_attn.v_proj_moe_gen.weight):
                assert w.grad is not None and float(w.grad.abs().sum()) > 0, (term, i)
        assert model.vae2llm.weight.grad is not None and float(model.vae2llm.weight.grad.abs().sum()) > 0
    assert float(obj.parameters()["metaqueries"].grad.abs().sum()) > 0


def test_loss_terms_vanish_at_their_optimum():
    logits = torch.full((3, 5), -1e4)
    labels = torch.tensor([1, 4, 0])
    logits[torch.arange(3), labels] = 1e4
    assert float(cross_entropy(logits, labels).max()) == 0.0
    x = torch.randn(4, 8)
    assert float((1 - F.cosine_similarity(x, x.clone(), dim=-1)).abs().max()) < 1e-6


def test_no_proxy_reproduces_the_plain_flow_matching_step(tiny_ckpt, tmp_path):
    from uno_bench.models.bagel import checkpoint

    grads = []
    for objective in ("plain", "control"):
        loaded = checkpoint.load(tiny_ckpt, dtype=torch.float32)
        freeze(loaded.model, ["understanding"])
        obj = Objective() if objective == "plain" else UnoObjective(UnoConfig(proxies=()), loaded.model)
        trainer = Trainer(loaded, None, TrainConfig(steps=1, batch_size=2), tmp_path / objective, objective=obj)
        packed = pack(loaded, [obj.prepare(_t2i(0)), obj.prepare(_t2i(1))], seed=0)
        terms = obj(trainer, packed)
        assert set(terms) == {"mse"}
        terms["mse"].mean().backward()
        grads.append({n: p.grad.clone() for n, p in loaded.model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    assert all(torch.equal(grads[0][k], grads[1][k]) for k in grads[0])
