#!/usr/bin/env python
"""Write a random tiny BAGEL checkpoint in exactly the official layout.

    python scripts/make_tiny_checkpoint.py OUT_DIR [--config tiny|bagel-7b] [--seed 0] [--dtype fp32|bf16]
"""

from __future__ import annotations

import argparse

import torch

from uno_bench.models.bagel.random_init import make_random_checkpoint


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="folder to write (created if missing)")
    p.add_argument("--config", default="tiny", help="named config: tiny (default) or bagel-7b")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    args = p.parse_args()
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    path = make_random_checkpoint(args.out, args.config, args.seed, dtype=dtype)
    print(f"wrote a random {args.config} checkpoint to {path}")


if __name__ == "__main__":
    main()
