"""`uno-bench run / score / summarize`: evaluate a model on a suite, resumably, on 1 or many GPUs.

Thin wrappers over `uno_bench.runs.pipeline.run_suite`. Under `torchrun` each rank runs the same
command; samples are split across ranks and rank 0 merges and summarizes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from uno_bench.cli import app
from uno_bench.cli import sampler_flags as flags
from uno_bench.errors import UnoError
from uno_bench.runs.pipeline import STAGES, RunOptions, RunResult, run_suite

SUITE_HELP = "Suite name or alias (`uno-bench suites list`)."
_console = Console(stderr=True)


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values or []:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise UnoError(f"{flag} expects key=value, got {value!r}")
        out[key] = val
    return out


def _extra(values: list[str] | None) -> dict[str, Any]:
    """--sampler-extra key=value, the value read as JSON when it parses (true, 2, 0.5), else a string."""
    out: dict[str, Any] = {}
    for key, raw in _pairs(values, "--sampler-extra").items():
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _dist():
    from uno_bench.runs.distributed import from_env

    return from_env()


def _execute(opts: RunOptions) -> RunResult:
    dist = _dist()
    opts.show_progress = opts.show_progress and dist.is_main
    try:
        result = run_suite(opts, dist)
    finally:
        dist.close()
    if dist.is_main:
        _report(result, " (rank 0's share)" if dist.world_size > 1 else "")
        _table(result, opts)
    problem = partial_failure(result)
    if problem:  # every good image and record is kept; exit 1 so scripts notice (docs/faults.md)
        _console.print(f"[red]partial failure[/]: {problem}; every good result is kept; rerun the same command to "
                       "retry the rest", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    return result


def partial_failure(result: RunResult) -> str | None:
    """What a run could not produce (this rank's view), or None when nothing is missing."""
    parts = []
    if result.generate and result.generate.failed:
        parts.append(f"{len(result.generate.failed)} image(s) failed to generate "
                     f"(reasons: {result.run_dir}/generate_errors.rank-*.jsonl)")
    missing = 0
    if result.score and result.summary:  # `summarize` alone reports, it does not fail
        missing = result.summary["coverage"]["expected"] - result.summary["coverage"]["scored"]
    elif result.score:
        missing = result.score.unscored
    if missing:
        parts.append(f"{missing} image(s) unscored (reasons: unscored_reason in {result.run_dir}/records.jsonl)")
    elif not result.score and result.generate and result.generate.refused:  # generate stage alone
        parts.append(f"{result.generate.refused} image(s) not drawn: their rows were refused (reasons above)")
    return "; ".join(parts) or None


def _table(result: RunResult, opts: RunOptions) -> None:
    """The run's headline table, per category with bootstrap CIs, as `uno-bench report` would show it."""
    if not result.summary or not result.summary["coverage"]["scored"]:
        return
    from uno_bench.report import build_report, load_run
    from uno_bench.report.terminal import print_report
    from uno_bench.suites.registry import load_suite

    suite = load_suite(result.summary["suite"], opts.data_dir)
    print_report(build_report([load_run(result.run_dir, suite=suite)]))


def _report(result: RunResult, share: str) -> None:
    console = Console()
    if result.generate:
        g = result.generate
        console.print(f"generate: {g.written} written, {g.skipped} already there, {len(g.failed)} failed{share}")
    if result.score:
        s = result.score
        console.print(f"score: {s.scored} scored, {s.unscored} unscored, {s.skipped} already judged{share}")
    if result.summary:
        cov = result.summary["coverage"]
        headline = result.summary["results"].get("overall")
        shown = "n/a" if headline is None else f"{headline:.4f}"
        console.print(
            f"[bold]{result.summary['suite']}[/] overall = {shown}  "
            f"(coverage {cov['scored']}/{cov['expected']} images scored)"
        )
        for reason, count in cov["unscored_reasons"].items():
            console.print(f"  [yellow]unscored x{count}[/]: {reason}")
        judge = result.summary["results"].get("judge") or {}
        if judge.get("official") is False:  # judge-scored suites label a non-official judge everywhere
            console.print(f"  [yellow]non-official judge[/] ({', '.join(judge.get('models', []))}): {judge.get('note', '')}")
        from uno_bench.suites.registry import get_spec

        for ref in get_spec(result.summary["suite"]).references:
            extra = f" ({ref.prompts})" if ref.prompts else ""
            console.print(f"  published: {ref.model} {ref.metric} = {ref.value}{extra}  [{ref.source}]")
    console.print(f"run dir: {result.run_dir}")


# Options shared by `run` and `score` (Typer needs them spelled out per command).
def _plan_options() -> dict[str, Any]:
    return {
        "data_dir": typer.Option(
            None, "--data-dir",
            help="Folder laid out like shared/suites holding the official data files "
            "(default: $UNO_DATA_DIR, then the cache that `uno-bench suites fetch` fills).",
        ),
        "limit": typer.Option(None, "--limit", help="Use only the first N samples (prompts) in official order."),
        "images_per_prompt": typer.Option(
            None, "--images-per-prompt", help="Images per prompt (default: the suite's official count, GenEval 4)."
        ),
        "prompts_file": typer.Option(
            None, "--prompts-file",
            help="Replace the suite's prompt file with this one in the same format (e.g. BAGEL's rewritten GenEval "
            "prompts, evaluation_metadata_long.jsonl); its sha256 is recorded in the manifest.",
        ),
        "base_seed": typer.Option(
            None, "--base-seed",
            help="Base of the per-image seeds; each image's seed = hash(suite, prompt id, index, base seed), "
            "independent of batch size and GPU count (default 0).",
        ),
        "run_dir": typer.Option(
            None, "--run-dir",
            help="Run directory to create or resume (default: <out>/<suite>/<model>-<settings hash>). "
            "A run dir made with any different setting is refused (another uno commit alone: see "
            "--allow-code-change).",
        ),
        "allow_code_change": typer.Option(
            False, "--allow-code-change",
            help="Continue a run dir made with another uno git commit (e.g. after a git pull). Only the commit "
            "may differ, any other difference is still refused; the new commit is recorded in the manifest "
            "(environment.later_commits) and reports note it.",
        ),
        "out": typer.Option(Path("runs"), "--out", help="Parent folder for default run directories."),
        "judge": typer.Option(
            None, "--judge",
            help="Judge by name (default: the suite's official judge). GenEval-style suites take DETECTOR+COLOURS, "
            "e.g. mask2former+clip, or one name for both roles: shapes-analytic, replay.",
        ),
        "judge_option": typer.Option(
            None, "--judge-option", help="key=value for the judge or the scoring rules, e.g. recording=PATH (replay), "
            "threshold=0.3 (GenEval rules). Repeatable; recorded in the manifest.",
        ),
    }


_P = _plan_options()
_S = flags.options("suite")


@app.command("run", context_settings=flags.CONTEXT)
def run_command(
    suite: str = typer.Argument(..., help=SUITE_HELP),
    ckpt: str | None = typer.Option(
        None, "--ckpt", help="Checkpoint: a BAGEL checkpoint directory, a Hugging Face repo id OWNER/NAME[@REVISION] "
        "(e.g. ByteDance-Seed/BAGEL-7B-MoT), `tiny` (embedded CPU model), or the folder the chosen --model reads from."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Model adapter: bagel (default with --ckpt), folder, shapes-oracle."
    ),
    model_option: list[str] = typer.Option(None, "--model-option", help="key=value passed to the model loader. Repeatable."),
    device: str = typer.Option(
        "auto", "--device", help="Device for the model (auto: this rank's GPU under torchrun, else the model decides)."
    ),
    stage: list[str] = typer.Option(
        None, "--stage",
        help="Run only these stages (repeatable): generate, score, summarize. Default: all three, in order.",
    ),
    batch_size: int = typer.Option(1, "--batch-size", help="Images per model call; never changes any image."),
    num_timesteps: int | None = _S["num_timesteps"], timestep_shift: float | None = _S["timestep_shift"],
    cfg_text_scale: float | None = _S["cfg_text_scale"], cfg_img_scale: float | None = _S["cfg_img_scale"],
    cfg_interval: str | None = _S["cfg_interval"], cfg_renorm_type: str | None = _S["cfg_renorm_type"],
    cfg_renorm_min: float | None = _S["cfg_renorm_min"], width: int | None = _S["width"],
    height: int | None = _S["height"], size: str | None = flags.SIZE,
    sampler_extra: list[str] = typer.Option(
        None, "--sampler-extra", help="key=value for model-specific sampler settings, e.g. think=true. Repeatable."
    ),
    data_dir: Path | None = _P["data_dir"],
    limit: int | None = _P["limit"],
    images_per_prompt: int | None = _P["images_per_prompt"],
    prompts_file: Path | None = _P["prompts_file"],
    base_seed: int | None = _P["base_seed"],
    run_dir: Path | None = _P["run_dir"],
    out: Path = _P["out"],
    judge: str | None = _P["judge"],
    judge_option: list[str] = _P["judge_option"],
    allow_code_change: bool = _P["allow_code_change"],
) -> None:
    """Generate a suite's images with a model, judge them, and summarize (each stage resumes where it stopped)."""
    sampler: dict[str, Any] = flags.overrides(num_timesteps, timestep_shift, cfg_text_scale, cfg_img_scale,
                                              cfg_interval, cfg_renorm_type, cfg_renorm_min, width, height, size)
    if sampler_extra:
        sampler["extra"] = _extra(sampler_extra)
    _execute(RunOptions(
        suite=suite, model=model, ckpt=ckpt, model_options=_pairs(model_option, "--model-option"), device=device,
        run_dir=run_dir, out=out, data_dir=data_dir, limit=limit, images_per_prompt=images_per_prompt,
        prompts_file=prompts_file, base_seed=base_seed, batch_size=batch_size, sampler=sampler, judge=judge,
        judge_options=_pairs(judge_option, "--judge-option"), stages=tuple(stage) if stage else STAGES,
        allow_code_change=allow_code_change,
    ))


@app.command("score")
def score_command(
    suite: str = typer.Argument(..., help=SUITE_HELP),
    images: Path | None = typer.Option(
        None, "--images",
        help="Score this folder in the suite's official layout (made by any tool) instead of a run's own images; "
        "images are read in place, never copied or changed.",
    ),
    data_dir: Path | None = _P["data_dir"],
    limit: int | None = _P["limit"],
    images_per_prompt: int | None = _P["images_per_prompt"],
    prompts_file: Path | None = _P["prompts_file"],
    base_seed: int | None = _P["base_seed"],
    run_dir: Path | None = _P["run_dir"],
    out: Path = _P["out"],
    judge: str | None = _P["judge"],
    judge_option: list[str] = _P["judge_option"],
    allow_code_change: bool = _P["allow_code_change"],
) -> None:
    """Judge existing images (a run dir's, or --images DIR) into records.jsonl, then write summary.json."""
    _execute(RunOptions(
        suite=suite, run_dir=run_dir, out=out, data_dir=data_dir, limit=limit, images_per_prompt=images_per_prompt,
        prompts_file=prompts_file, base_seed=base_seed, judge=judge,
        judge_options=_pairs(judge_option, "--judge-option"), images=images, stages=("score", "summarize"),
        allow_code_change=allow_code_change,
    ))


@app.command("summarize")
def summarize_command(
    run_dir: Path = typer.Argument(..., help="A run directory (holding manifest.json and records.jsonl)."),
) -> None:
    """Recompute summary.json from a run's records with the suite's official aggregation (coverage included)."""
    from uno_bench.runs.manifest import load

    found = load(run_dir)
    if not found or "suite" not in found:
        raise UnoError(f"{run_dir} is not a uno run dir (no manifest.json with a suite)")
    _execute(RunOptions(suite=found["suite"]["name"], run_dir=run_dir, stages=("summarize",)))
