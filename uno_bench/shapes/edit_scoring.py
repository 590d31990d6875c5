"""Exact scoring of a shapes edit: did the instruction happen, and did everything else stay put?

The edited image is read by the analytic judges (`shapes.judges`: detector + colour classifier); each
detection above `threshold` becomes (shape, colour, centre). Against the edit's ground truth:

* preservation: every object the instruction leaves alone is found with its shape and colour, its
  centre within `tolerance` (fraction of the image side) of where it was; one detection serves one
  object (nearest first). Any detection left over once the untouched objects and the edit's own
  object are accounted for is an extra object, which also breaks preservation;
* instruction, by kind:
    recolor  the subject is found in its new colour at its place, and not in its old colour;
    add      exactly one new (shape, colour) object, anywhere;
    remove   no (shape, colour) object is left;
    move     the subject is found shifted in the instructed direction by at least `min_shift` (and
             drifting at most `tolerance` across it), with no copy left at its old place.
A detection that is the subject in its old state (old colour, old place) is the instruction's
failure, not an extra object. An image is correct when both hold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from PIL import Image

from uno_bench.shapes.edits import DIRECTIONS, SceneEdit
from uno_bench.shapes.world import COLORS, SHAPES, ShapeObject


@dataclass(frozen=True)
class EditScoringOptions:
    threshold: float = 0.3  # detections scoring at most this are ignored (GenEval's threshold)
    tolerance: float = 0.06  # centre distance that still counts as the same place (fraction of the side)
    min_shift: float = 0.1  # least displacement that counts as a move (fraction of the side)


@dataclass(frozen=True)
class Found:
    shape: str
    color: str
    cx: float  # centre, fraction of the image width
    cy: float

    def near(self, obj: ShapeObject, tolerance: float) -> bool:
        return ((self.cx - obj.cx) ** 2 + (self.cy - obj.cy) ** 2) ** 0.5 <= tolerance


@dataclass
class EditVerdict:
    instruction: bool
    preserved: bool
    untouched_found: int
    untouched_total: int
    extra: int
    reasons: list[str] = field(default_factory=list)
    found: list[Found] = field(default_factory=list)

    @property
    def correct(self) -> bool:
        return self.instruction and self.preserved

    def to_record(self) -> dict[str, Any]:
        return {"instruction_ok": self.instruction, "preserved": self.preserved, "correct": self.correct,
                "untouched_found": self.untouched_found, "untouched_total": self.untouched_total,
                "extra_objects": self.extra, "reason": "; ".join(self.reasons) or "correct",
                "detected": [asdict(f) for f in self.found]}


def read_objects(image: Image.Image, detector: Any, colors: Any, threshold: float) -> list[Found]:
    """Every confident detection as (shape, colour, centre as image fractions)."""
    width, height = image.size
    dets = [d for d in detector.detect(image, list(SHAPES)) if d.score > threshold]
    out = []
    for shape in SHAPES:
        mine = [d for d in dets if d.label == shape]
        if not mine:
            continue
        for det, color in zip(mine, colors.classify(image, mine, shape, list(COLORS)), strict=True):
            x1, y1, x2, y2 = det.box
            out.append(Found(shape, color, (x1 + x2) / 2 / width, (y1 + y2) / 2 / height))
    return out


def _take(pool: list[Found], obj: ShapeObject, tolerance: float, color: str | None = None) -> Found | None:
    """Remove and return the nearest detection of the object's shape and `color` (default its own) in reach."""
    want = color or obj.color
    hits = [f for f in pool if f.shape == obj.shape and f.color == want and f.near(obj, tolerance)]
    if not hits:
        return None
    best = min(hits, key=lambda f: (f.cx - obj.cx) ** 2 + (f.cy - obj.cy) ** 2)
    pool.remove(best)
    return best


def score_edit(edit: SceneEdit, found: list[Found], options: EditScoringOptions = EditScoringOptions()) -> EditVerdict:
    tol = options.tolerance
    pool = list(found)
    untouched = edit.untouched()
    missing = [o for o in untouched if _take(pool, o, tol) is None]
    reasons = [f"untouched {o.color} {o.shape} at ({o.cx:.2f}, {o.cy:.2f}) not found" for o in missing]
    ok, why = _instruction(edit, pool, options)
    if why:
        reasons.insert(0, why)
    if pool:
        reasons.append("extra object(s): " + ", ".join(f"{f.color} {f.shape}" for f in pool))
    return EditVerdict(ok, not missing and not pool, len(untouched) - len(missing), len(untouched), len(pool),
                       reasons, list(found))


def _instruction(edit: SceneEdit, pool: list[Found], options: EditScoringOptions) -> tuple[bool, str]:
    """Whether the instructed change is there; takes the detections it accounts for out of `pool`."""
    named = f"{edit.color} {edit.shape}"
    subject = edit.source.objects[edit.subject] if edit.subject is not None else None
    if edit.kind == "recolor":
        assert subject is not None and edit.new_color is not None
        new = _take(pool, subject, options.tolerance, edit.new_color)
        old = [f for f in pool if f.shape == edit.shape and f.color == edit.color]
        for f in old:
            pool.remove(f)
        if new is None:
            return False, f"no {edit.new_color} {edit.shape} where the {named} was"
        return (False, f"a {named} is still there") if old else (True, "")
    if edit.kind == "add":
        new = [f for f in pool if f.shape == edit.shape and f.color == edit.color]
        for f in new:
            pool.remove(f)
        return (True, "") if len(new) == 1 else (False, f"{len(new)} new {named}(s), expected 1")
    if edit.kind == "remove":
        left = [f for f in pool if f.shape == edit.shape and f.color == edit.color]
        for f in left:
            pool.remove(f)
        return (False, f"the {named} is still there") if left else (True, "")
    if edit.kind == "move":
        assert subject is not None and edit.direction is not None
        dx, dy = DIRECTIONS[edit.direction]
        stayed = _take(pool, subject, options.tolerance)
        copies = [f for f in pool if f.shape == edit.shape and f.color == edit.color]
        for f in copies:
            pool.remove(f)
        moved = [f for f in copies if _moved(f, subject, dx, dy, options)]
        if stayed is not None:
            return False, f"the {named} did not move" + (" (a copy moved)" if moved else "")
        if len(moved) != 1 or len(copies) != 1:
            return False, f"no single {named} moved {edit.direction} by at least {options.min_shift}"
        return True, ""
    raise ValueError(f"unknown edit kind {edit.kind!r}")


def _moved(f: Found, obj: ShapeObject, dx: int, dy: int, options: EditScoringOptions) -> bool:
    along = (f.cx - obj.cx) * dx + (f.cy - obj.cy) * dy
    across = abs((f.cx - obj.cx) * dy - (f.cy - obj.cy) * dx)
    return along >= options.min_shift and across <= options.tolerance
