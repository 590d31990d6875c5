#!/usr/bin/env python
"""Evaluate one checkpoint on a suite under a grid of sampler settings; print a table.

    python scripts/sweep_sampler.py --ckpt tiny --suite shapes --out runs/sweep \\
        --grid timestep_shift=1,3 --grid cfg_text_scale=1,2,4 [--set num_timesteps=50]

Each cell is a normal `uno-bench run` directory (resumable); the table lists the suite's categories
and overall for every combination.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def main() -> None:
    from uno_bench.runs.pipeline import RunOptions, run_suite

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ckpt", required=True)
    p.add_argument("--suite", default="shapes")
    p.add_argument("--out", type=Path, default=Path("runs/sweep"))
    p.add_argument("--grid", action="append", default=[], help="name=v1,v2,... (a sampler setting)")
    p.add_argument("--set", action="append", default=[], help="name=value fixed for every cell")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args()
    fixed = {k: _value(v) for k, v in (s.split("=", 1) for s in args.set)}
    axes = [(k, [_value(x) for x in v.split(",")]) for k, v in (g.split("=", 1) for g in args.grid)]
    rows = []
    for combo in itertools.product(*[vals for _, vals in axes]):
        setting = {**fixed, **dict(zip([k for k, _ in axes], combo))}
        name = "_".join(f"{k}-{v}" for k, v in setting.items()) or "defaults"
        res = run_suite(RunOptions(suite=args.suite, ckpt=args.ckpt, run_dir=args.out / name, limit=args.limit,
                                   batch_size=args.batch_size, sampler=setting, show_progress=False))
        results = res.summary["results"]
        rows.append((setting, {k: v["accuracy"] for k, v in results.get("tasks", {}).items()}, results["overall"]))
    cats = list(rows[0][1]) if rows else []
    keys = [k for k, _ in axes]
    print("| " + " | ".join(keys + cats + ["overall"]) + " |")
    print("|" + "---|" * (len(keys) + len(cats) + 1))
    for setting, tasks, overall in rows:
        cells = [str(setting[k]) for k in keys] + [f"{tasks[c]:.3f}" for c in cats] + [f"**{overall:.3f}**"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
