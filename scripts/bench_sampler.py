#!/usr/bin/env python
"""Fast sampler vs the plain reference path, on identical inputs.

CPU (default): a random tiny checkpoint in the official layout, fp32. Prints images/s of both paths
(timed alternately in this process, so machine noise hits both), their ratio, peak memory (each path
in a child process: peak RSS above the RSS after loading), and the largest output difference.

    python scripts/bench_sampler.py [--tasks t2i,edit] [--images 8] [--size 64] [--steps 50] [--repeats 2]

GPU: `--full` builds the bagel-7b config with random bf16 weights on a CUDA device (no download),
1024x1024, 50 steps, T2I CFG defaults; prints seconds per image and peak GPU memory of the reference
path (batch 1) and of the fast path at each batch size, the speed-up, and how far the first image of
each batch is from the reference image of the same prompt and seed. Each row also gives the achieved
TFLOP/s — the FLOP count of `uno_bench/models/bagel/flops.py` (decoder matmuls + attention of every
active CFG branch-step; the count and what it leaves out are printed first) over the measured time —
and, on a CUDA device, its fraction of the bf16 peak (`--peak-tflops`, default from the device name:
H100/H200 989 TFLOP/s dense). The count is the work the image needs, so the reference path, which
recomputes its context every step, gets the same count.

`--compile MODES` (comma list of default, cudagraphs: the sampler's `compile` option) adds, after the
eager fast path at each batch size, the same images with the denoising step compiled, in the same
process: seconds per image, TFLOP/s, the speed-up over the eager fast path, and the largest pixel
difference from it. The compile happens in a warm-up call (8 steps, guided and unguided) whose time is
printed separately; the timed run then checks that it compiled nothing more. `--layers N` keeps the
config's width with N decoder layers (the FLOP count follows), `--skip-reference` drops the reference
path: both only to fit a short GPU session.

    python scripts/bench_sampler.py --full [--size 1024] [--batches 1,4] [--peak-tflops 989]
    python scripts/bench_sampler.py --full --batches 1 --compile default,cudagraphs
    python scripts/bench_sampler.py --full --config tiny --device cpu --size 64 --steps 6   # dry run
    python scripts/bench_sampler.py --full --config tiny --device cpu --size 64 --steps 6 --compile default
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

import numpy as np
import torch

EDITS = [
    "make it blue", "add a red circle to the left", "remove the circle", "turn the circle into a square",
    "make the background white", "add two small yellow triangles", "move the circle to the right",
    "make the circle bigger",
]
PROMPTS = [
    "a photo of a red circle", "two blue squares", "a green triangle above a yellow circle",
    "three purple circles", "a photo of a white square and a black triangle", "an orange circle",
    "a pink square right of a brown triangle", "four yellow triangles",
]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settings_for(size: int, steps: int, task: str = "t2i"):
    from uno_bench.models.settings import EDIT_DEFAULTS, SamplerSettings

    base = EDIT_DEFAULTS if task == "edit" else SamplerSettings()  # BAGEL's published defaults
    return base.with_overrides(num_timesteps=steps, width=size, height=size)


def source_images(n: int, size: int):
    from PIL import Image, ImageDraw

    images = []
    for i in range(n):
        im = Image.new("RGB", (size, size), (128, 128, 128))
        ImageDraw.Draw(im).ellipse([size // 4, size // 4, 3 * size // 4, 3 * size // 4], fill=(40 * i % 255, 80, 200))
        images.append(im)
    return images


def run_fast(loaded, prompts, seeds, settings, batch, task="t2i", **compile_options):
    from uno_bench.models.bagel.sampler import edit_images, generate_images

    out = []
    sources = source_images(len(prompts), settings.width) if task == "edit" else None
    for i in range(0, len(prompts), batch):
        if task == "edit":
            out += edit_images(loaded, sources[i:i + batch], prompts[i:i + batch], seeds[i:i + batch], settings,
                               **compile_options)
        else:
            out += generate_images(loaded, prompts[i:i + batch], seeds[i:i + batch], settings, **compile_options)
    return out


def run_reference(loaded, prompts, seeds, settings, task="t2i"):
    from uno_bench.models.bagel.reference import reference_edit, reference_generate

    if task == "edit":
        sources = source_images(len(prompts), settings.width)
        return [reference_edit(loaded, im, p, s, settings) for im, p, s in zip(sources, prompts, seeds)]
    return [reference_generate(loaded, p, s, settings) for p, s in zip(prompts, seeds)]


def child_memory(ckpt: str, path: str, args) -> int:
    """Peak RSS growth of one path, measured in a fresh child process."""
    cmd = [sys.executable, __file__, "--child", path, "--ckpt", ckpt, "--images", str(args.images),
           "--size", str(args.size), "--steps", str(args.steps), "--task", args.task]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return int(json.loads(out.strip().splitlines()[-1])["peak_growth"])


def child(args) -> None:
    from uno_bench.models.bagel import checkpoint

    torch.set_num_threads(args.threads)
    loaded = checkpoint.load(args.ckpt, dtype=torch.float32)
    prompts, seeds = (PROMPTS * 8)[: args.images], list(range(args.images))
    settings = settings_for(args.size, args.steps, args.task)
    run_fast(loaded, prompts[:1], seeds[:1], settings.with_overrides(num_timesteps=2), 1, args.task)  # warm-up
    base = rss_bytes()
    if args.child == "fast":
        run_fast(loaded, prompts, seeds, settings, args.images, args.task)
    else:
        run_reference(loaded, prompts, seeds, settings, args.task)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak_growth": max(0, peak - base)}))


def cpu_bench(args) -> None:
    from uno_bench.models.bagel import checkpoint
    from uno_bench.models.bagel.random_init import make_random_checkpoint

    torch.set_num_threads(args.threads)
    ckpt = make_random_checkpoint(tempfile.mkdtemp(prefix="bench_tiny_"), "tiny", seed=0)
    loaded = checkpoint.load(ckpt, dtype=torch.float32)
    for task in args.tasks.split(","):
        args.task = task
        bench_task(args, ckpt, loaded)


def bench_task(args, ckpt, loaded) -> None:
    prompts = (EDITS if args.task == "edit" else PROMPTS * 8)[: args.images]
    seeds = list(range(args.images))
    settings = settings_for(args.size, args.steps, args.task)
    run_fast(loaded, prompts[:1], seeds[:1], settings.with_overrides(num_timesteps=2), 1, args.task)  # warm-up
    times = {"fast": [], "reference": []}
    outputs = {}
    for _ in range(args.repeats):
        for name in ("fast", "reference"):
            t0 = time.perf_counter()
            if name == "fast":
                imgs = run_fast(loaded, prompts, seeds, settings, args.images, args.task)
            else:
                imgs = run_reference(loaded, prompts, seeds, settings, args.task)
            times[name].append(time.perf_counter() - t0)
            outputs[name] = imgs
    diff = max(int(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max())
               for a, b in zip(outputs["fast"], outputs["reference"]))
    best = {k: min(v) for k, v in times.items()}
    mem = {k: child_memory(str(ckpt), k, args) for k in ("fast", "reference")}
    what = "edits (BAGEL edit defaults)" if args.task == "edit" else "text-to-image (BAGEL T2I defaults)"
    print(f"{what}: tiny checkpoint, CPU fp32, {args.threads} thread(s), {args.images} images "
          f"{args.size}x{args.size}, {args.steps} steps, best of {args.repeats}")
    for k in ("fast", "reference"):
        print(f"  {k:9s}: {args.images / best[k]:7.2f} images/s   peak RSS growth {mem[k] / 2**20:7.1f} MiB")
    print(f"  speed-up fast/reference: {best['reference'] / best['fast']:.2f}x")
    print(f"  largest pixel difference between the paths: {diff} (8-bit levels)")


def image_flop_count(loaded, settings, prompt: str = PROMPTS[0]) -> int:
    """FLOPs of one text-to-image sample of `prompt` (every prompt of a batch is PROMPTS[0]'s length
    or close: the context is a few dozen tokens against thousands of image tokens)."""
    from uno_bench.models.bagel.flops import image_flops

    c = loaded.config
    n = (settings.height // c.latent_downsample) * (settings.width // c.latent_downsample)
    context = len(loaded.tokenizer.encode(prompt)) + 2  # bos ... eos, as prefill_text caches it
    return image_flops(c, settings, n, {"cond": context, "text_uncond": 0, "img_uncond": context},
                       img_uncond_shared=True)


def flops_statement(loaded, settings) -> str:
    """What the count is, in one line: the branch-steps it sums and the cost of one."""
    from uno_bench.models.bagel.flops import branch_step_flops
    from uno_bench.models.bagel.sampler import guidance_active, timestep_schedule

    c = loaded.config
    n = (settings.height // c.latent_downsample) * (settings.width // c.latent_downsample)
    times = timestep_schedule(settings.num_timesteps, settings.timestep_shift)[0].tolist()
    guided = sum(guidance_active(t, settings.cfg_interval) for t in times) if settings.cfg_text_scale > 1 else 0
    return (f"{len(times) + guided} branch-steps ({len(times)} steps, text-CFG branch on {guided}) x "
            f"~{branch_step_flops(c, n, 0):.3e} FLOP (decoder q/k/v/o + SwiGLU matmuls and attention at "
            f"{n} image tokens; norms, softmax, prefill, VAE decode not counted)")


def gpu_bench(args) -> None:
    """One process, one model: fast path at each batch size, the reference path once at batch 1 (its
    cost per image does not depend on batching); the first image of every batch is compared with the
    reference image of the same prompt and seed."""
    from uno_bench.models.bagel.checkpoint import LoadedBagel
    from uno_bench.models.bagel.config import named_config
    from uno_bench.models.bagel.flops import bf16_peak_tflops
    from uno_bench.models.bagel.model import Bagel
    from uno_bench.models.bagel.random_init import DEMO_WORDS
    from uno_bench.models.bagel.tokenizer import word_level_tokenizer
    from uno_bench.models.bagel.vae import LatentCodec, build_autoencoder

    dev = torch.device(args.device or "cuda")
    cuda = dev.type == "cuda"
    assert not cuda or torch.cuda.is_available(), "--full needs a CUDA device (or --device cpu for a dry run)"
    config = named_config(args.config)
    if args.layers:
        config = replace(config, llm=replace(config.llm, num_hidden_layers=args.layers))

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    torch.manual_seed(0)
    with torch.device(dev):
        model = Bagel(config).to(torch.bfloat16)
        model.init_weights(zero_velocity_head=False)
        ae = build_autoencoder(config.vae).to(torch.bfloat16)
    model.eval()
    loaded = LoadedBagel(model, LatentCodec(ae, config.vae, config.latent_patch_size),
                         word_level_tokenizer(DEMO_WORDS), config, None, {"random": True})
    settings = settings_for(args.size, args.steps)
    name = torch.cuda.get_device_name() if cuda else "cpu"
    layers = f" ({config.llm.num_hidden_layers} decoder layers)" if args.layers else ""
    print(f"{name}: {args.config} config{layers}, random bf16 weights, {args.size}x{args.size}, {args.steps} steps, "
          "T2I CFG defaults", flush=True)
    flops = image_flop_count(loaded, settings)
    peak = (args.peak_tflops or bf16_peak_tflops(name)) if cuda else None
    print(f"  FLOP count: {flops:.3e} per image = {flops_statement(loaded, settings)}; bf16 peak "
          + (f"{peak:g} TFLOP/s" if peak else "unknown (CPU, or give --peak-tflops)"), flush=True)

    def rate(seconds_per_image: float) -> str:
        tflops = flops / seconds_per_image / 1e12
        return f"{tflops:8.3g} TFLOP/s" + (f" ({tflops / peak:6.1%} of peak)" if peak else "")
    run_fast(loaded, PROMPTS[:1], [0], settings.with_overrides(num_timesteps=3), 1)  # CUDA/cuBLAS warm-up

    def timed(fn):
        sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        out = fn()
        sync()
        peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan")
        return out, time.perf_counter() - t0, peak

    ref_images, ref_s = None, None
    if not args.skip_reference:
        ref_images, ref_s, ref_peak = timed(lambda: run_reference(loaded, PROMPTS[:1], [0], settings))
        print(f"  reference  batch 1: {ref_s:7.2f} s/image  {rate(ref_s)}   peak GPU memory {ref_peak:6.1f} GiB",
              flush=True)
    modes = [m for m in (args.compile or "").split(",") if m]
    for batch in [int(b) for b in args.batches.split(",")]:
        prompts, seeds = (PROMPTS * 8)[:batch], list(range(batch))
        images, dt, mem = timed(lambda p=prompts, s=seeds, b=batch: run_fast(loaded, p, s, settings, b))
        versus = "" if ref_images is None else (
            f"   speed-up vs reference {ref_s / (dt / batch):5.2f}x   image 0 vs reference: largest pixel "
            f"difference {pixel_difference(images[0], ref_images[0])} (8-bit levels)")
        print(f"  fast       batch {batch}: {dt / batch:7.2f} s/image  {rate(dt / batch)}   peak GPU memory "
              f"{mem:6.1f} GiB{versus}", flush=True)
        for mode in modes:
            options = {"compile": mode, "compile_backend": args.compile_backend}
            warm_s = compile_warm_up(loaded, prompts, seeds, settings, batch, options, sync)
            graphs = compiled_graphs()
            out, cdt, cmem = timed(lambda p=prompts, s=seeds, b=batch, o=options: run_fast(loaded, p, s, settings, b,
                                                                                          **o))
            print(f"  {mode:10s} batch {batch}: {cdt / batch:7.2f} s/image  {rate(cdt / batch)}   peak GPU memory "
                  f"{cmem:6.1f} GiB   speed-up vs eager fast {dt / cdt:5.2f}x   compile warm-up {warm_s:6.1f} s"
                  f"   graphs compiled while timed {compiled_graphs() - graphs}   largest pixel difference from "
                  f"eager {max(pixel_difference(a, b) for a, b in zip(out, images))} (8-bit levels)", flush=True)


def pixel_difference(a, b) -> int:
    return int(np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16)).max())


def compiled_graphs() -> int:
    """Graphs dynamo has compiled in this process so far."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def compile_warm_up(loaded, prompts, seeds, settings, batch, options, sync) -> float:
    """Seconds of a short compiled call that meets every graph of the timed run: 8 steps, 4 guided and
    3 not (the two row counts of a T2I step), enough for CUDA graphs to warm up and record each."""
    warm = settings.with_overrides(num_timesteps=8, cfg_interval=(0.75, 1.0))
    sync()
    t0 = time.perf_counter()
    run_fast(loaded, prompts, seeds, warm, batch, **options)
    sync()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=8)
    p.add_argument("--size", type=int, default=None, help="image side (default 64 on CPU, 1024 with --full)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: robust to a busy machine)")
    p.add_argument("--full", action="store_true", help="bagel-7b size on a CUDA device")
    p.add_argument("--batches", default="1,4")
    p.add_argument("--config", default="bagel-7b", help="--full: model config (tiny for a CPU dry run)")
    p.add_argument("--device", default=None, help="--full: device (default cuda)")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="--full: the device's dense bf16 peak in TFLOP/s (default: from the CUDA device name, "
                   "H100/H200 989; none on CPU)")
    p.add_argument("--compile", default=None, help="--full: also time the compiled step, comma list of "
                   "default, cudagraphs (CUDA only)")
    p.add_argument("--compile-backend", default="inductor",
                   help="--full --compile: torch.compile backend (aot_eager: a CPU dry run without code generation)")
    p.add_argument("--layers", type=int, default=None, help="--full: decoder layers (default: the config's)")
    p.add_argument("--skip-reference", action="store_true", help="--full: do not time the reference path")
    p.add_argument("--tasks", default="t2i,edit", help="comma list of t2i, edit (CPU benchmark)")
    p.add_argument("--task", default="t2i", help=argparse.SUPPRESS)
    p.add_argument("--child", choices=["fast", "reference"], help=argparse.SUPPRESS)
    p.add_argument("--ckpt", help=argparse.SUPPRESS)
    args = p.parse_args()
    args.size = args.size or (1024 if args.full else 64)
    if args.child:
        child(args)
    elif args.full:
        gpu_bench(args)
    else:
        cpu_bench(args)


if __name__ == "__main__":
    main()
