"""Run dirs as a report reads them, and arms: the runs of one checkpoint (one label) in one suite.

A run is read from its manifest and records (never from summary.json, which may be stale): the
official numbers are recomputed with the suite's own `summarize`, the per-image view with the
suite's `report_scoring()`. Runs that share a label in a suite form one arm (seed runs of one
checkpoint): tables show their mean +- sd and the bootstrap pools their images per prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError
from uno_bench.report.scoring import Official, SampleScore, Scoring
from uno_bench.runs import manifest as manifest_io
from uno_bench.runs.plan import natural_key
from uno_bench.runs.records import read_view
from uno_bench.runs.summarize import coverage
from uno_bench.suites.base import Suite


@dataclass
class Run:
    path: Path
    label: str
    manifest: dict[str, Any]
    records: list[dict[str, Any]]  # the records view, in natural key order
    suite: Suite
    scoring: Scoring

    @property
    def suite_name(self) -> str:
        return self.manifest["suite"]["name"]

    @property
    def expected(self) -> int:
        info = self.manifest["suite"]
        return int(info["samples"]) * int(info["images_per_prompt"])

    @property
    def base_seed(self) -> Any:
        return self.manifest["suite"].get("base_seed")

    @property
    def images_root(self) -> Path:
        images = self.manifest.get("images", {"root": "images", "external": False})
        root = Path(images.get("root", "images"))
        return root if images.get("external") else self.path / root

    @cached_property
    def coverage(self) -> dict[str, Any]:
        return coverage(self.records, self.expected)

    @cached_property
    def results(self) -> dict[str, Any]:
        return self.suite.summarize(self.records, self.expected)

    @cached_property
    def official(self) -> Official:
        return self.scoring.official(self.results)

    @cached_property
    def scores(self) -> list[SampleScore]:
        return [self.scoring.sample(r) for r in self.records]


def load_run(path: str | Path, label: str | None = None, suite: Suite | None = None) -> Run:
    """Read a run dir; `suite` defaults to the registered suite its manifest names."""
    path = Path(path)
    if not path.is_dir():
        raise UnoError(f"{path} is not a folder (expected a run dir with manifest.json and records.jsonl)")
    found = manifest_io.load(path)
    if found is None or "suite" not in found:
        raise UnoError(f"{path} has no manifest.json with a suite: not a uno run dir (or nothing ran yet)")
    view = read_view(path)
    if not view:
        raise UnoError(f"{path} has no judged records yet: run its score stage first")
    records = [view[k] for k in sorted(view, key=natural_key)]
    if suite is None:
        from uno_bench.suites.registry import load_suite

        suite = load_suite(found["suite"]["name"])
    return Run(path, label or path.name, found, records, suite, suite.report_scoring())


@dataclass
class Arm:
    """One table row: the runs of one label in one suite (several = seed runs)."""

    label: str
    runs: list[Run] = field(default_factory=list)

    @property
    def first(self) -> Run:
        return self.runs[0]

    @property
    def scores(self) -> list[SampleScore]:
        return [s for run in self.runs for s in run.scores]


def parse_run_arg(text: str) -> tuple[str | None, Path]:
    """`PATH` or `LABEL=PATH` (a path that exists as given is never split at '=')."""
    if Path(text).exists():
        return None, Path(text)
    label, sep, path = text.partition("=")
    if sep and label:
        return label, Path(path)
    return None, Path(text)


def parse_group_arg(text: str) -> tuple[str, list[str]]:
    """`NAME=RUN,RUN,...` -> (NAME, [RUN, ...])."""
    name, sep, runs = text.partition("=")
    items = [r for r in runs.split(",") if r]
    if not sep or not name or not items:
        raise UnoError(f"--group expects NAME=RUN,RUN,..., got {text!r}")
    return name, items


def group_arms(runs: list[Run]) -> dict[str, list[Arm]]:
    """suite name -> arms in first-appearance order of their labels."""
    out: dict[str, dict[str, Arm]] = {}
    for run in runs:
        arms = out.setdefault(run.suite_name, {})
        arms.setdefault(run.label, Arm(run.label)).runs.append(run)
    return {suite: list(arms.values()) for suite, arms in out.items()}
