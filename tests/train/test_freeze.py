"""Frozen parameters get no gradient; unfrozen ones do (requires_grad, never detach)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from uno_bench.errors import UnoError
from uno_train.freeze import freeze
from uno_train.plans import Example, TextItem, VaeItem, VitItem, pack
from uno_train.trainer import Objective, TrainConfig, Trainer


def test_frozen_und_expert_gets_no_gradient(fresh_loaded, tmp_path):
    model = fresh_loaded.model
    frozen = set(freeze(model, ["understanding"]))
    img = Image.new("RGB", (32, 32), (20, 90, 230))
    examples = [Example([TextItem("a blue square"), VaeItem(img, noisy=True)], "t2i", 0),
                Example([VitItem(img), TextItem("a blue square", loss=True)], "caption", 1)]
    trainer = Trainer(fresh_loaded, source=None, cfg=TrainConfig(steps=1, batch_size=2), out=tmp_path)
    packed = pack(fresh_loaded, examples, seed=0)
    terms = Objective()(trainer, packed)
    (terms["ce"].mean() + terms["mse"].mean()).backward()
    for name, p in model.named_parameters():
        if name in frozen:
            assert p.grad is None, name
    gen_q = model.language_model.model.layers[0].self_attn.q_proj_moe_gen.weight
    assert gen_q.grad is not None and gen_q.grad.abs().sum() > 0
    assert model.llm2vae.weight.grad.abs().sum() > 0
    assert "language_model.model.layers.1.mlp.up_proj.weight" in frozen
    assert "language_model.lm_head.weight" in frozen and "vit_model.vision_model.post_layernorm.weight" in frozen


def test_unknown_component_is_refused(fresh_loaded):
    with pytest.raises(UnoError, match="unknown component"):
        freeze(fresh_loaded.model, ["decoder"])


def test_everything_frozen_is_refused(fresh_loaded, tmp_path):
    with pytest.raises(UnoError, match="nothing to train"):
        Trainer(fresh_loaded, None, TrainConfig(steps=1, batch_size=1,
                freeze=("llm", "vit", "connector", "gen_io")), tmp_path)
    assert torch.is_grad_enabled()
