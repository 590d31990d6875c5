#!/usr/bin/env python
"""Packed attention: one call per layer (block-diagonal SDPA, FlexAttention) vs the per-sample loop.

On one realistic training batch (default: 32 examples of the tiny model's pre-training mix of the
shapes world, 64x64, and the same count in UNO's text-to-image layout), in one process, kinds timed
alternately (machine noise hits all), best of --repeats; prints each kind's time and its ratio to
the per-sample loop (< 1 = faster):

  step       the objective's forward + backward through the whole model (no optimizer step);
  attention  only the attention calls: building the kind's mask + one call per decoder layer on
             random q/k/v of the batch's shapes, forward + backward.

FlexAttention has no backward on the CPU (torch 2.14): there it is timed forward-only in the
attention row (uncompiled; --flex-compile adds the compiled kernel: ~1 min of compilation, and in
torch 2.14 inductor's C++ code for it fails to build once a second sequence length makes the shape
dynamic — such a failure is printed in place of a time).

    python scripts/bench_attention.py [--config tiny] [--batch 32] [--repeats 5] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import build  # noqa: E402  (scripts/ is not a package)

PRETRAIN_MIX = dict(t2i_fraction=0.6, prompt_fraction=0.5, edit_fraction=0.3)  # presets.tiny_shapes


def best_times(fns: dict[str, Callable[[], None]], repeats: int, sync: Callable[[], None]) -> dict[str, float]:
    for fn in fns.values():  # warm-up (allocator, kernels, compilation)
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            times[k].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


def step_fn(trainer, packed, kind: str) -> Callable[[], None]:
    def run() -> None:
        trainer.attention = kind
        trainer.model.zero_grad(set_to_none=True)
        terms = trainer.objective(trainer, packed)
        sum(t.mean() for t in terms.values()).backward()

    return run


def attention_fn(packed, config, device: torch.device, kind: str, grad: bool, compiled: bool = False):
    from uno_bench.models.bagel import attention as att

    batch, llm = packed.batch, config.llm
    length, layers = batch.sequence_length, llm.num_hidden_layers
    g = torch.Generator(device=device).manual_seed(0)
    qkv = [torch.randn(length, h, llm.head_dim, generator=g, device=device, requires_grad=grad)
           for h in (llm.num_attention_heads, llm.num_key_value_heads, llm.num_key_value_heads)]

    def make():
        if kind == "flex":
            return att.FlexPackedAttention(batch.split_visibility(device), compiled=compiled)
        masks = batch.attention_masks(device)
        return att.BlockDiagonalAttention(masks, device) if kind == "block-diagonal" else \
            att.PackedMaskAttention(batch.sample_lens, masks)

    def run() -> None:
        with torch.set_grad_enabled(grad):
            attend = make()
            out = sum(attend(i, *qkv).sum() for i in range(layers))
            if grad:
                out.backward()

    return run


def report(title: str, times: dict[str, float]) -> None:
    ref = times["per-sample"]
    cells = "   ".join(f"{k} {t * 1000:8.1f} ms ({t / ref:4.2f}x)" for k, t in times.items())
    print(f"  {title:34s} {cells}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="tiny", help="tiny | medium | large (scripts/bench_train.py)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--flex-compile", action="store_true", help="CPU: also time compiled flex (forward only)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="flex_attention called without torch.compile")  # known: unfused
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    train_kinds = ("per-sample", "block-diagonal", "flex") if cuda else ("per-sample", "block-diagonal")
    from uno_train.plans import pack

    print(f"{args.config} model, {args.device}, {args.threads} thread(s), torch {torch.__version__}, "
          f"batch {args.batch} at {args.image_size}x{args.image_size}, best of {args.repeats}; "
          "time (ratio to per-sample)", flush=True)
    for name, objective, mix in (("pre-training mix", "plain", PRETRAIN_MIX), ("UNO text-to-image", "uno", None)):
        trainer, _ = build(args.config, objective, args.batch, args.device, args.image_size, mix)
        cfg = trainer.cfg
        packed = pack(trainer.loaded, trainer._examples(0)[0], cfg.seed, cfg.timestep_shift, cfg.dropout)
        lens = packed.batch.sample_lens
        print(f" {name}: {len(lens)} samples, {sum(lens)} tokens (sample lengths {min(lens)}-{max(lens)})",
              flush=True)
        report("step (forward + backward)", best_times(
            {k: step_fn(trainer, packed, k) for k in train_kinds}, args.repeats, sync))
        config = trainer.loaded.config
        report("attention (forward + backward)", best_times(
            {k: attention_fn(packed, config, dev, k, True) for k in train_kinds}, args.repeats, sync))
        if not cuda:
            fns = {k: attention_fn(packed, config, dev, k, False) for k in ("per-sample", "block-diagonal", "flex")}
            if args.flex_compile:
                compiled = attention_fn(packed, config, dev, "flex", False, compiled=True)
                try:
                    compiled()
                    fns["flex compiled"] = compiled
                except Exception as exc:  # noqa: BLE001 - inductor's C++ build errors (see the docstring)
                    print(f"  flex compiled: failed ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})")
            report("attention (forward only, no grad)", best_times(fns, args.repeats, sync))


if __name__ == "__main__":
    main()
