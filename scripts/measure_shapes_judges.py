"""Measure the shapes world's analytic judges against ground truth, per GenEval task.

Positives (scenes drawn for the item's record) must be judged correct, negatives (scenes drawn for
a near miss: other shape, count +-1, other colour, other relation, swapped colours) must be judged
wrong. Levels (blur sigma in px of a 64-px image, scaled with size; noise sigma and colour jitter in
0-255 units):
  clean     no degradation
  moderate  blur 0.8, noise 8, colour jitter +-20, 3 stray specks
  heavy     blur 1.2, noise 12, colour jitter +-30, 6 stray specks

    python scripts/measure_shapes_judges.py --n-per-task 100 --scenes 3 --size 64
"""

from __future__ import annotations

import argparse
import time

from uno_bench.shapes.accuracy import LEVELS, measure
from uno_bench.suites.geneval_rules import TAGS


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n-per-task", type=int, default=100, help="benchmark items per task (capped by the task)"
    )
    parser.add_argument("--scenes", type=int, default=3, help="positive and negative scenes per item")
    parser.add_argument("--size", type=int, nargs="+", default=[64], help="image sizes in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--levels", nargs="+", default=[lvl.name for lvl in LEVELS], help="degradation levels"
    )
    args = parser.parse_args()

    levels = [lvl for lvl in LEVELS if lvl.name in args.levels]
    print(f"| size | level | {' | '.join(TAGS)} | all |")
    print("|---:|---|" + "---:|" * (len(TAGS) + 1))
    for size in args.size:
        for level in levels:
            start = time.time()
            table = measure(args.n_per_task, args.scenes, size, level, args.seed)
            cells = []
            pos = neg = pos_ok = neg_ok = 0
            for tag in TAGS:
                t = table[tag]
                cells.append(f"{100 * t.positive_rate:.1f} / {100 * t.negative_rate:.1f} (n={t.positives})")
                pos, neg, pos_ok, neg_ok = (
                    pos + t.positives,
                    neg + t.negatives,
                    pos_ok + t.positives_ok,
                    neg_ok + t.negatives_ok,
                )
            cells.append(f"{100 * pos_ok / pos:.1f} / {100 * neg_ok / neg:.1f} (n={pos})")
            print(f"| {size} | {level.name} | {' | '.join(cells)} |  <!-- {time.time() - start:.0f} s -->")
    print("\ncells: % positives judged correct / % negatives judged wrong (n = positives = negatives)")


if __name__ == "__main__":
    main()
