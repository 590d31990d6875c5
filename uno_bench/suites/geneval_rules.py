"""GenEval's scoring rules (djghosh13/geneval `evaluation/evaluate_images.py` and `summary_scores.py`).

Reimplemented rule for rule, quirks included, over any `Detector` + `ColorClassifier`:

* per class: keep detections with score > threshold (0.9 when the tag is `counting`), sort by
  confidence, keep at most `max_objects`, then an IoU suppression loop that the default
  `max_overlap=1.0` disables;
* include clauses (AND): the top-`count` detections of the class must exist; a colour clause
  classifies exactly those and needs all of them to have the colour; a position clause needs
  every one of them in the relation to every instance kept by the referenced earlier clause,
  and fails outright if that clause failed;
* exclude clauses (OR): fail when the class keeps >= `count` detections;
* one failure message per failed clause, worded as the official script words them, joined by
  newlines.

Numbers as the official code has them: mmdet hands it float32 arrays, so scores are compared with
the thresholds in float32 (`float32(score) > float32(0.3)`: a score equal to float32(0.3) is
dropped), and the position rule runs on float32 boxes (its `dx > 0.5` can flip between float32 and
float64). Ties in confidence are ordered as `np.argsort(scores)[::-1]` orders them in GenEval's
numpy (`legacy_argsort`): of two equally scored detections, the later-listed one comes first, so
it is the one a colour or position clause looks at.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from uno_bench.errors import UnoError
from uno_bench.judges.base import (
    GENEVAL_CROP_BGCOLOR,
    ColorClassifier,
    Detection,
    Detector,
    UnscorableError,
)
from uno_bench.suites.legacy_argsort import legacy_argsort

COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")
RELATIONS = ("left of", "right of", "above", "below")
TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")


class GenEvalMetadataError(UnscorableError):
    """A metadata record the rules cannot judge (unknown class, colour, relation, bad index)."""


@dataclass(frozen=True)
class GenEvalOptions:
    """The official `--options` with their official defaults.

    `bgcolor` and `crop` steer the colour judge's cut-outs (see `judges.base.prepare_crop`):
    they are read when the colour judge is built, not by the rules themselves.
    """

    threshold: float = 0.3
    counting_threshold: float = 0.9
    max_objects: int = 16
    max_overlap: float = 1.0
    position_threshold: float = 0.1
    bgcolor: str = GENEVAL_CROP_BGCOLOR
    crop: bool = True

    @classmethod
    def from_strings(cls, options: Mapping[str, str] | Iterable[str]) -> GenEvalOptions:
        """Parse `key=value` strings (or a mapping) as the official `--options` flag does."""
        if not isinstance(options, Mapping):
            pairs = {}
            for opt in options:
                key, sep, value = opt.partition("=")
                if not sep:
                    raise UnoError(f"GenEval option '{opt}' is not of the form key=value")
                pairs[key] = value
            options = pairs
        known = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in options.items():
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                judge_note = (
                    " (clip_model and model choose judges, not rules)"
                    if key in ("clip_model", "model")
                    else ""
                )
                raise UnoError(f"unknown GenEval option '{key}'{hint}{judge_note}; known: {', '.join(known)}")
            try:
                if key == "crop":
                    values[key] = _parse_bool(raw)
                elif key == "max_objects":
                    values[key] = int(raw)
                elif key == "bgcolor":
                    values[key] = str(raw)
                else:
                    values[key] = float(raw)
            except ValueError as exc:
                raise UnoError(f"GenEval option {key}={raw!r}: {exc}") from None
        return cls(**values)


def _parse_bool(raw: str | bool) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise ValueError("expected 1 or 0")


@dataclass(frozen=True)
class GenEvalVerdict:
    correct: bool
    reason: str  # newline-joined, one message per failed clause; "" when correct
    details: dict[str, list[list[float]]] = field(default_factory=dict)  # class -> [x1, y1, x2, y2, score]


# ----------------------------------------------------------------------------------------- inputs


def read_class_names(path: str | Path) -> list[str]:
    """The detector vocabulary, one name per line, in class-index order (never sort it)."""
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def load_image(path: str | Path) -> Image.Image:
    """Open an image the way the official scorer does (EXIF orientation applied)."""
    with Image.open(path) as img:
        return ImageOps.exif_transpose(img).copy()


def validate_metadata(metadata: Mapping[str, Any], classes: Sequence[str]) -> None:
    """Raise GenEvalMetadataError when a record cannot be judged against this vocabulary."""
    vocabulary = set(classes)

    def check_class(name: Any, where: str) -> None:
        if name not in vocabulary:
            close = difflib.get_close_matches(str(name), list(classes), n=3, cutoff=0.6)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise GenEvalMetadataError(
                f"{where}: class {name!r} is not in the detector's vocabulary ({len(classes)} classes){hint}"
            )

    def check_count(value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise GenEvalMetadataError(f"{where}: count must be a positive integer, got {value!r}")

    if not isinstance(metadata.get("tag"), str):
        raise GenEvalMetadataError("metadata has no 'tag'")
    includes = metadata.get("include")
    if not isinstance(includes, list):
        raise GenEvalMetadataError("metadata has no 'include' list")
    for index, req in enumerate(includes):
        where = f"include[{index}]"
        check_class(req.get("class"), where)
        check_count(req.get("count"), where)
        if "color" in req and req["color"] not in COLORS:
            raise GenEvalMetadataError(f"{where}: colour {req['color']!r} is not one of {', '.join(COLORS)}")
        if "position" in req:
            pos = req["position"]
            if not (isinstance(pos, (list, tuple)) and len(pos) == 2):
                raise GenEvalMetadataError(f"{where}: position must be [relation, index], got {pos!r}")
            relation, target = pos
            if relation not in RELATIONS:
                raise GenEvalMetadataError(
                    f"{where}: relation {relation!r} is not one of {', '.join(RELATIONS)}"
                )
            if isinstance(target, bool) or not isinstance(target, int) or not 0 <= target < index:
                raise GenEvalMetadataError(
                    f"{where}: position target {target!r} must name an earlier include"
                )
    for index, req in enumerate(metadata.get("exclude", [])):
        check_class(req.get("class"), f"exclude[{index}]")
        check_count(req.get("count"), f"exclude[{index}]")


# ------------------------------------------------------------------------------------- geometry


def compute_iou(box_a: Sequence[float], box_b: Sequence[float]) -> float:
    """IoU with the official +1 pixel convention (only used when max_overlap < 1)."""

    def area(box: Sequence[float]) -> float:
        return max(box[2] - box[0] + 1, 0) * max(box[3] - box[1] + 1, 0)

    inter = area(
        [max(box_a[0], box_b[0]), max(box_a[1], box_b[1]), min(box_a[2], box_b[2]), min(box_a[3], box_b[3])]
    )
    union = area(box_a) + area(box_b) - inter
    return inter / union if union else 0.0


def relative_position(
    box_a: Sequence[float], box_b: Sequence[float], position_threshold: float = 0.1
) -> set[str]:
    """Relations of A to B: centre offset shrunk by a margin, compared to the unshrunk length.

    In float32 throughout, operation for operation as the official code (its boxes are float32
    rows of mmdet's output; Python-float constants do not widen a float32 array).
    """
    boxes = np.array([box_a[:4], box_b[:4]], dtype=np.float32).reshape(2, 2, 2)
    center_a, center_b = boxes.mean(axis=-2)
    dim_a, dim_b = np.abs(np.diff(boxes, axis=-2))[..., 0, :]
    offset = center_a - center_b
    shrunk = np.maximum(np.abs(offset) - np.float32(position_threshold) * (dim_a + dim_b), 0) * np.sign(offset)
    if np.all(np.abs(shrunk) < np.float32(1e-3)):
        return set()
    dx, dy = shrunk / np.linalg.norm(offset)
    relations = set()
    if dx < -0.5:
        relations.add("left of")
    if dx > 0.5:
        relations.add("right of")
    if dy < -0.5:
        relations.add("above")
    if dy > 0.5:
        relations.add("below")
    return relations


# ------------------------------------------------------------------------------------ filtering


def filter_detections(
    detections: Iterable[Detection],
    classes: Sequence[str],
    tag: str,
    options: GenEvalOptions = GenEvalOptions(),
) -> dict[str, list[Detection]]:
    """Per class (vocabulary order): threshold, sort by confidence, cap, optional IoU suppression."""
    threshold = np.float32(options.counting_threshold if tag == "counting" else options.threshold)
    by_class: dict[str, list[Detection]] = {name: [] for name in classes}
    for det in detections:
        if det.label in by_class:
            by_class[det.label].append(det)
    kept: dict[str, list[Detection]] = {}
    for name in classes:
        dets = by_class[name]
        scores = np.asarray([d.score for d in dets], dtype=np.float32)  # mmdet's dtype
        order = legacy_argsort(list(scores))[::-1]  # official: argsort()[::-1], ties reversed
        ranked = [dets[i] for i in order if scores[i] > threshold][: options.max_objects]
        chosen: list[Detection] = []
        while ranked:
            best = ranked.pop(0)
            chosen.append(best)
            if options.max_overlap != 1:
                ranked = [d for d in ranked if compute_iou(_f32(best.box), _f32(d.box)) < options.max_overlap]
        if chosen:
            kept[name] = chosen
    return kept


def _f32(values: Sequence[float]) -> list[np.float32]:
    return list(np.asarray(values, dtype=np.float32))


# -------------------------------------------------------------------------------------- verdict

ClassifyFn = Callable[[Sequence[Detection], str], list[str]]


def evaluate(
    metadata: Mapping[str, Any],
    kept: Mapping[str, list[Detection]],
    classify: ClassifyFn,
    position_threshold: float = 0.1,
) -> tuple[bool, str]:
    """Apply the include/exclude clauses to already-filtered detections."""
    correct = True
    reasons: list[str] = []
    matched_groups: list[list[Detection] | None] = []
    for req in metadata.get("include", []):
        name, count = req["class"], req["count"]
        matched = True
        found = kept.get(name, [])[:count]
        if len(found) < count:
            matched = False
            reasons.append(f"expected {name}>={count}, found {len(found)}")
        else:
            if "color" in req:
                colors = classify(found, name)
                if len(colors) != len(found):
                    raise ValueError(
                        f"colour judge returned {len(colors)} colours for {len(found)} instances"
                    )
                wanted = req["color"]
                if colors.count(wanted) < count:
                    matched = False
                    tally = ", ".join(f"{colors.count(c)} {c}" for c in COLORS if c in colors)
                    hits = colors.count(wanted)
                    reasons.append(f"expected {wanted} {name}>={count}, found {hits} {wanted}; and {tally}")
            if "position" in req and matched:
                relation, target = req["position"]
                targets = matched_groups[target]
                if targets is None:
                    matched = False
                    reasons.append(f"no target for {name} to be {relation}")
                else:
                    # Official: stop at the first failing pair, so one message per clause.
                    for obj in found:
                        for other in targets:
                            rels = relative_position(obj.box, other.box, position_threshold)
                            if relation not in rels:
                                matched = False
                                seen = " and ".join(r for r in RELATIONS if r in rels)
                                reasons.append(f"expected {name} {relation} target, found {seen} target")
                                break
                        if not matched:
                            break
        correct = correct and matched
        matched_groups.append(found if matched else None)
    for req in metadata.get("exclude", []):
        name, count = req["class"], req["count"]
        n = len(kept.get(name, []))
        if n >= count:
            correct = False
            reasons.append(f"expected {name}<{count}, found {n}")
    return correct, "\n".join(reasons)


def judge_image(
    metadata: Mapping[str, Any],
    image: Image.Image,
    detector: Detector,
    colors: ColorClassifier,
    options: GenEvalOptions = GenEvalOptions(),
    *,
    classes: Sequence[str],
) -> GenEvalVerdict:
    """Judge one image against one metadata record.

    `classes` is the detector vocabulary (GenEval: object_names.txt in file order). A record the
    rules cannot judge raises GenEvalMetadataError (an UnscorableError) for this sample only.
    """
    validate_metadata(metadata, classes)
    raw = detector.detect(image, list(classes))
    kept = filter_detections(raw, classes, metadata["tag"], options)

    def classify(found: Sequence[Detection], name: str) -> list[str]:
        return list(colors.classify(image, found, name, COLORS))

    correct, reason = evaluate(metadata, kept, classify, options.position_threshold)
    # Official `box.tolist()` of mmdet's float32 rows: the float32 values, as Python floats.
    details = {name: [[float(v) for v in _f32([*d.box, d.score])] for d in dets] for name, dets in kept.items()}
    return GenEvalVerdict(correct=correct, reason=reason, details=details)


# -------------------------------------------------------------------------------------- records


def result_record(filename: str, metadata: Mapping[str, Any], verdict: GenEvalVerdict) -> dict[str, Any]:
    """One results.jsonl row with the official fields, plus `scored` / `unscored_reason`."""
    return {
        "filename": filename,
        "tag": metadata["tag"],
        "prompt": metadata["prompt"],
        "correct": verdict.correct,
        "reason": verdict.reason,
        "metadata": json.dumps(dict(metadata)),
        "details": json.dumps(verdict.details),
        "scored": True,
        "unscored_reason": None,
    }


def unscored_record(filename: str, metadata: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """A sample that could not be judged: kept in the records, excluded from every mean."""
    return {
        "filename": filename,
        "tag": metadata.get("tag"),
        "prompt": metadata.get("prompt"),
        "correct": None,
        "reason": "",
        "metadata": json.dumps(dict(metadata)),
        "details": "{}",
        "scored": False,
        "unscored_reason": reason,
    }


def summarize(records: Iterable[Mapping[str, Any]], expected: int | None = None) -> dict[str, Any]:
    """summary_scores.py over the scored records, plus coverage.

    Accuracies are fractions. Prompts are grouped by the metadata string, as officially; a prompt
    is correct when any of its scored images is. Overall = unweighted mean of the accuracies of the
    tasks present, in order of first appearance. `expected` defaults to the number of records.
    """
    records = list(records)
    scored = [r for r in records if r.get("scored", True)]
    unscored = [r for r in records if not r.get("scored", True)]
    expected = len(records) if expected is None else expected

    prompts: dict[str, bool] = {}
    tasks: dict[str, list[int]] = {}  # tag -> [correct, n]
    for r in scored:
        key = r["metadata"] if isinstance(r["metadata"], str) else json.dumps(r["metadata"])
        ok = bool(r["correct"])
        prompts[key] = prompts.get(key, False) or ok
        tally = tasks.setdefault(r["tag"], [0, 0])
        tally[0] += ok
        tally[1] += 1

    def mean(values: Sequence[float]) -> float | None:
        return float(np.mean(values)) if len(values) else None

    task_table = {tag: {"accuracy": c / n, "correct": c, "n": n} for tag, (c, n) in tasks.items()}
    reasons: dict[str, int] = {}
    for r in unscored:
        reason = str(r.get("unscored_reason") or "unknown")
        reasons[reason] = reasons.get(reason, 0) + 1
    return {
        "total_images": len(scored),
        "total_prompts": len(prompts),
        "correct_images": mean([bool(r["correct"]) for r in scored]),
        "correct_prompts": mean(list(prompts.values())),
        "tasks": task_table,
        "overall": mean([t["accuracy"] for t in task_table.values()]),
        "scored": len(scored),
        "unscored": len(unscored),
        "unscored_reasons": reasons,
        "expected": expected,
        "coverage": len(scored) / expected if expected else None,
    }
