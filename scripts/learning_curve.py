#!/usr/bin/env python
"""Collect a training run's learning curve from per-checkpoint evaluations into one CSV.

Expects, in CURVE_DIR, for each checkpoint `step_NNNNNNN`: a `uno-bench run` dir `step_NNNNNNN-mini`
(`shapes-mini` with the suite's sampler; optional `step_NNNNNNN-mini-cfg1` with `--cfg-text-scale 1`)
and `step_NNNNNNN.captions.json` (`uno-train eval-captions --ckpt CHECKPOINT --n 100 --out ...`).
Missing pieces leave empty cells. Used for results/tiny-model/*learning_curve*.csv:

    python scripts/learning_curve.py runs/curve-v3 results/tiny-model/v3_learning_curve.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

TASKS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
WORDS = ("count", "color", "shape", "position")


def _mini(run_dir: Path, suffix: str) -> dict[str, float]:
    path = run_dir / "summary.json"
    if not path.exists():
        return {}
    results = json.loads(path.read_text())["results"]
    row = {f"shapes_mini_overall_{suffix}": round(results["overall"], 4)}
    row.update({f"shapes_mini_{t}_{suffix}": round(results["tasks"][t]["accuracy"], 4) for t in TASKS})
    return row


def _captions(path: Path) -> dict[str, float]:
    if not path.exists():
        return {}
    d = json.loads(path.read_text())
    row = {"caption_exact_match_n100": d["exact_match"]}
    row.update({f"caption_word_{w}_n100": round(d["word_accuracy"][w], 4) for w in WORDS})
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("curve_dir", type=Path)
    p.add_argument("out", type=Path)
    a = p.parse_args()
    steps = sorted({int(m.group(1)) for f in a.curve_dir.iterdir() if (m := re.match(r"step_(\d+)", f.name))})
    rows = []
    for step in steps:
        name = a.curve_dir / f"step_{step:07d}"
        rows.append({"step": step, **_mini(Path(f"{name}-mini"), "cfg4"), **_mini(Path(f"{name}-mini-cfg1"), "cfg1"),
                     **_captions(Path(f"{name}.captions.json"))})
    fields = ["step"] + sorted({k for r in rows for k in r} - {"step"})
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with a.out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} checkpoints -> {a.out}")


if __name__ == "__main__":
    main()
