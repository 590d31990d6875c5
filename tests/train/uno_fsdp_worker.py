"""UNO post-training for a few steps (alone or under torchrun with FSDP2), printing the loss curve.

argv: checkpoint, output folder, precision (fp32 | bf16), activation checkpointing (0 | 1), grad_accum."""

from __future__ import annotations

import json
import sys
from dataclasses import replace

import torch

from uno_train import distributed
from uno_train.post_train import default_train_config, post_train
from uno_train.uno import UnoConfig

if __name__ == "__main__":
    torch.set_num_threads(1)
    ckpt, out, precision, ac, accum = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1", int(sys.argv[5])
    d = distributed.init_from_env("cpu")
    # eps 1e-8: see fsdp_worker.py
    train = replace(default_train_config(steps=3, seed=0), batch_size=4, lr=1e-3, eps=1e-8, ema_decay=0.9, log_every=1,
                    precision=precision, activation_checkpointing=ac, grad_accum=accum, save_every=3)
    result = post_train(ckpt, out, UnoConfig(), train, "shapes", log=lambda s: None, progress=False, dist=d)
    if d.is_main:
        hist = [json.loads(line) for line in open(f"{out}/metrics.jsonl")]
        print("LOSSES " + json.dumps([r["loss"] for r in hist]))
        print("TERMS " + json.dumps([{k: r[k] for k in ("mse", "uno_caption", "uno_regression") if k in r}
                                     for r in hist]))
