#!/usr/bin/env python
"""Training-step cost: tokens/s and peak memory of one optimizer step, plain vs UNO.

For each model config (tiny = the embedded default's architecture; medium = 4x wider, 2x deeper;
large = hidden 1536, 12 layers, ~0.6B parameters, for a GPU), at --image-size (default 64),
on the same global batch of text-to-image examples from the shapes world:
  plain  - BAGEL's objective (flow matching; UNO's control arm),
  uno    - flow matching + caption CE + metaquery regression (UNO, both proxies),
timed alternately in this process (machine noise hits both), best of --repeats. Peak memory:
each (config, objective) in a child process, peak RSS above the RSS after setup (CPU) or
torch.cuda.max_memory_allocated (GPU).

    python scripts/bench_train.py [--configs tiny,medium] [--batch 32] [--steps 3] [--repeats 3] [--image-size 64]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

import torch

# (hidden, MLP, layers, q heads, kv heads) of the decoder; everything else is the tiny model's.
WIDTHS = {"medium": (512, 1536, 8, 8, 2), "large": (1536, 4096, 12, 12, 4)}


def with_image_size(cfg, size: int):
    """The tiny model's layout at another image side: 4x autoencoder, 2x2 latent patches, ViT patch 8."""
    from uno_bench.models.bagel.config import ImageTransformConfig

    return replace(cfg, vit=replace(cfg.vit, image_size=size), vae=replace(cfg.vae, resolution=size),
                   max_latent_size=size // 8, vit_max_num_patch_per_side=size // 8,
                   vae_transform=ImageTransformConfig(size, 32, 8), vit_transform=ImageTransformConfig(size, 32, 8))


def build(config_name: str, objective: str, batch: int, device: str, image_size: int = 64, source_mix: dict | None = None):
    """(Trainer, parameter count); `source_mix`: ShapesSource fractions (default: text-to-image only)."""
    from uno_bench.models.bagel.checkpoint import LoadedBagel
    from uno_bench.models.bagel.model import Bagel
    from uno_bench.models.bagel.tokenizer import word_level_tokenizer
    from uno_bench.models.bagel.vae import LatentCodec, build_autoencoder
    from uno_train.data import ShapesSource
    from uno_train.freeze import freeze
    from uno_train.post_train import default_train_config
    from uno_train.presets import tiny_shapes_config
    from uno_train.trainer import Trainer
    from uno_train.uno import UnoConfig, UnoObjective

    source = ShapesSource(seed=5, image_size=image_size, **(source_mix or dict(t2i_fraction=1.0, prompt_fraction=1.0)))
    tok = word_level_tokenizer(source.words())
    cfg = with_image_size(tiny_shapes_config(tok.vocab_size), image_size)
    if config_name in WIDTHS:
        hidden, mlp, layers, heads, kv = WIDTHS[config_name]
        cfg = replace(cfg, llm=replace(cfg.llm, hidden_size=hidden, intermediate_size=mlp, num_hidden_layers=layers,
                                       num_attention_heads=heads, num_key_value_heads=kv))
    torch.manual_seed(0)
    with torch.device(device):
        model = Bagel(cfg)
        model.init_weights(zero_velocity_head=False)
        ae = build_autoencoder(cfg.vae)
    loaded = LoadedBagel(model, LatentCodec(ae, cfg.vae, cfg.latent_patch_size), tok, cfg, None, {})
    uno = UnoConfig(proxies=("captioning", "regression") if objective == "uno" else ())
    freeze(model, list(uno.freeze))
    train = replace(default_train_config(10_000), batch_size=batch, save_every=10**9)
    obj = UnoObjective(uno, model)
    from uno_train.distributed import Dist

    trainer = Trainer(loaded, source, replace(train, freeze=tuple(uno.freeze), weights={**train.weights, **uno.weights}),
                      tempfile.mkdtemp(prefix="bench_train_"), objective=obj, dist=Dist(device=torch.device(device)),
                      log=lambda s: None)
    return trainer, sum(p.numel() for p in model.parameters())


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(args) -> None:
    torch.set_num_threads(args.threads)
    trainer, _ = build(args.config, args.child, args.batch, args.device, args.image_size)
    trainer.train_step()  # warm-up
    base = rss()
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for _ in range(args.steps):
        trainer.train_step()
    peak = torch.cuda.max_memory_allocated() if args.device.startswith("cuda") else \
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    print(json.dumps({"peak": max(0, peak)}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="tiny,medium")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--image-size", type=int, default=64, help="image side in pixels (multiple of 32)")
    p.add_argument("--child", choices=["plain", "uno"], help=argparse.SUPPRESS)
    p.add_argument("--config", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    torch.set_num_threads(args.threads)
    for name in args.configs.split(","):
        trainers = {k: build(name, k, args.batch, args.device, args.image_size) for k in ("plain", "uno")}
        times = {k: [] for k in trainers}
        tokens = {}
        for t, _ in trainers.values():
            t.train_step()  # warm-up
        for _ in range(args.repeats):
            for k, (t, _) in trainers.items():
                t0 = time.perf_counter()
                recs = [t.train_step() for _ in range(args.steps)]
                times[k].append((time.perf_counter() - t0) / args.steps)
                tokens[k] = sum(r["tokens"] for r in recs) / args.steps
        params = trainers["plain"][1]
        del trainers, t  # the children measure memory alone on the device
        gc.collect()
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
        mem = {}
        for k in ("plain", "uno"):
            cmd = [sys.executable, __file__, "--child", k, "--config", name, "--batch", str(args.batch),
                   "--steps", str(args.steps), "--threads", str(args.threads), "--device", args.device,
                   "--image-size", str(args.image_size)]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"memory child ({k}) failed:\n{done.stderr[-3000:]}")
            mem[k] = json.loads(done.stdout.splitlines()[-1])["peak"]
        print(f"{name} ({params / 1e6:.2f}M parameters), {args.device}, {args.threads} thread(s), batch {args.batch} "
              f"text-to-image examples of {args.image_size}x{args.image_size}, best of {args.repeats} x {args.steps} steps",
              flush=True)
        for k in ("plain", "uno"):
            best = min(times[k])
            print(f"  {k:5s}: {best * 1000:7.1f} ms/step  {tokens[k] / best:8.0f} tokens/s "
                  f"({tokens[k]:.0f} tokens/step)  peak memory {mem[k] / 2**20:7.1f} MiB")
        print(f"  UNO / plain step time: {min(times['uno']) / min(times['plain']):.2f}x   "
              f"memory: {mem['uno'] / max(1, mem['plain']):.2f}x")


if __name__ == "__main__":
    main()
