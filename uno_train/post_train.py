"""`uno-train post-train`: UNO (or its flow-matching-only control) on top of a BAGEL checkpoint.

The output folder is a plain BAGEL checkpoint (EMA weights in `ema.safetensors`); the metaqueries
and head live in `uno_extra.safetensors`, which the official loaders never read — inference is
plain BAGEL sampling, so `uno-bench --ckpt OUT` loads the result like any BAGEL checkpoint.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from uno_bench.models.bagel import checkpoint
from uno_bench.models.bagel.config import read_config
from uno_train import distributed, outdir
from uno_train.data import CaptionFolderSource, DataSource, ShapesSource
from uno_train.distributed import Dist
from uno_train.guard import guard_all_bad
from uno_train.outdir import file_sha256
from uno_train.plans import DropoutProbs
from uno_train.trainer import TrainConfig, Trainer
from uno_train.uno import UnoConfig, UnoObjective

DONE = "post_train.json"


def default_train_config(steps: int = 300, seed: int = 0) -> TrainConfig:
    """Post-training defaults (the paper states only 5K iterations [T]; the rest is ours)."""
    return TrainConfig(
        steps=steps, batch_size=32, lr=2e-4, min_lr=2e-5, warmup_steps=min(50, max(1, steps // 10)),
        schedule="cosine", eps=1e-8, ema_decay=0.99, timestep_shift=1.0,
        dropout=DropoutProbs(text=0.1, vit=0.0, vae=0.0), save_every=max(1, steps // 3), log_every=10, seed=seed,
    )


def make_source(data: str, image_size: int, seed: int) -> DataSource:
    """`shapes`: text-to-image shapes-world pairs with GenEval-template prompts and exact re-captions
    (a seed range disjoint from pre-training's); otherwise a JSONL of image-caption records."""
    if data == "shapes":
        return ShapesSource(seed=1000 + seed, image_size=image_size, t2i_fraction=1.0, prompt_fraction=1.0)
    return CaptionFolderSource(Path(data), seed=seed, t2i_fraction=1.0)


def run_config(ckpt: str, uno: UnoConfig, cfg: TrainConfig, data: str) -> dict:
    """Everything that decides a post-trained model; recorded in OUT and compared on every rerun."""
    config = {"base_checkpoint": checkpoint.checkpoint_identity(checkpoint.resolve_checkpoint(ckpt)),
              "uno": asdict(uno), "train": cfg.to_dict(), "data": data}
    if data != "shapes" and Path(data).is_file():
        config["data_sha256"] = file_sha256(Path(data))
    return config


def post_train(ckpt: str, out: Path, uno: UnoConfig, train: TrainConfig, data: str = "shapes",
               log=print, progress: bool = True, dist: Dist | None = None, launch: dict | None = None,
               attention: str = "auto") -> dict:
    """`dist`: the torchrun group (FSDP2 over its ranks, `distributed.init_from_env`) or None for one
    process on the CPU; `launch`: how this run was started (device, ranks, micro-batch, config file),
    recorded in OUT/uno_train.json without binding a rerun to it; `attention`: the packed-attention
    implementation (`Trainer`)."""
    out = Path(out)
    d = dist or Dist()
    cfg = replace(train, freeze=tuple(uno.freeze), weights={**train.weights, **uno.weights})
    base = read_config(checkpoint.resolve_checkpoint(ckpt))  # a wrong --ckpt or --data fails before OUT is touched
    image_size = min(base.vae_transform.max_size, 512)  # shapes images: the model's native size, capped
    source = guard_all_bad(make_source(data, image_size, train.seed))
    config = run_config(ckpt, uno, cfg, data)
    # Another configuration is refused before anything is written: every rank checks (so every rank stops
    # alike), the main one records.
    outdir.claim(out, "post-train", config, write=d.is_main, launch=launch)
    distributed.barrier(d)
    if (out / DONE).exists():
        log(f"{out} is already post-trained with these settings; reusing it")
        return json.loads((out / DONE).read_text())
    # fp32 weights (the master copy; precision=bf16 is autocast). Under FSDP every rank loads on the CPU and
    # fully_shard moves its shard to the device; alone, the model is loaded straight onto the device.
    loaded = checkpoint.load(ckpt, dtype=torch.float32, device="cpu" if d.active else d.device)
    # The regression head's initial weights come from torch's global RNG: seed it, so every rank (and every
    # rerun with this seed) starts from the same head — unseeded, FSDP ranks each trained a different one.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(train.seed)
        objective = UnoObjective(uno, loaded.model)
    with torch.no_grad():  # metaqueries + head live beside the (sharded) model: on this rank's device
        for p in objective.parameters().values():
            p.data = p.data.to(d.device)
    trainer = Trainer(loaded, source, cfg, out, objective=objective, dist=d, log=log if d.is_main else _quiet,
                      attention=attention)
    if trainer.latest_checkpoint() is not None:
        log(f"resuming from {trainer.latest_checkpoint()} (step {trainer.resume()})")
    t0 = time.perf_counter()
    history = trainer.run(progress=progress)
    result = {**config, "seconds": time.perf_counter() - t0, "final": history[-1] if history else None}
    if d.is_main:
        (out / DONE).write_text(json.dumps(result, indent=2) + "\n")
    distributed.barrier(d)
    return result


def _quiet(_: str) -> None:
    pass


def parse_proxies(text: str) -> tuple[str, ...]:
    """`captioning,regression` -> a tuple; `none` / `control` / '' -> the flow-matching-only control."""
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    if parts in ((), ("none",), ("control",)):
        return ()
    UnoConfig(proxies=parts)  # validates the names
    return parts
