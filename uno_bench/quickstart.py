"""`uno-bench quickstart`: the whole mission, for real, on the embedded tiny model, on a CPU.

1. the `shapes-mini` suite (44 prompts x 4 images) on the embedded checkpoint (the baseline);
2. a short UNO ablation on it: a flow-matching-only control arm and a captioning arm, same data,
   steps and seed, each evaluated on `shapes-mini`;
3. one comparison report (Markdown, CSV, HTML) over the three runs, against the embedded model; its
   title names that baseline. (No second table against the control arm: two reports over the same
   runs with different baselines gave the same arm two different deltas.)
Everything lands in OUT and is reused when the command runs again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from uno_bench.report import Report

BASELINE = "baseline"
SUITE = "shapes-mini"  # fast enough for a first run; the full `shapes` suite is for results


@dataclass(frozen=True)
class QuickstartBudget:
    post_train_steps: int
    batch_size: int
    eval_limit: int | None  # prompts per evaluation (None: the whole suite)
    sampler_steps: int | None = None  # None: the suite's sampler defaults


BUDGETS = {
    "full": QuickstartBudget(post_train_steps=120, batch_size=16, eval_limit=None),
    "ci": QuickstartBudget(post_train_steps=3, batch_size=4, eval_limit=6, sampler_steps=6),
}


@dataclass
class QuickstartResult:
    seconds: float
    report: Report  # the object the files were written from (print it: the same numbers)
    files: list[Path] = field(default_factory=list)

    @property
    def html(self) -> Path | None:
        return next((p for p in self.files if p.suffix == ".html"), None)


def quickstart(out: Path, ckpt: str = "tiny", budget: str = "full", log=print) -> QuickstartResult:
    t0 = time.perf_counter()
    # Said before the imports below (torch and friends: seconds on a small CPU), so the screen is never blank.
    log(f"[1/3] {SUITE} suite on the {'embedded tiny' if ckpt == 'tiny' else ckpt} checkpoint")
    from uno_bench.report import build_report, load_run, write_report
    from uno_bench.runs.pipeline import RunOptions, run_suite
    from uno_bench.runs.progress import spinner
    from uno_train.ablate import run_arms
    from uno_train.post_train import default_train_config
    from uno_train.uno import UnoConfig

    b = BUDGETS[budget]
    sampler = {"num_timesteps": b.sampler_steps} if b.sampler_steps else {}
    out = Path(out)
    base = run_suite(RunOptions(suite=SUITE, ckpt=ckpt, run_dir=out / BASELINE, limit=b.eval_limit,
                                batch_size=16, sampler=dict(sampler)))
    log(f"[2/3] UNO ablation: control vs captioning, {b.post_train_steps} steps each")
    train = replace(default_train_config(b.post_train_steps, seed=0), batch_size=b.batch_size)
    arms = run_arms(ckpt, [("captioning",)], [SUITE], 1, out / "ablation", train, UnoConfig(), "shapes",
                    b.eval_limit, log=log, sampler=sampler)
    log("[3/3] report")
    with spinner("bootstrap CIs, tables, chart and image grid"):
        report = build_report([load_run(base.run_dir, BASELINE), *arms.runs], baseline=BASELINE)
        files = write_report(report, out / "report", ("md", "csv", "html"))
    return QuickstartResult(time.perf_counter() - t0, report, files)
