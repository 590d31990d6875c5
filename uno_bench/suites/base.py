"""The code half of a suite: samples from the data, the official image layout, judging, aggregation.

A Suite subclass implements six things (the spec supplies the rest):
  load_samples(prompts_file)     every sample in official order (the harness applies --limit)
  image_relpath(sample, index)   where image `index` of a sample lives in the official layout
  layout_files(sample)           extra per-sample files of that layout (GenEval: metadata.jsonl)
  load_judge(name, options)      a judge object with `identity()`, chosen by name
  judge(judge, sample, index, image, path)  -> record fields; raise UnoError when this image can't be judged
  unscored_record(sample, reason)     -> record fields for an image that was not judged
  summarize(records, expected)   the official aggregation over records (unscored ones excluded)
and may override `report_scoring()`: how reports read its records (per-image score, category, the
structure of the official overall; see uno_bench/report/scoring.py).
It may also override two layout hooks, for suites whose judged file is not the generated one (DPG-Bench
judges each generated image as a tile cropped from a 2x2 grid file):
  judged_relpath(sample, index)  the file the score stage opens for image `index` (default: image_relpath)
  assemble(sample, root, relpaths)  derive files from a sample's generated images (default: nothing)
Editing suites (spec `task = "edit"`) also implement
  source_images(sample)          the input image(s) the model edits: the generate stage calls
                                 `adapter.edit` with them instead of `adapter.generate`
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.suites import data as suite_data
from uno_bench.suites.spec import SuiteSpec

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@,-]*$")


@dataclass(frozen=True)
class Sample:
    id: str  # the official id (GenEval: 5-digit prompt index); a record key, often a path component
    prompt: str
    category: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict, compare=True)
    # Where the sample came from ("en.csv line 12"): named when its row is refused; not part of its identity.
    where: str = field(default="", compare=False)


def id_problem(sample_id: str) -> str | None:
    """Why an id cannot name files safely (path separators, '..', odd characters), or None."""
    if not isinstance(sample_id, str) or not sample_id:
        return f"empty or non-string id {sample_id!r}"
    if "/" in sample_id or "\\" in sample_id or ".." in sample_id:
        return f"id {sample_id!r} contains a path separator or '..'"
    if len(sample_id) > 200 or not _SAFE_ID.match(sample_id):
        return f"id {sample_id!r} has characters outside [A-Za-z0-9._+=@,-] or is too long"
    return None


def samples_digest(samples: list[Sample]) -> str:
    """sha256 over every sample's id, prompt, category and metadata: catches any data change."""
    digest = hashlib.sha256()
    for s in samples:
        row = [s.id, s.prompt, s.category, dict(s.metadata)]
        digest.update(json.dumps(row, sort_keys=True, ensure_ascii=False).encode() + b"\n")
    return digest.hexdigest()


class Suite(ABC):
    def __init__(self, spec: SuiteSpec, data_dir: str | Path | None = None):
        self.spec = spec
        self.data_dir = data_dir
        self._verified: dict[str, suite_data.FileStatus] = {}  # each file is hashed once per process

    @property
    def name(self) -> str:
        return self.spec.name

    def data_status(self, key: str) -> suite_data.FileStatus:
        """A verified official data file (refused with a clear message when missing or wrong)."""
        if key not in self._verified:
            self._verified[key] = suite_data.require(self.spec, key, self.data_dir)
        return self._verified[key]

    def data_path(self, key: str) -> Path:
        path = self.data_status(key).path
        assert path is not None
        return path

    def required_data(self, prompts_file: Path | None) -> list[str]:
        """Data keys a run needs; verified before anything is generated and recorded in the manifest."""
        return [df.key for df in self.spec.data if not df.optional]

    def open_image(self, path: Path) -> Image.Image:
        """Decode fully now, so a truncated file fails here rather than inside a judge."""
        with Image.open(path) as img:
            img.load()
            return img.copy()

    def layout_files(self, sample: Sample) -> dict[str, str]:
        return {}

    def sample_problem(self, sample: Sample) -> str | None:
        """Why a sample cannot be judged, found before anything is generated (GenEval: a class the
        detector does not know); the plan then skips it and records it unscored with this reason."""
        return None

    def source_images(self, sample: Sample) -> list[Image.Image]:
        """Editing suites: the sample's input image(s) in context order, the image to edit last.
        A UnoError here (e.g. a missing source file) fails that sample's images, not the run."""
        raise UnoError(f"suite {self.name} is not an editing suite (spec task {self.spec.task!r})")

    def judged_relpath(self, sample: Sample, index: int) -> str:
        """The file the score stage opens (and an external --images folder must hold) for image `index`."""
        return self.image_relpath(sample, index)

    def assemble(self, sample: Sample, root: Path, relpaths: list[str]) -> None:
        """Called by the generate stage once per sample after drawing, with the paths of all its
        images (some may be missing if they failed); writes derived layout files atomically."""
        return None

    @abstractmethod
    def load_samples(self, prompts_file: Path | None = None) -> list[Sample]: ...

    @abstractmethod
    def image_relpath(self, sample: Sample, index: int) -> str: ...

    @abstractmethod
    def load_judge(self, name: str, options: Mapping[str, str]) -> Any: ...

    @abstractmethod
    def judge(self, judge: Any, sample: Sample, index: int, image: Image.Image, path: Path) -> dict[str, Any]: ...

    @abstractmethod
    def unscored_record(self, sample: Sample, relpath: str | None, reason: str) -> dict[str, Any]: ...

    @abstractmethod
    def summarize(self, records: list[dict[str, Any]], expected: int) -> dict[str, Any]: ...

    def report_scoring(self) -> Any:
        """A `uno_bench.report.scoring.Scoring`; the default reads the common record fields."""
        from uno_bench.report.scoring import default_scoring

        return default_scoring(self.spec.categories)
