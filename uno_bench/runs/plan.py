"""A run plan: which samples, how many images each, their seeds and paths, in one canonical order.

Everything downstream (sharding, records order, the manifest) derives from the plan, which depends
only on the suite data and the options, never on the number of ranks.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from uno_bench.errors import UnoError
from uno_bench.runs.seeds import SEED_POLICY, derive_seed
from uno_bench.suites.base import Sample, Suite, id_problem, samples_digest


@dataclass(frozen=True)
class Item:
    """One image of a run."""

    sample: Sample
    index: int
    relpath: str | None  # None when the sample is invalid (it is then recorded unscored)

    @property
    def key(self) -> str:
        return f"{self.sample.id}/{self.index}"


def natural_key(key: str) -> list[Any]:
    """Sort "9/1" before "10/0": digit runs compare as numbers. The order summaries aggregate in."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


def safe_relpath(rel: str) -> str | None:
    """The path if it stays inside the images root (relative, no '..', no empty parts), else None."""
    path = PurePosixPath(rel)
    if not rel or path.is_absolute() or "\\" in rel or any(part in ("..", "") for part in rel.split("/")):
        return None
    return str(path)


@dataclass
class Plan:
    suite: Suite
    samples: list[Sample]  # every sample after --limit, official order (invalid ones included)
    images_per_prompt: int
    base_seed: int = 0
    limit: int | None = None
    prompts_file: Path | None = None
    prompts_sha256: str | None = None
    invalid: dict[str, str] = field(default_factory=dict)  # sample id -> why it cannot be generated
    data: dict[str, str] = field(default_factory=dict)  # data key -> sha256 of the verified file used

    def items_of(self, sample: Sample) -> list[Item]:
        bad = sample.id in self.invalid
        return [
            Item(sample, k, None if bad else self.suite.image_relpath(sample, k))
            for k in range(self.images_per_prompt)
        ]

    def items(self) -> list[Item]:
        return [item for sample in self.samples for item in self.items_of(sample)]

    def seed(self, item: Item) -> int:
        return derive_seed(self.suite.name, item.sample.id, item.index, self.base_seed)

    def manifest_section(self) -> dict[str, Any]:
        spec = self.suite.spec
        return {
            "name": spec.name,
            "version": spec.version,
            "spec_content_sha256": spec.content_sha256,
            "data": self.data,
            "prompts_file": None
            if self.prompts_file is None
            else {"path": str(self.prompts_file.resolve()), "sha256": self.prompts_sha256},
            "limit": self.limit,
            "images_per_prompt": self.images_per_prompt,
            "samples": len(self.samples),
            "samples_sha256": samples_digest(self.samples),
            "invalid_samples": self.invalid,
            "seed_policy": SEED_POLICY,
            "base_seed": self.base_seed,
        }


def make_plan(
    suite: Suite,
    limit: int | None = None,
    images_per_prompt: int | None = None,
    prompts_file: str | Path | None = None,
    base_seed: int = 0,
) -> Plan:
    if limit is not None and limit < 1:
        raise UnoError(f"--limit must be at least 1, got {limit}")
    ipp = suite.spec.images_per_prompt if images_per_prompt is None else images_per_prompt
    if ipp < 1:
        raise UnoError(f"--images-per-prompt must be at least 1, got {ipp}")
    path = None if prompts_file is None else Path(prompts_file)
    sha = None
    if path is not None:
        if not path.is_file():
            raise UnoError(f"prompts file {path} does not exist")
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
    # Verify every data file the run needs now, not after hours of generation.
    data = {key: str(suite.data_status(key).sha256) for key in suite.required_data(path)}
    samples = suite.load_samples(path)
    if limit is not None:
        samples = samples[:limit]
    if not samples:
        raise UnoError(f"suite {suite.name}: no samples to run")
    seen: set[str] = set()
    invalid: dict[str, str] = {}
    for sample in samples:
        if sample.id in seen:
            raise UnoError(f"suite {suite.name}: sample id {sample.id!r} occurs twice; ids must be unique")
        seen.add(sample.id)
        problem = id_problem(sample.id)
        if problem is None:
            bad = [r for k in range(ipp) if safe_relpath(r := suite.image_relpath(sample, k)) is None]
            if bad:
                problem = f"image path {bad[0]!r} would leave the images folder"
        problem = problem or suite.sample_problem(sample)
        if problem:
            invalid[sample.id] = f"{sample.where}: {problem}" if sample.where else problem
    return Plan(suite, samples, ipp, base_seed, limit, path, sha, invalid, data)
