"""How precisely a suite separates two runs: the paired 95% CI half-width of the overall difference
between two runs of the *same* model with different image seeds (any gap smaller than this is noise).

Two ways, both through the report's own statistics (`uno_bench.report.stats.paired_bootstrap`,
prompts resampled within task strata):

    python scripts/suite_precision.py RUN_A RUN_B     # two runs, e.g. --base-seed 0 and --base-seed 1
    python scripts/suite_precision.py RUN             # one run split in halves by image index

The split estimate compares images {0, .., k/2-1} with {k/2, .., k-1} of each prompt: every image
has its own seed, so the halves are two runs of k/2 images per prompt. Two full runs average twice
as many images per side, so their half-width is about 1/sqrt(2) of the split one (printed too).
"""

from __future__ import annotations

import argparse
import math

from uno_bench.report import stats
from uno_bench.report.runs import load_run


def _design(run, scores):
    cats = tuple(run.suite.spec.categories)
    return stats.make_design(scores, cats, run.scoring.aggregate, run.scoring.scale)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="one run dir (split in halves) or two (compared)")
    ap.add_argument("--bootstrap", type=int, default=2000)
    args = ap.parse_args()
    if len(args.runs) == 2:
        a, b = load_run(args.runs[0]), load_run(args.runs[1])
        res = stats.paired_bootstrap(_design(a, a.scores), _design(b, b.scores), n_boot=args.bootstrap)
        label, factor = "two runs", 1.0
    elif len(args.runs) == 1:
        run = load_run(args.runs[0])
        per_prompt = max(s.index for s in run.scores) + 1
        half = per_prompt // 2
        first = [s for s in run.scores if s.index < half]
        second = [s for s in run.scores if half <= s.index < 2 * half]
        res = stats.paired_bootstrap(_design(run, first), _design(run, second), n_boot=args.bootstrap)
        label, factor = f"split halves ({half} vs {half} images per prompt)", 1 / math.sqrt(2)
    else:
        ap.error("give one or two run dirs")
    o = res.overall
    width = (o.high - o.low) / 2
    print(f"{label}: {res.n_prompts} prompts, {res.n_images} images; overall difference {o.value:+.4f} "
          f"[{o.low:+.4f}, {o.high:+.4f}], half-width {width:.4f}")
    if factor != 1.0:
        print(f"expected half-width for two full runs (x 1/sqrt(2)): {width * factor:.4f}")


if __name__ == "__main__":
    main()
