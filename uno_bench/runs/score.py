"""Stage 2, score: judge every image of the plan -> records.jsonl (one record per image).

Each rank judges its share into its own shard file; after a barrier rank 0 merges the shards into
records.jsonl (see runs/records.py). Images already judged are skipped; an image that could not be
judged (missing, unreadable, or a per-sample judge failure: any UnoError from the suite) gets an
unscored record with the reason (plus the error's `record_fields`, if it has any: e.g. the calls a
failing remote judge cost), is retried on the next pass, and never counts as wrong. Any other
exception is a bug or an environment failure and stops the run (it resumes where it was).

A judge with `concurrency` > 1 (a remote endpoint) has that many images judged at once by
threads; records are still appended in plan order by this thread.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError
from uno_bench.runs import manifest
from uno_bench.runs.distributed import Dist
from uno_bench.runs.generate import IMAGES, generation_errors
from uno_bench.runs.plan import Item, Plan
from uno_bench.runs.progress import progress
from uno_bench.runs.records import RecordLog, merge_shards, read_view, shard_path


@dataclass
class ScoreReport:
    total: int = 0  # images owned by this rank
    skipped: int = 0  # already judged
    scored: int = 0
    unscored: int = 0


def judge_identity_section(name: str, options: dict[str, str], judge: Any) -> dict[str, Any]:
    return {"judge": name, "options": dict(sorted(options.items())), "identity": judge.identity()}


def _record(plan: Plan, judge: Any, item: Item, root: Path, gen_errors: dict[str, str]) -> dict[str, Any]:
    suite, sample = plan.suite, item.sample
    envelope = {"key": item.key, "prompt_id": sample.id, "sample_index": item.index, "image": item.relpath}

    def unscored(reason: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**suite.unscored_record(sample, item.relpath, reason), **(extra or {}), **envelope,
                "scored": False, "unscored_reason": reason}

    if item.relpath is None:
        return unscored(f"invalid sample: {plan.invalid[sample.id]}")
    path = root / suite.judged_relpath(sample, item.index)
    if not path.is_file():
        why = gen_errors.get(item.key)
        return unscored(f"image missing ({why})" if why else "image missing")
    data = path.read_bytes()
    try:
        image = suite.open_image(path)
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "unreadable image"
        return unscored(f"unreadable image: {type(exc).__name__}: {exc}")
    try:
        fields = suite.judge(judge, sample, item.index, image, path)
    except UnoError as exc:
        return unscored(f"judge failed: {exc}", getattr(exc, "record_fields", None))
    # sha256 of the file's bytes: which file was judged (judges.base.image_sha256 hashes pixels instead).
    return {**fields, **envelope, "file_sha256": hashlib.sha256(data).hexdigest(), "scored": True,
            "unscored_reason": None}


def _in_order(fn: Callable[[Item], dict[str, Any]], items: list[Item], workers: int) -> Iterator[dict[str, Any]]:
    """fn over items, results in order; with workers > 1 up to 2 x workers run ahead in threads, so
    an exception stops the stage after at most that many more images (the rest are cancelled)."""
    if workers <= 1:
        yield from map(fn, items)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="score")
    pending: deque[Future[dict[str, Any]]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def score_images(
    plan: Plan,
    run_dir: Path,
    judge_name: str | None = None,
    judge_options: dict[str, str] | None = None,
    images_root: Path | None = None,
    dist: Dist | None = None,
    show_progress: bool = True,
    allow_code_change: bool = False,
) -> ScoreReport:
    """Judge this rank's share of the plan; rank 0 merges all shards into records.jsonl
    (allow_code_change: manifest.reconcile)."""
    dist = dist or Dist()
    options = dict(judge_options or {})
    name = judge_name or plan.suite.spec.default_judge
    judge = plan.suite.load_judge(name, options)
    external = images_root is not None
    root = Path(images_root).resolve() if external else run_dir / IMAGES
    if external and not root.is_dir():
        raise UnoError(f"--images {root} is not a folder")
    sections = {
        "suite": plan.manifest_section(),
        "images": {"root": str(root) if external else IMAGES, "external": external},
        "scoring": judge_identity_section(name, options, judge),
        "environment": manifest.environment(),
    }
    manifest.reconcile_ranks(run_dir, sections, dist, allow_code_change=allow_code_change, stage="score")

    done = {key for key, rec in read_view(run_dir).items() if rec.get("scored")}
    mine = [item for sample in dist.shard(plan.samples) for item in plan.items_of(sample)]
    todo = [item for item in mine if item.key not in done]
    report = ScoreReport(total=len(mine), skipped=len(mine) - len(todo))
    gen_errors = generation_errors(run_dir)
    workers = max(1, int(getattr(judge, "concurrency", 1)))
    with RecordLog(shard_path(run_dir, dist.rank)) as log, progress(
        f"score {plan.suite.name} ({name})", len(todo), dist.is_main and show_progress
    ) as advance:
        for record in _in_order(lambda item: _record(plan, judge, item, root, gen_errors), todo, workers):
            log.append(record)
            if record["scored"]:
                report.scored += 1
            else:
                report.unscored += 1
            advance(1)
    dist.barrier()
    if dist.is_main:
        merge_shards(run_dir, [item.key for item in plan.items()])
    dist.barrier()
    return report
