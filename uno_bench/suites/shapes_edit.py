"""shapes-edit: instruction edits of rendered shapes scenes, scored exactly against the known answer.

Samples come from `uno_bench.shapes.edits.generate_edit_suite(n_per_kind, seed)` with the spec's
`[generator]` values (or from `--prompts-file`: JSON Lines of `SceneEdit.to_dict()` records, ids
given by line number). The model edits the source scene rendered at `[generator] image_size`; the
edited image is read by the analytic shapes judges and scored by `shapes.edit_scoring`: instruction
carried out, untouched objects preserved, correct = both.

Layout: `<root>/<5-digit id>.png` (the edit), plus `<id>_source.png` (the rendered source, for
looking at; the scorer uses the ground truth, never this file).
Judges: `shapes-analytic` (default), or DETECTOR+COLOURS as for GenEval (e.g. `replay`).
`--judge-option` keys threshold, tolerance and min_shift set the scoring rule (EditScoringOptions).
Aggregation: per kind the rate of correct edits (also instruction and preservation rates);
overall = unweighted mean over the kinds present (as GenEval averages its tasks).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges.replay import RECORD_KEY, recording_pair
from uno_bench.shapes.edit_scoring import EditScoringOptions, read_objects, score_edit
from uno_bench.shapes.edits import EDIT_KINDS, SceneEdit, generate_edit_suite
from uno_bench.suites.base import Sample, Suite

_OPTION_KEYS = {f.name for f in fields(EditScoringOptions)}


@dataclass(frozen=True)
class ShapesEditJudge:
    detector: Any
    colors: Any
    options: EditScoringOptions

    def identity(self) -> dict[str, Any]:
        return {"detector": self.detector.identity(), "colors": self.colors.identity(), "rules": asdict(self.options)}


@lru_cache(maxsize=256)
def _render(scene_json: str, size: int) -> Image.Image:
    from uno_bench.shapes.render import render
    from uno_bench.shapes.world import Scene

    return render(Scene.from_dict(json.loads(scene_json)), size)


class ShapesEditSuite(Suite):
    @property
    def image_size(self) -> int:
        return int(self.spec.generator.get("image_size", 64))

    def required_data(self, prompts_file: Path | None) -> list[str]:
        return []

    def load_samples(self, prompts_file: Path | None = None) -> list[Sample]:
        if prompts_file is not None:
            edits = []
            for number, line in enumerate(Path(prompts_file).read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    edits.append(SceneEdit.from_dict(json.loads(line)))
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise UnoError(f"{prompts_file}:{number}: not a shapes edit record ({exc})") from None
            pairs = [(f"{i:05d}", e) for i, e in enumerate(edits)]
        else:
            params = self.spec.generator
            pairs = [(it.prompt_id, it.edit) for it in
                     generate_edit_suite(int(params["n_per_kind"]), int(params.get("seed", 0)))]
        return [Sample(pid, e.instruction, e.kind, e.to_dict()) for pid, e in pairs]

    def image_relpath(self, sample: Sample, index: int) -> str:
        return f"{sample.id}.png" if index == 0 else f"{sample.id}_{index}.png"

    def source_images(self, sample: Sample) -> list[Image.Image]:
        return [_render(json.dumps(sample.metadata["source"], sort_keys=True), self.image_size).copy()]

    def assemble(self, sample: Sample, root: Path, relpaths: list[str]) -> None:
        from uno_bench.runs.atomic import write_png

        path = root / f"{sample.id}_source.png"
        if not path.exists():
            write_png(path, self.source_images(sample)[0])

    def load_judge(self, name: str, options: Mapping[str, str]) -> ShapesEditJudge:
        from uno_bench.judges.registry import load_role

        detector_name, sep, colors_name = name.partition("+")
        if not detector_name or (sep and not colors_name):
            raise UnoError(f"--judge {name!r}: expected DETECTOR+COLOURS (e.g. shapes-analytic) or one name")
        rule = {}
        for key in _OPTION_KEYS & set(options):
            try:
                rule[key] = float(options[key])
            except ValueError:
                raise UnoError(f"--judge-option {key}={options[key]!r} is not a number") from None
        rest = {k: v for k, v in options.items() if k not in _OPTION_KEYS}
        record = rest.pop(RECORD_KEY, None)
        detector, colors = recording_pair(load_role(detector_name, "detector", rest),
                                          load_role(colors_name or detector_name, "colors", rest), record)
        return ShapesEditJudge(detector, colors, EditScoringOptions(**rule))

    def judge(self, judge: ShapesEditJudge, sample: Sample, index: int, image: Image.Image,
              path: Path) -> dict[str, Any]:
        edit = SceneEdit.from_dict(sample.metadata)
        found = read_objects(image.convert("RGB"), judge.detector, judge.colors, judge.options.threshold)
        verdict = score_edit(edit, found, judge.options)
        return {"prompt": sample.prompt, "kind": edit.kind, "score": float(verdict.correct), **verdict.to_record()}

    def unscored_record(self, sample: Sample, relpath: str | None, reason: str) -> dict[str, Any]:
        return {"prompt": sample.prompt, "kind": sample.category}

    def summarize(self, records: list[dict[str, Any]], expected: int) -> dict[str, Any]:
        return summarize(records)

    def report_scoring(self) -> Any:
        from uno_bench.report.scoring import Scoring

        return Scoring(aggregate="category_means", score_fields=("correct",), category_fields=("kind",),
                       summary_categories=("categories",), summary_value_keys=("correct",))


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per kind: images judged and the rates of instruction / preservation / correct; overall = mean
    over kinds present of the correct rate (and the same macro mean of the other two rates)."""
    kinds: dict[str, dict[str, Any]] = {}
    for r in records:
        if not r.get("scored"):
            continue
        k = kinds.setdefault(r["kind"], {"n": 0, "instruction": 0, "preservation": 0, "correct": 0})
        k["n"] += 1
        k["instruction"] += bool(r["instruction_ok"])
        k["preservation"] += bool(r["preserved"])
        k["correct"] += bool(r["correct"])
    order = [k for k in EDIT_KINDS if k in kinds] + sorted(set(kinds) - set(EDIT_KINDS))
    table = {k: {"n": kinds[k]["n"], **{m: kinds[k][m] / kinds[k]["n"] for m in ("instruction", "preservation",
                                                                             "correct")}} for k in order}

    def macro(metric: str) -> float | None:
        return sum(v[metric] for v in table.values()) / len(table) if table else None

    return {
        "overall": macro("correct"),
        "overall_definition": "unweighted mean over the edit kinds present of the rate of correct edits "
                              "(instruction carried out and untouched objects preserved)",
        "instruction": macro("instruction"),
        "preservation": macro("preservation"),
        "categories": table,
        "kinds_present": len(table),
    }
