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
from dataclasses import asdict, replace
from pathlib import Path

from uno_bench.errors import UnoError
from uno_train.post_train import post_train
from uno_train.trainer import TrainConfig
from uno_train.uno import UnoConfig

CONTROL = "control"


def arm_name(proxies: tuple[str, ...]) -> str:
    return CONTROL if not proxies else "+".join(proxies)


def ablate(ckpt: str, proxy_sets: list[tuple[str, ...]], suites: list[str], seeds: int, out: Path,
           train: TrainConfig, uno: UnoConfig = UnoConfig(), data: str = "shapes", eval_limit: int | None = None,
           device: str = "auto", log=print, sampler: dict | None = None, first_seed: int = 0) -> dict:
    from uno_bench.report import build_report, load_run
    from uno_bench.report.csvout import report_rows, to_csv
    from uno_bench.report.markdown import render_markdown
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
            result = post_train(ckpt, folder / "ckpt", arm_cfg, replace(train, seed=seed), data, log=log)
            entry = manifest["arms"].setdefault(name, {"uno": asdict(arm_cfg), "seeds": {}})
            entry["seeds"][str(seed)] = {"checkpoint": str(folder / "ckpt"), "post_train": result, "runs": {}}
            for suite in suites:
                log(f"arm {name}, seed {seed}: evaluating {suite}")
                run = run_suite(RunOptions(suite=suite, ckpt=str(folder / "ckpt"), run_dir=folder / "runs" / suite,
                                           limit=eval_limit, device=device, batch_size=16,
                                           sampler=dict(sampler or {}), show_progress=False))
                entry["seeds"][str(seed)]["runs"][suite] = {"run_dir": str(run.run_dir), "summary": run.summary}
                runs.append(load_run(run.run_dir, name))
    report = build_report(runs, baseline=CONTROL)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(render_markdown(report))
    rows = report_rows(report)
    (out / "table.csv").write_text(to_csv(list(rows[0].keys()) if rows else [], rows))
    (out / "arms.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    try:
        from uno_bench.report import write_report

        write_report(report, out / "report", {"html"})
    except Exception as exc:  # the HTML page is a convenience; the tables above are the result
        log(f"HTML report skipped: {exc}")
    shutil.rmtree(out / "tmp", ignore_errors=True)
    return manifest
