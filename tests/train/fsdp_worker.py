"""Run a few training steps (alone or under torchrun) and print the loss curve as JSON."""

from __future__ import annotations

import json
import sys

import torch

from uno_bench.models.bagel import checkpoint
from uno_train import distributed
from uno_train.data import ShapesSource
from uno_train.trainer import TrainConfig, Trainer

if __name__ == "__main__":
    torch.set_num_threads(1)
    ckpt, out = sys.argv[1], sys.argv[2]
    d = distributed.init_from_env("cpu")
    loaded = checkpoint.load(ckpt, dtype=torch.float32)
    # eps 1e-8 rather than BAGEL's 1e-15: with a tiny eps, Adam turns gradient components that are zero up to
    # float summation order into +-lr steps, which would hide real disagreements in noise.
    cfg = TrainConfig(steps=4, batch_size=8, lr=3e-3, eps=1e-8, ema_decay=0.9, save_every=4, grad_accum=2)
    history = Trainer(loaded, ShapesSource(seed=3, image_size=32), cfg, out, dist=d, log=lambda s: None).run(progress=False)
    if d.is_main:
        print("LOSSES " + json.dumps([r["loss"] for r in history]))
        print("GRADNORMS " + json.dumps([r["grad_norm"] for r in history]))
