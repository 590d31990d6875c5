"""`uno-train ablate`: a control arm (flow matching only) and one arm per proxy set, same data,
steps and seeds; every arm evaluated with uno-bench; one table with deltas and confidence intervals.

Layout of OUT (default `results/<name>/`):
    arms.json                       every arm: proxies, UNO + train config, checkpoint, run dirs
    arms/<arm>-s<seed>/ckpt/        post-trained checkpoint (resumes arm by arm)
    arms/<arm>-s<seed>/runs/<suite> uno-bench run dirs (manifest, records, summary)
    table.md, table.csv             per-category scores, deltas vs control, CIs (report.html beside)
The CIs pool seeds and resample prompts (clustered bootstrap; docs/statistics.md).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from uno_bench.errors import UnoError
from uno_bench.report import Report, Run
from uno_train.post_train import post_train
from uno_train.trainer import TrainConfig
from uno_train.uno import UnoConfig

CONTROL = "control"


def arm_name(proxies: tuple[str, ...]) -> str:
    return CONTROL if not proxies else "+".join(proxies)


@dataclass
class Ablation:
    manifest: dict  # what arms.json holds
    runs: list[Run]  # every arm's evaluation, labelled by arm
    report: Report | None = None  # the tables' content, baseline = the control arm


def run_arms(ckpt: str, proxy_sets: list[tuple[str, ...]], suites: list[str], seeds: int, out: Path,
             train: TrainConfig, uno: UnoConfig = UnoConfig(), data: str = "shapes", eval_limit: int | None = None,
             device: str = "auto", log=print, sampler: dict | None = None, first_seed: int = 0,
             dist=None, launch: dict | None = None, attention: str = "auto") -> Ablation:
    """Train and evaluate every arm (reusing finished ones) and write arms.json; no tables. `dist`,
    `launch` and `attention` go to `post_train` (one process: the device to train on, how the run was
    started, the packed-attention implementation)."""
    from uno_bench.report import load_run
    from uno_bench.runs.pipeline import RunOptions, run_suite

    out = Path(out)
    arms = [()] + [p for p in dict.fromkeys(proxy_sets) if p]
    if len(arms) < 2:
        raise UnoError("give at least one --proxy (e.g. --proxy captioning) to compare with the control")
    manifest: dict = {"base_checkpoint": ckpt, "suites": suites, "seeds": list(range(first_seed, first_seed + seeds)),
                      "data": data, "eval_limit": eval_limit, "sampler": sampler or {}, "arms": {}}
    runs = []
    for seed in range(first_seed, first_seed + seeds):
        for proxies in arms:
            name = arm_name(proxies)
            folder = out / "arms" / f"{name}-s{seed}"
            arm_cfg = replace(uno, proxies=proxies)
            log(f"arm {name}, seed {seed}: post-training")
            result = post_train(ckpt, folder / "ckpt", arm_cfg, replace(train, seed=seed), data, log=log, dist=dist,
                                launch=launch, attention=attention)
            # A finished arm is reused, never resumed: its training checkpoints (optimizer states, most of
            # the folder's size) are dead weight.
            shutil.rmtree(folder / "ckpt" / "checkpoints", ignore_errors=True)
            (folder / "ckpt" / "latest").unlink(missing_ok=True)  # it named a checkpoint that is gone
            entry = manifest["arms"].setdefault(name, {"uno": asdict(arm_cfg), "seeds": {}})
            entry["seeds"][str(seed)] = {"checkpoint": str(folder / "ckpt"), "post_train": result, "runs": {}}
            for suite in suites:
                log(f"arm {name}, seed {seed}: evaluating {suite}")
                run = run_suite(RunOptions(suite=suite, ckpt=str(folder / "ckpt"), run_dir=folder / "runs" / suite,
                                           limit=eval_limit, device=device, batch_size=16,
                                           sampler=dict(sampler or {})))
                entry["seeds"][str(seed)]["runs"][suite] = {"run_dir": str(run.run_dir), "summary": run.summary}
                runs.append(load_run(run.run_dir, name))
    out.mkdir(parents=True, exist_ok=True)
    (out / "arms.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    shutil.rmtree(out / "tmp", ignore_errors=True)
    return Ablation(manifest, runs)


def ablate(ckpt: str, proxy_sets: list[tuple[str, ...]], suites: list[str], seeds: int, out: Path,
           train: TrainConfig, uno: UnoConfig = UnoConfig(), data: str = "shapes", eval_limit: int | None = None,
           device: str = "auto", log=print, sampler: dict | None = None, first_seed: int = 0,
           dist=None, launch: dict | None = None, attention: str = "auto") -> Ablation:
    """`run_arms`, then the tables against the control arm (table.md, table.csv, report/report.html)."""
    from uno_bench.report import build_report, write_report
    from uno_bench.report.csvout import report_rows, to_csv
    from uno_bench.report.markdown import render_markdown
    from uno_bench.runs.progress import spinner

    result = run_arms(ckpt, proxy_sets, suites, seeds, out, train, uno, data, eval_limit, device, log, sampler,
                      first_seed, dist, launch, attention)
    out = Path(out)
    with spinner("tables and report"):
        report = build_report(result.runs, baseline=CONTROL)
        (out / "table.md").write_text(render_markdown(report))
        rows = report_rows(report)
        (out / "table.csv").write_text(to_csv(list(rows[0].keys()) if rows else [], rows))
        try:
            write_report(report, out / "report", {"html"})
        except Exception as exc:  # the HTML page is a convenience; the tables above are the result
            log(f"HTML report skipped: {exc}")
    result.report = report
    return result
