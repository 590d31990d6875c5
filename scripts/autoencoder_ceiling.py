"""How much of a checkpoint's `shapes` score its autoencoder alone allows.

Renders the suite's exact answers (the `shapes-oracle` model), sends every image through the
checkpoint's autoencoder (encode with the checkpoint's own setting, decode, 8-bit as the sampler
writes it), and scores the round trips like any model's images. A generator can do no better than
this ceiling, so a low model score above a high ceiling points at the generator, not the latent space.

    python scripts/autoencoder_ceiling.py --ckpt tiny --out runs/ae-ceiling
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from uno_bench.models.bagel import checkpoint
from uno_bench.models.bagel.vae import tensor_to_pil
from uno_bench.runs.pipeline import RunOptions, run_suite


def round_trip_folder(folder: Path, codec) -> int:
    """Replace every PNG under `folder` by its autoencoder round trip; returns how many."""
    files = sorted(folder.rglob("*.png"))
    with torch.no_grad():
        for f in files:
            pixels = np.array(Image.open(f).convert("RGB"), dtype=np.float32)
            x = torch.from_numpy(pixels).permute(2, 0, 1)[None] / 127.5 - 1.0
            latent = codec.encode(x.to(codec.device, codec.dtype), sample=codec.cfg.sample_posterior)
            tensor_to_pil(codec.decode(latent)[0].float()).save(f)
    return len(files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default="tiny")
    ap.add_argument("--suite", default="shapes")
    ap.add_argument("--out", type=Path, default=Path("runs/ae-ceiling"))
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()

    oracle = run_suite(RunOptions(suite=args.suite, model="shapes-oracle", run_dir=args.out / "oracle",
                                  limit=args.limit))
    images = args.out / "round-trip-images"
    if images.exists():
        shutil.rmtree(images)
    shutil.copytree(oracle.run_dir / "images", images)
    loaded = checkpoint.load(args.ckpt, dtype=torch.float32)
    n = round_trip_folder(images, loaded.codec)
    ceiling = run_suite(RunOptions(suite=args.suite, model="folder", ckpt=str(images),
                                   run_dir=args.out / "round-trip", limit=args.limit))
    exact = (oracle.summary or {}).get("results", {})
    trip = (ceiling.summary or {}).get("results", {})
    print(f"{n} images; oracle overall {exact.get('overall'):.4f}, after the autoencoder {trip.get('overall'):.4f}")
    for task, row in sorted(trip.get("tasks", {}).items()):
        print(f"  {task:14s} {row['accuracy']:.3f}  (n={row['n']})")


if __name__ == "__main__":
    main()
