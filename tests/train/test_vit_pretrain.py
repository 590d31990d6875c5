"""The image encoder's pre-training phase trains the image path alone, deterministically."""

from __future__ import annotations

import numpy as np
import torch

from uno_bench.models.bagel.model import Bagel
from uno_train.presets import tiny_shapes_config
from uno_train.vit_pretrain import IMAGE_PATH, ViTPretrainConfig, pooled_image_tokens, shape_batch, train_vit


def _model() -> Bagel:
    torch.manual_seed(0)
    model = Bagel(tiny_shapes_config(vocab_size=48))
    model.init_weights()
    return model


def test_labels_mark_exactly_the_shapes_a_scene_holds():
    from uno_bench.shapes import world

    rng = np.random.default_rng(3)
    images, labels = shape_batch(rng, 6, 64)
    again = np.random.default_rng(3)
    scenes = [world.sample_scene(again) for _ in range(6)]
    for scene, row in zip(scenes, labels):
        held = {world.SHAPES[i] for i in torch.nonzero(row).flatten().tolist()}
        assert held == {o.shape for o in scene.objects}
    assert len(images) == 6 and images[0].size == (64, 64)


def test_only_the_image_path_moves_and_two_runs_agree():
    cfg = ViTPretrainConfig(steps=3, batch_size=4, eval_every=3, eval_scenes=8)
    first, second = _model(), _model()
    before = {n: t.clone() for n, t in first.state_dict().items()}
    history = train_vit(first, 64, seed=0, cfg=cfg, log=lambda *_: None)
    train_vit(second, 64, seed=0, cfg=cfg, log=lambda *_: None)
    assert [h["step"] for h in history] == [0, 3]
    after = first.state_dict()
    moved = {n for n in after if not torch.equal(after[n], before[n])}
    assert moved and all(n.startswith(IMAGE_PATH) for n in moved)
    assert any(n.startswith("vit_model") for n in moved)
    assert all(torch.equal(after[n], second.state_dict()[n]) for n in after)


def test_pooled_tokens_are_one_vector_per_image_in_llm_width():
    model = _model()
    images, _ = shape_batch(np.random.default_rng(0), 3, 64)
    with torch.no_grad():
        pooled = pooled_image_tokens(model, images)
        alone = pooled_image_tokens(model, images[1:2])
    assert pooled.shape == (3, model.config.llm.hidden_size)
    assert torch.allclose(pooled[1], alone[0], atol=1e-6)  # packing does not mix images
