"""One evaluation from a notebook or the CLI: plan -> generate -> score -> summarize, resumable.

    from uno_bench.runs.pipeline import RunOptions, run_suite
    result = run_suite(RunOptions(suite="shapes", model="shapes-oracle", limit=8))
    result.summary["results"]["overall"]

The run dir defaults to `<out>/<suite>/<model>-<hash>`, the hash covering every setting that moves
images (suite data, prompts, limit, images per prompt, seeds, model identity, sampler settings), so
re-running the same command resumes and changing a setting starts a new dir. Under torchrun every
rank calls this; ranks share the plan and split the samples.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError
from uno_bench.models.settings import SamplerSettings
from uno_bench.runs import manifest
from uno_bench.runs.distributed import Dist
from uno_bench.runs.generate import GenerateReport, generate_images, generation_section
from uno_bench.runs.lock import hold
from uno_bench.runs.plan import Plan, make_plan
from uno_bench.runs.score import ScoreReport, score_images
from uno_bench.runs.summarize import summarize_run
from uno_bench.suites.registry import load_suite

STAGES = ("generate", "score", "summarize")


@dataclass
class RunOptions:
    suite: str
    model: str | None = None  # registry name; None + ckpt means bagel
    ckpt: str | None = None
    model_options: dict[str, str] = field(default_factory=dict)
    device: str = "auto"
    run_dir: Path | None = None
    out: Path = Path("runs")
    data_dir: Path | None = None
    limit: int | None = None
    images_per_prompt: int | None = None
    prompts_file: Path | None = None
    base_seed: int | None = None
    batch_size: int = 1
    sampler: dict[str, Any] = field(default_factory=dict)  # overrides of the suite's defaults
    judge: str | None = None
    judge_options: dict[str, str] = field(default_factory=dict)
    images: Path | None = None  # score an external folder in the official layout instead
    stages: tuple[str, ...] = STAGES
    show_progress: bool = True
    allow_code_change: bool = False  # continue a run dir made with another uno commit (manifest.reconcile)


@dataclass
class RunResult:
    run_dir: Path
    generate: GenerateReport | None = None
    score: ScoreReport | None = None
    summary: dict[str, Any] | None = None


def _fill_from_manifest(opts: RunOptions) -> None:
    """A stage run alone on an existing run dir reuses that run's plan options unless given."""
    if opts.run_dir is None:
        return
    found = manifest.load(Path(opts.run_dir))
    if not found or "suite" not in found:
        return
    info = found["suite"]
    if opts.limit is None:
        opts.limit = info.get("limit")
    if opts.images_per_prompt is None:
        opts.images_per_prompt = info.get("images_per_prompt")
    if opts.prompts_file is None and info.get("prompts_file"):
        opts.prompts_file = Path(info["prompts_file"]["path"])
    if opts.base_seed is None:
        opts.base_seed = info.get("base_seed")
    if opts.images is None and found.get("images", {}).get("external"):
        opts.images = Path(found["images"]["root"])
    if opts.judge is None and "scoring" in found:
        opts.judge = found["scoring"]["judge"]
        opts.judge_options = opts.judge_options or dict(found["scoring"]["options"])


def _short_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:10]


def sampler_settings(plan: Plan, overrides: dict[str, Any]) -> SamplerSettings:
    base = plan.suite.spec.generation
    extra = overrides.pop("extra", None)
    try:
        settings = base.with_overrides(**overrides)
    except TypeError as exc:
        raise UnoError(f"unknown sampler setting: {exc}") from None
    if extra:
        settings = settings.with_overrides(extra={**settings.extra, **extra})
    return settings


def run_suite(opts: RunOptions, dist: Dist | None = None) -> RunResult:
    """Run the chosen stages, holding this rank's lock on the run dir while they work (runs/lock.py)."""
    dist = dist or Dist()
    with ExitStack() as locks:
        return _run_suite(opts, dist, lambda run_dir: locks.enter_context(hold(run_dir, dist.rank)))


def _run_suite(opts: RunOptions, dist: Dist, lock: Callable[[Path], None]) -> RunResult:
    opts = replace(opts)  # filled in below; the caller's options stay as given
    unknown = set(opts.stages) - set(STAGES)
    if unknown:
        raise UnoError(f"unknown stage(s) {', '.join(sorted(unknown))}; stages are {', '.join(STAGES)}")
    _fill_from_manifest(opts)
    if opts.stages == ("summarize",):
        if opts.run_dir is None:
            raise UnoError("summarize needs --run-dir")
        lock(Path(opts.run_dir))
        return RunResult(Path(opts.run_dir), summary=summarize_run(Path(opts.run_dir)) if dist.is_main else None)

    suite = load_suite(opts.suite, opts.data_dir)
    plan = make_plan(suite, opts.limit, opts.images_per_prompt, opts.prompts_file, opts.base_seed or 0)
    result = RunResult(Path(opts.run_dir) if opts.run_dir else Path())

    if "generate" in opts.stages:
        if opts.images is not None:
            raise UnoError("--images scores an existing folder: run the score stage, not generate")
        from uno_bench.models.registry import load_model

        settings = sampler_settings(plan, dict(opts.sampler))
        device = dist.device if dist.backend == "nccl" else opts.device
        adapter = load_model(opts.model, opts.ckpt, settings, device=device, **opts.model_options)
        if opts.run_dir is None:
            section = generation_section(adapter, settings, opts.batch_size)
            key = _short_hash([plan.manifest_section(), section])
            result.run_dir = opts.out / suite.name / f"{adapter.name}-{key}"
        lock(result.run_dir)
        result.generate = generate_images(
            plan, adapter, settings, result.run_dir, dist, opts.batch_size, opts.show_progress,
            allow_code_change=opts.allow_code_change,
        )
        dist.barrier()
    elif opts.run_dir is None:
        if opts.images is None:
            raise UnoError("without the generate stage, say which run to score: --run-dir DIR or --images DIR")
        key = _short_hash([plan.manifest_section(), str(Path(opts.images).resolve()), opts.judge])
        result.run_dir = opts.out / suite.name / f"folder-{key}"

    if "score" in opts.stages:
        if "generate" not in opts.stages:
            lock(result.run_dir)
        result.score = score_images(
            plan, result.run_dir, opts.judge, opts.judge_options, opts.images, dist, opts.show_progress,
            allow_code_change=opts.allow_code_change,
        )
    if "summarize" in opts.stages and dist.is_main:
        result.summary = summarize_run(result.run_dir, suite)
    return result
