"""GenEval: official prompts and layout, judged by `geneval_rules` over a detector + colour judge.

Layout (what the official scorer reads): `<root>/<5-digit prompt index>/metadata.jsonl` holding the
prompt's JSON record (written as the official generator writes it: `json.dump`, one object, no
newline) and `<root>/<index>/samples/<4-digit>.png`. The prompt index is the record's line number
(from 0) in the metadata file, also with `--prompts-file` (e.g. BAGEL's rewritten prompts, which
keep the same records in the same order).

Judges: `--judge DETECTOR+COLOURS` (official: mask2former+clip), or one name for both roles
(shapes-analytic, replay). `--judge-option` keys that are GenEval rule options (threshold,
counting_threshold, max_objects, max_overlap, position_threshold, bgcolor, crop) go to the rules;
bgcolor/crop also reach the colour judge, which makes the crops; `record=FILE` appends every detector
and colour answer to one replay recording (judges/replay.py), which `--judge replay --judge-option
recording=FILE` answers from later; other keys go to the judges.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges.replay import RECORD_KEY, recording_pair
from uno_bench.suites import geneval_rules as rules
from uno_bench.suites.base import Sample, Suite
from uno_bench.suites.data import json_lines

_RULE_KEYS = {f.name for f in fields(rules.GenEvalOptions)}
_CROP_KEYS = {"bgcolor", "crop"}


@dataclass(frozen=True)
class GenEvalJudge:
    detector: Any
    colors: Any
    options: rules.GenEvalOptions

    def identity(self) -> dict[str, Any]:
        return {"detector": self.detector.identity(), "colors": self.colors.identity(), "rules": asdict(self.options)}


def read_metadata_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) per non-empty line; a malformed line is a one-line error with its number."""
    rows = []
    for number, row in json_lines(path):
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
            raise UnoError(f"{path}:{number}: expected a GenEval record with a 'prompt' string")
        rows.append((number, row))
    return rows


class GenEvalSuite(Suite):
    def required_data(self, prompts_file: Path | None) -> list[str]:
        keys = super().required_data(prompts_file)
        return [k for k in keys if k != "metadata"] if prompts_file is not None else keys

    def load_samples(self, prompts_file: Path | None = None) -> list[Sample]:
        path = prompts_file or self.data_path("metadata")
        return [
            Sample(f"{i:05d}", row["prompt"], str(row.get("tag", "")), row, where=f"{path.name} line {number}")
            for i, (number, row) in enumerate(read_metadata_rows(path))
        ]

    def sample_problem(self, sample: Sample) -> str | None:
        """A record the rules cannot judge (unknown class, colour, relation) is refused before its
        images are drawn, not after."""
        try:
            rules.validate_metadata(sample.metadata, self.classes)
        except rules.GenEvalMetadataError as exc:
            return str(exc)
        return None

    @cached_property
    def classes(self) -> list[str]:
        """The detector vocabulary in class-index order (object_names.txt, never sorted)."""
        return rules.read_class_names(self.data_path("object_names"))

    def image_relpath(self, sample: Sample, index: int) -> str:
        return f"{sample.id}/samples/{index:04d}.png"

    def layout_files(self, sample: Sample) -> dict[str, str]:
        return {f"{sample.id}/metadata.jsonl": json.dumps(dict(sample.metadata))}

    def open_image(self, path: Path) -> Image.Image:
        return rules.load_image(path)  # EXIF orientation applied, as the official scorer does

    def load_judge(self, name: str, options: Mapping[str, str]) -> GenEvalJudge:
        from uno_bench.judges.registry import load_role

        detector_name, sep, colors_name = name.partition("+")
        if not detector_name or (sep and not colors_name):
            raise UnoError(f"--judge {name!r}: expected DETECTOR+COLOURS (e.g. mask2former+clip) or one name")
        colors_name = colors_name or detector_name
        rule_options = rules.GenEvalOptions.from_strings({k: v for k, v in options.items() if k in _RULE_KEYS})
        judge_options = {k: v for k, v in options.items() if k not in _RULE_KEYS}
        for key in judge_options:  # a misspelt rule option would otherwise reach the judge
            close = difflib.get_close_matches(key, sorted(_RULE_KEYS), n=1, cutoff=0.8)
            if close:
                raise UnoError(f"unknown GenEval option '{key}'; did you mean '{close[0]}'?")
        crop_options = {k: v for k, v in options.items() if k in _CROP_KEYS}
        record = judge_options.pop(RECORD_KEY, None)
        detector, colors = recording_pair(
            load_role(detector_name, "detector", judge_options),
            load_role(colors_name, "colors", {**judge_options, **crop_options}),
            record,
        )
        return GenEvalJudge(detector=detector, colors=colors, options=rule_options)

    def _folder_disagrees(self, sample: Sample, path: Path) -> str | None:
        """In a folder from another tool, the prompt folder's own metadata.jsonl must describe the
        same task (tag/include/exclude; the prompt text may be a rewrite), else the folders are
        not in this suite's order and every verdict would be against the wrong record."""
        meta_path = path.parent.parent / "metadata.jsonl"
        if not meta_path.is_file():
            return None
        try:
            theirs = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            return f"{meta_path.name} in the image folder is not valid JSON"
        fields_ = ("tag", "include", "exclude")
        if [theirs.get(k) for k in fields_] != [sample.metadata.get(k) for k in fields_]:
            return f"the image folder's metadata.jsonl is for another prompt ({theirs.get('prompt')!r})"
        return None

    def judge(self, judge: GenEvalJudge, sample: Sample, index: int, image: Image.Image, path: Path) -> dict[str, Any]:
        problem = self._folder_disagrees(sample, path)
        if problem:
            raise UnoError(problem)
        verdict = rules.judge_image(
            sample.metadata, image, judge.detector, judge.colors, judge.options, classes=self.classes
        )
        return rules.result_record(self.image_relpath(sample, index), sample.metadata, verdict)

    def unscored_record(self, sample: Sample, relpath: str | None, reason: str) -> dict[str, Any]:
        return rules.unscored_record(relpath or "", sample.metadata, reason)

    def summarize(self, records: list[dict[str, Any]], expected: int) -> dict[str, Any]:
        return rules.summarize(records, expected)

    def report_scoring(self) -> Any:
        """Per image: `correct` in task `tag`, the rules' `reason`; overall = mean of the task accuracies."""
        from uno_bench.report.scoring import Scoring

        return Scoring(aggregate="category_means", score_fields=("correct",), category_fields=("tag",),
                       summary_categories=("tasks",), summary_value_keys=("accuracy",))
