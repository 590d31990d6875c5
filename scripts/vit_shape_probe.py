#!/usr/bin/env python
"""How fast can an image encoder learn *shape* on the shapes world, given a direct, dense loss?

A diagnostic for the embedded model (docs/tiny_model.md, "What limits it"; the recipe's ViT phase,
uno_train/vit_pretrain.py, came from it): the encoder is trained
from scratch to say, for each of the world's four shapes, whether the scene holds one (multi-label,
scenes of 1-3 groups, a linear head on the max over the encoder's output tokens); held-out accuracy
is printed every 100 steps. `--arch vit` is the embedded model's SigLIP NaViT + connector at the
given width/depth/patch (BAGEL's architecture); `--arch cnn` a three-layer CNN, the calibration.

    python scripts/vit_shape_probe.py --arch vit --hidden 64 --layers 2 --patch 8 --steps 2400
    python scripts/vit_shape_probe.py --arch cnn --steps 600
    python scripts/vit_shape_probe.py --from tiny --lr 1e-3      # the shipped model's trained ViT
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from uno_train.vit_pretrain import IMAGE_PATH, pooled_image_tokens, shape_batch


class ViTEncoder(nn.Module):
    """The embedded model's ViT + connector (+ position embedding) at another width/depth/patch."""

    def __init__(self, hidden: int, layers: int, patch: int, start: str | None = None):
        super().__init__()
        if start is not None:  # a trained checkpoint's own ViT, at its own size
            from uno_bench.models.bagel import checkpoint

            loaded = checkpoint.load(start, dtype=torch.float32)
            self.config, self.model, self.width = loaded.config, loaded.model, loaded.config.llm.hidden_size
            return
        from uno_bench.models.bagel.config import ImageTransformConfig
        from uno_bench.models.bagel.model import Bagel
        from uno_train.presets import tiny_shapes_config

        base = tiny_shapes_config(vocab_size=64)
        vit = replace(base.vit, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                      num_attention_heads=max(2, hidden // 32), patch_size=patch)
        self.config = replace(base, vit=vit, vit_max_num_patch_per_side=64 // patch,
                              vit_transform=ImageTransformConfig(64, 32, patch))
        self.model = Bagel(self.config)
        self.model.init_weights()
        self.width = self.config.llm.hidden_size

    def parameters(self, recurse: bool = True):  # only what the image path uses is trained
        return (p for n, p in self.model.named_parameters()
                if n.startswith(IMAGE_PATH))

    def forward(self, images) -> torch.Tensor:
        return pooled_image_tokens(self.model, images)


class CNNEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.width = 64
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.GELU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.GELU(), nn.AdaptiveMaxPool2d(1), nn.Flatten())

    def forward(self, images) -> torch.Tensor:
        x = torch.stack([torch.tensor(np.asarray(im.convert("RGB")), dtype=torch.float32).permute(2, 0, 1)
                         for im in images]) / 127.5 - 1
        return self.net(x)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=("vit", "cnn"), default="vit")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--patch", type=int, default=8)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--save", type=Path, default=None, help="--arch vit: write the trained ViT + connector "
                   "here (safetensors; `scripts/tiny_recipe_experiment.py --init` starts a model from it)")
    p.add_argument("--from", dest="start", default=None, help="--arch vit: start from this checkpoint's ViT "
                   "(`tiny` or a training folder) instead of a random one")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    encoder = ViTEncoder(args.hidden, args.layers, args.patch, args.start) if args.arch == "vit" else CNNEncoder()
    head = nn.Linear(encoder.width, 4)
    opt = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=args.lr, betas=(0.9, 0.95),
                            weight_decay=0.0)
    test_images, test_labels = shape_batch(np.random.default_rng(99), 400, 64)
    rng, t0 = np.random.default_rng(0), time.perf_counter()
    name = "cnn" if args.arch == "cnn" else f"vit from {args.start}" if args.start else \
        f"vit h{args.hidden} L{args.layers} p{args.patch}"
    for step in range(args.steps + 1):
        if step % 100 == 0:
            with torch.no_grad():
                guess = (head(encoder(test_images)) > 0).float()
            right = guess == test_labels
            print(f"{name} lr {args.lr:g} step {step}: per-label {right.float().mean():.3f} "
                  f"all four right {right.all(1).float().mean():.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
        if step == args.steps:
            break
        images, labels = shape_batch(rng, args.batch_size, 64)
        loss = nn.functional.binary_cross_entropy_with_logits(head(encoder(images)), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if args.save is not None and args.arch == "vit":
        from safetensors.torch import save_file

        state = encoder.model.state_dict()
        keep = {n: t.contiguous() for n, t in state.items() if n.startswith(IMAGE_PATH)}
        save_file(keep, str(args.save))
        print(f"saved {len(keep)} tensors to {args.save}")


if __name__ == "__main__":
    main()
