"""Stage 1, generate: model adapter -> images in the suite's official layout under <run>/images/.

Text-to-image suites call `adapter.generate`; editing suites (spec `task = "edit"`) call
`adapter.edit` with the sample's source image(s) from `suite.source_images`, and accept whatever
size the model returns (BAGEL keeps the source's aspect ratio).

Resumable: an image whose PNG is complete is never redrawn; every file is written atomically, so a
kill leaves whole images or none (stale temp files are swept before a sample is touched again).
An image the model returns with the wrong size or type is not saved: it is logged to
`generate_errors.rank-<r>.jsonl` and later recorded unscored with that reason; the run goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.models import prompt_check
from uno_bench.models.adapter import EditRequest, GenerationRequest, ModelAdapter
from uno_bench.models.settings import SamplerSettings
from uno_bench.runs import manifest
from uno_bench.runs.atomic import WriteError, png_complete, sweep_temp, write_png, write_text
from uno_bench.runs.distributed import Dist
from uno_bench.runs.plan import Item, Plan, safe_relpath
from uno_bench.runs.progress import note, progress
from uno_bench.runs.records import RecordLog, read_lines

IMAGES = "images"
ERRORS_GLOB = "generate_errors.rank-*.jsonl"


@dataclass
class GenerateReport:
    total: int = 0  # images owned by this rank
    skipped: int = 0  # already complete on disk
    written: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0  # images of this rank's samples whose rows were refused (plan.invalid): never drawn


def generation_section(
    adapter: ModelAdapter, settings: SamplerSettings, batch_size: int
) -> dict[str, Any]:
    section = {"model": adapter.name, "identity": adapter.identity(), "sampler": settings.to_dict()}
    if settings.official_batch_global_renorm:
        # Only in this bit-parity mode does an image depend on its batch-mates.
        section["batch_size"] = batch_size
    return section


def generation_errors(run_dir: Path) -> dict[str, str]:
    """key -> why its image was not saved (latest error wins)."""
    errors: dict[str, str] = {}
    for path in sorted(run_dir.glob(ERRORS_GLOB)):
        for rec in read_lines(path):
            errors[rec["key"]] = rec["error"]
    return errors


def _image_problem(image: Any, request: GenerationRequest | EditRequest) -> str | None:
    if not isinstance(image, Image.Image):
        return f"model returned {type(image).__name__}, not a PIL image"
    if isinstance(request, EditRequest):  # an edit's size is the model's choice
        return None if image.width and image.height else "model returned an empty image"
    if image.size != (request.width, request.height):
        return f"model returned {image.width}x{image.height}, expected {request.width}x{request.height}"
    return None


def _prepare_sample(plan: Plan, items: list[Item], root: Path) -> None:
    """Sweep temp files left by a killed writer, then (re)write the layout's per-sample files."""
    files = plan.suite.layout_files(items[0].sample)
    folders = {(root / rel).parent for rel in files} | {(root / i.relpath).parent for i in items if i.relpath}
    for folder in folders:
        sweep_temp(folder)
    for rel, text in files.items():
        if safe_relpath(rel) is None:
            raise UnoError(f"suite {plan.suite.name}: layout file {rel!r} would leave the images folder")
        path = root / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            write_text(path, text)


class _FailureLog:
    """Per-rank log of images that were not saved, opened on the first failure."""

    def __init__(self, run_dir: Path, rank: int, report: GenerateReport):
        self.path = run_dir / f"generate_errors.rank-{rank:05d}.jsonl"
        self.report = report
        self._log: RecordLog | None = None

    def add(self, item: Item, error: str) -> None:
        note(f"[yellow]{item.key}: {error}; not saved[/]")
        self._log = self._log or RecordLog(self.path)
        self._log.append({"key": item.key, "error": error})
        self.report.failed.append({"key": item.key, "error": error})

    def close(self) -> None:
        if self._log is not None:
            self._log.close()


def _draw(
    plan: Plan, adapter: ModelAdapter, settings: SamplerSettings, batch: list[Item], root: Path,
    report: GenerateReport, failures: _FailureLog,
) -> None:
    """Generate and save one batch. A UnoError from the model is a per-request problem (e.g. a
    folder without that image): the batch is retried one image at a time so only the culprit fails."""
    requests: list[GenerationRequest] | list[EditRequest]
    try:
        if plan.suite.spec.task == "edit":
            requests = [_edit_request(plan, item) for item in batch]
            images = adapter.edit(requests)
        else:
            requests = [
                GenerationRequest(
                    prompt=item.sample.prompt, seed=plan.seed(item),
                    width=settings.width, height=settings.height, key=item.relpath or "",
                )
                for item in batch
            ]
            images = adapter.generate(requests)
    except WriteError:
        raise  # a full or read-only disk stops the run; it is not this image's fault
    except UnoError as exc:
        if len(batch) > 1:
            for item in batch:
                _draw(plan, adapter, settings, [item], root, report, failures)
        else:
            failures.add(batch[0], str(exc))
        return
    if len(images) != len(requests):
        raise UnoError(f"model {adapter.name} returned {len(images)} images for {len(requests)} requests")
    for item, request, image in zip(batch, requests, images, strict=True):
        problem = _image_problem(image, request)
        if problem is None:
            write_png(root / item.relpath, image)
            report.written += 1
        else:
            failures.add(item, problem)


def _edit_request(plan: Plan, item: Item) -> EditRequest:
    """The sample's source image(s) with its instruction; the same seed rule as text-to-image."""
    sources = plan.suite.source_images(item.sample)
    if not sources:
        raise UnoError(f"suite {plan.suite.name} gave no source image for sample {item.sample.id!r}")
    return EditRequest(image=sources[-1], instruction=item.sample.prompt, seed=plan.seed(item),
                       key=item.relpath or "", references=tuple(sources[:-1]))


def generate_images(
    plan: Plan,
    adapter: ModelAdapter,
    settings: SamplerSettings,
    run_dir: Path,
    dist: Dist | None = None,
    batch_size: int = 1,
    show_progress: bool = True,
    allow_code_change: bool = False,
) -> GenerateReport:
    """Draw every missing image of this rank's share of the plan (allow_code_change: manifest.reconcile)."""
    dist = dist or Dist()
    if batch_size < 1:
        raise UnoError(f"--batch-size must be at least 1, got {batch_size}")
    sections = {
        "suite": plan.manifest_section(),
        "generation": generation_section(adapter, settings, batch_size),
        "environment": manifest.environment(),
    }
    report_prompts = prompt_check.prompt_report(adapter, [s.prompt for s in plan.samples if s.id not in plan.invalid])
    if report_prompts is not None:
        sections["prompts"] = report_prompts  # what the model could not read whole, counted once per run
        warn = prompt_check.warning(report_prompts)
        if warn:
            note(f"[yellow]{warn}[/]", dist.is_main)
    manifest.reconcile_ranks(run_dir, sections, dist, allow_code_change=allow_code_change, stage="generate")

    root = run_dir / IMAGES
    report = GenerateReport()
    todo: list[Item] = []
    for sample in dist.shard(plan.samples):  # the same share as the score stage's
        if sample.id in plan.invalid:
            report.refused += plan.images_per_prompt
            continue
        items = plan.items_of(sample)
        _prepare_sample(plan, items, root)
        report.total += len(items)
        for item in items:
            if png_complete(root / item.relpath):
                report.skipped += 1
            else:
                todo.append(item)
    for sample_id, problem in plan.invalid.items():
        note(f"[yellow]skipping sample {sample_id!r}: {problem}[/]", dist.is_main)

    failures = _FailureLog(run_dir, dist.rank, report)
    with progress(f"generate {plan.suite.name}", len(todo), dist.is_main and show_progress) as advance:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            _draw(plan, adapter, settings, batch, root, report, failures)
            advance(len(batch))
    failures.close()
    for sample in dist.shard(plan.samples):  # derived layout files (DPG-Bench's grids), after drawing
        if sample.id not in plan.invalid:
            plan.suite.assemble(sample, root, [item.relpath for item in plan.items_of(sample)])
    return report
