"""A pre-training phase for the image encoder: which of the world's shapes does a scene hold?

BAGEL starts from a pretrained SigLIP; the tiny model's ViT starts from random weights, and
captioning alone teaches it shape slowly (docs/tiny_model.md: 0.69 per-label accuracy after 5,000
steps of joint training, against 0.86 after 2,400 steps of this objective). This phase trains the
image path of the model — ViT, connector, ViT position embedding — on a dense multi-label loss: for
each of the four shapes, is one in the scene? The logits come from a linear head on the maximum
over the image's LLM-space tokens (the head is thrown away afterwards). Deterministic given the
seed and the thread count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

IMAGE_PATH = ("vit_model", "connector", "vit_pos_embed")  # the parameters this phase trains


@dataclass(frozen=True)
class ViTPretrainConfig:
    steps: int = 4000
    batch_size: int = 32
    lr: float = 2e-3  # constant (AdamW, betas 0.9/0.95): the rate of the probe that measured this phase
    eval_every: int = 500
    eval_scenes: int = 400


def image_path_state(model: nn.Module) -> dict[str, Tensor]:
    return {n: t for n, t in model.state_dict().items() if n.startswith(IMAGE_PATH)}


def shape_batch(rng: np.random.Generator, n: int, image_size: int) -> tuple[list[Image.Image], Tensor]:
    """n random training scenes, rendered, with a 0/1 label per shape (present or not)."""
    from uno_bench.shapes import world
    from uno_bench.shapes.render import render

    scenes = [world.sample_scene(rng) for _ in range(n)]
    labels = torch.zeros(n, len(world.SHAPES))
    for i, scene in enumerate(scenes):
        for obj in scene.objects:
            labels[i, world.SHAPES.index(obj.shape)] = 1
    return [render(s, image_size) for s in scenes], labels


def pooled_image_tokens(model, images: list[Image.Image]) -> Tensor:
    """[n, hidden]: the maximum over each image's ViT tokens after the connector (what the LLM reads)."""
    from uno_bench.models.bagel.model import grid_position_ids
    from uno_bench.models.bagel.transforms import as_rgb, vit_inputs

    c = model.config
    patches = [vit_inputs(as_rgb(im), c.vit_transform, c.vit.patch_size) for im in images]
    ids = [grid_position_ids(h * c.vit.patch_size, w * c.vit.patch_size, c.vit.patch_size,
                             c.vit_max_num_patch_per_side, model.device) for _, (h, w) in patches]
    lengths = [p.shape[0] for p, _ in patches]
    tokens = model.embed_vit(torch.cat([p for p, _ in patches]), torch.cat(ids), lengths)
    return torch.stack([t.amax(0) for t in tokens.split(lengths)])


def train_vit(model, image_size: int, seed: int, cfg: ViTPretrainConfig,
              log: Callable[[str], None] = print) -> list[dict]:
    """Trains the model's image path in place; returns the held-out accuracy history."""
    from uno_bench.shapes import world

    torch.manual_seed(seed + 2)
    head = nn.Linear(model.config.llm.hidden_size, len(world.SHAPES))
    params = [p for n, p in model.named_parameters() if n.startswith(IMAGE_PATH)]
    opt = torch.optim.AdamW([*params, *head.parameters()], lr=cfg.lr, betas=(0.9, 0.95), weight_decay=0.0)
    test_images, test_labels = shape_batch(np.random.default_rng([seed, 99]), cfg.eval_scenes, image_size)
    rng, t0, history = np.random.default_rng([seed, 2]), time.perf_counter(), []
    was_training = model.training
    model.train()
    for step in range(cfg.steps + 1):
        if step % cfg.eval_every == 0 or step == cfg.steps:
            with torch.no_grad():
                right = (head(pooled_image_tokens(model, test_images)) > 0).float() == test_labels
            row = {"step": step, "per_label": round(float(right.float().mean()), 4),
                   "all_right": round(float(right.all(1).float().mean()), 4),
                   "seconds": round(time.perf_counter() - t0, 1)}
            history.append(row)
            log(f"ViT pre-training step {step}/{cfg.steps}: held-out per-shape accuracy {row['per_label']:.3f}, "
                f"scenes with all four right {row['all_right']:.3f} ({row['seconds']:.0f} s)")
        if step == cfg.steps:
            break
        images, labels = shape_batch(rng, cfg.batch_size, image_size)
        loss = nn.functional.binary_cross_entropy_with_logits(head(pooled_image_tokens(model, images)), labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.train(was_training)
    return history
