"""Scenes of flat coloured shapes on a grey background: specs, GenEval prompts, exact captions.

Objects are a shape class x one of GenEval's 10 colours x a size x a position. Coordinates are
fractions of the image (centre x of the width, centre y of the height, y down); an object's
`size` is the side of its bounding square as a fraction of the shorter image side, so a scene
renders at any resolution. Scenes are designed for square images.

The shape set, circle, square, triangle and cross, was chosen to stay separable when rendered
small (13 px at 64x64) and blurred: their fill ratios of the bounding box are far apart
(square 1.0, circle 0.79, cross 0.56, triangle 0.5), the cross is the only non-convex shape, and
the apex-up triangle is the only one whose mass sits off-centre vertically. Shapes that differ
only by rotation (a diamond next to a square or triangle) or by fine detail (stars, rings) blur
into each other at that size, so they are left out. `scripts/measure_shapes_judges.py` measures
the analytic judges on this set.

Benchmark items use GenEval's six task types, prompt templates and metadata format exactly
(`generate_suite`), so `suites.geneval_rules` judges them unchanged. Training uses
`sample_scene` + `caption`, with a small word-level `vocabulary()`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from uno_bench.suites.geneval_rules import COLORS, RELATIONS, TAGS, relative_position

SHAPES = ("circle", "square", "triangle", "cross")
PLURALS = {"circle": "circles", "square": "squares", "triangle": "triangles", "cross": "crosses"}

# Canonical colours: at least 39 CIELAB units apart from each other and 43 from the background.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (250, 140, 20),
    "yellow": (245, 225, 20),
    "green": (30, 160, 50),
    "blue": (20, 90, 230),
    "purple": (140, 35, 165),
    "pink": (250, 125, 195),
    "brown": (135, 75, 30),
    "black": (15, 15, 15),
    "white": (245, 245, 245),
}
BACKGROUND = (128, 128, 128)  # neutral mid grey: none of the 10 colours, far from black and white

# Object side, fraction of the image side: 13-23 px at 64x64, i.e. two to three 8-px latent tokens
# and ViT patches across. World version 2 doubled the smallest area: at 9 px (version 1) a shape was
# one token, and the embedded model learned colour but not shape in either direction.
MIN_SIZE, MAX_SIZE = 0.20, 0.36
CROWDED_MAX_SIZE = 0.26  # scenes of three or more objects use smaller ones, so four fit with gaps
BORDER = 0.04  # objects keep this far from the image edge
GAP = 0.06  # and this far from each other, so blurred renders do not merge them
MAX_COUNT = 4  # objects per (shape, colour) group and per scene

# GenEval counts 2-4; "five" only names the one-too-many near misses of four (see near_miss).
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}
COUNTS = (2, 3, 4)


@dataclass(frozen=True)
class ShapeObject:
    shape: str
    color: str
    cx: float  # centre, fraction of the image width
    cy: float  # centre, fraction of the image height (y down)
    size: float  # side of the bounding square, fraction of the shorter image side
    rgb: tuple[int, int, int] | None = None  # drawn colour when jittered; None = the palette colour

    def box(self, width: float = 1.0, height: float = 1.0) -> tuple[float, float, float, float]:
        half = self.size * min(width, height) / 2
        x, y = self.cx * width, self.cy * height
        return (x - half, y - half, x + half, y + half)

    @property
    def fill(self) -> tuple[int, int, int]:
        return self.rgb if self.rgb is not None else PALETTE[self.color]


@dataclass(frozen=True)
class Scene:
    objects: tuple[ShapeObject, ...]
    background: tuple[int, int, int] = BACKGROUND

    def to_dict(self) -> dict[str, Any]:
        return {"objects": [asdict(o) for o in self.objects], "background": list(self.background)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scene:
        objects = []
        for o in data["objects"]:
            rgb = o.get("rgb")
            objects.append(ShapeObject(**{**o, "rgb": None if rgb is None else tuple(rgb)}))
        return cls(tuple(objects), tuple(data.get("background", BACKGROUND)))


@dataclass(frozen=True)
class SuiteItem:
    prompt_id: str
    tag: str
    prompt: str
    metadata: dict[str, Any]  # GenEval metadata record: tag, include, [exclude], prompt


# ------------------------------------------------------------------------------------- language


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _noun_phrase(shape: str, count: int, color: str | None = None) -> str:
    color_word = f"{color} " if color else ""
    if count == 1:
        return _article(color_word + shape)
    return f"{NUMBER_WORDS[count]} {color_word}{PLURALS[shape]}"


def vocabulary() -> list[str]:
    """Every word any prompt or caption can use, in a fixed order."""
    words = ["a", "an", "photo", "of", "and", *NUMBER_WORDS.values(), *COLORS]
    words += [*SHAPES, *(PLURALS[s] for s in SHAPES)]
    for relation in RELATIONS:
        words += [w for w in relation.split() if w not in words]
    return words


def prompt_for(metadata: Mapping[str, Any]) -> str:
    """GenEval's prompt template for a metadata record of one of the six tags."""
    tag, inc = metadata["tag"], metadata["include"]
    if tag == "position":
        target, subject = inc[0], inc[1]
        relation = subject["position"][0]
        return f"a photo of {_noun_phrase(subject['class'], 1)} {relation} {_noun_phrase(target['class'], 1)}"
    phrases = [_noun_phrase(r["class"], r["count"], r.get("color")) for r in inc]
    return "a photo of " + " and ".join(phrases)


def caption(scene: Scene) -> str:
    """The canonical caption: every object, grouped by (shape, colour) in a fixed order.

    With exactly two groups in one clear relation (every member of the first group stands in
    exactly that relation, by GenEval's position rule, to every member of the second), the
    groups are joined by the relation ("a red circle left of two blue squares"); otherwise
    by "and".
    """
    if not scene.objects:
        raise ValueError("a scene needs at least one object")
    groups: dict[tuple[int, int], list[ShapeObject]] = {}
    for obj in scene.objects:
        groups.setdefault((SHAPES.index(obj.shape), COLORS.index(obj.color)), []).append(obj)
    ordered = [groups[k] for k in sorted(groups)]
    for group in ordered:
        if len(group) > MAX_COUNT:
            raise ValueError(f"at most {MAX_COUNT} objects per shape and colour, got {len(group)}")
    phrases = [_noun_phrase(g[0].shape, len(g), g[0].color) for g in ordered]
    if len(ordered) == 2:
        relation = group_relation(ordered[0], ordered[1])
        if relation is not None:
            return f"{phrases[0]} {relation} {phrases[1]}"
    return " and ".join(phrases)


def parse_caption(text: str) -> tuple[list[tuple[int, str, str]], str | None]:
    """The inverse of `caption` for well-formed text: [(count, colour, shape), ...] and the relation
    word(s) joining two groups (None when joined by "and"). Unknown words leave a slot as ("?")."""
    words = text.split()
    counts = {"a": 1, "an": 1, **{w: n for n, w in NUMBER_WORDS.items()}}
    singular = {**{s: s for s in SHAPES}, **{p: s for s, p in PLURALS.items()}}
    relation_words = sorted(RELATIONS, key=len, reverse=True)
    groups: list[tuple[int, str, str]] = []
    relation = None
    i = 0
    while i < len(words):
        count = counts.get(words[i], 0)
        color = words[i + 1] if i + 1 < len(words) else "?"
        shape = singular.get(words[i + 2], "?") if i + 2 < len(words) else "?"
        groups.append((count, color if color in COLORS else "?", shape))
        i += 3
        if i >= len(words):
            break
        rest = " ".join(words[i:])
        joined = next((r for r in relation_words if rest.startswith(r + " ")), None)
        if joined is not None and relation is None:
            relation = joined
            i += len(joined.split())
        else:
            i += 1  # "and" (or an unknown joining word)
    return groups, relation


def group_relation(
    first: Sequence[ShapeObject], second: Sequence[ShapeObject], position_threshold: float = 0.1
) -> str | None:
    """The single relation every object of `first` has to every object of `second`, if any."""
    found: set[str] | None = None
    for a in first:
        for b in second:
            rels = relative_position(a.box(), b.box(), position_threshold)
            if len(rels) != 1 or (found is not None and rels != found):
                return None
            found = rels
    return next(iter(found)) if found else None


# ------------------------------------------------------------------------------------- metadata


def _record(
    tag: str, include: list[dict[str, Any]], exclude: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    record: dict[str, Any] = {"tag": tag, "include": include}
    if exclude:
        record["exclude"] = exclude
    record["prompt"] = prompt_for(record)
    return record


def task_metadata(tag: str) -> list[dict[str, Any]]:
    """Every distinct GenEval-format record of one task in the shapes world, in a fixed order."""
    pairs = [(x, y) for x in SHAPES for y in SHAPES if x != y]
    if tag == "single_object":
        return [_record(tag, [{"class": x, "count": 1}]) for x in SHAPES]
    if tag == "two_object":
        return [_record(tag, [{"class": x, "count": 1}, {"class": y, "count": 1}]) for x, y in pairs]
    if tag == "counting":
        return [
            _record(tag, [{"class": x, "count": n}], [{"class": x, "count": n + 1}])
            for x in SHAPES
            for n in COUNTS
        ]
    if tag == "colors":
        return [_record(tag, [{"class": x, "count": 1, "color": c}]) for x in SHAPES for c in COLORS]
    if tag == "position":
        # GenEval lists the reference object B first: "A <rel> B" = include[1] <rel> include[0].
        return [
            _record(tag, [{"class": b, "count": 1}, {"class": a, "count": 1, "position": [rel, 0]}])
            for a, b in pairs
            for rel in RELATIONS
        ]
    if tag == "color_attr":
        return [
            _record(tag, [{"class": x, "count": 1, "color": c1}, {"class": y, "count": 1, "color": c2}])
            for x, y in pairs
            for c1 in COLORS
            for c2 in COLORS
            if c1 != c2
        ]
    raise ValueError(f"unknown GenEval tag {tag!r}; known: {', '.join(TAGS)}")


def generate_suite(n_per_task: int, seed: int = 0, fill: bool = False) -> list[SuiteItem]:
    """A fixed benchmark set of `n_per_task` records per task, tasks in GenEval order.

    Records are ordered by sha256 of (seed, record), never by a library's random stream, so a suite
    is the same on every machine and version. A task with fewer distinct records than `n_per_task`
    (single_object has 4) contributes all of them once, or, with `fill`, cycles through them again
    until it has `n_per_task` items: a repeated prompt is a new item with its own id, hence its own
    image seeds, so every task carries equal statistical weight. Prompt ids are 5-digit indices.
    """
    items: list[SuiteItem] = []
    for tag in TAGS:
        records = task_metadata(tag)
        records.sort(key=lambda r: hashlib.sha256(f"{seed}:{json.dumps(r)}".encode()).hexdigest())
        count = n_per_task if fill else min(n_per_task, len(records))
        for k in range(count):
            record = records[k % len(records)]
            items.append(SuiteItem(f"{len(items):05d}", tag, record["prompt"], record))
    return items


# ------------------------------------------------------------------------------------- layout


def _fits(candidate: ShapeObject, placed: Sequence[ShapeObject], gap: float = GAP) -> bool:
    x1, y1, x2, y2 = candidate.box()
    if x1 < BORDER or y1 < BORDER or x2 > 1 - BORDER or y2 > 1 - BORDER:
        return False
    for other in placed:
        ox1, oy1, ox2, oy2 = other.box()
        if x1 < ox2 + gap and ox1 < x2 + gap and y1 < oy2 + gap and oy1 < y2 + gap:
            return False
    return True


def _scatter(
    rng: np.random.Generator,
    specs: Sequence[tuple[str, str, float]],
    region: tuple[float, float, float, float],
    placed: Sequence[ShapeObject] = (),
    tries: int = 200,
) -> list[ShapeObject] | None:
    """Place (shape, colour, size) objects uniformly in `region` without overlap, or None."""
    out = list(placed)
    rx1, ry1, rx2, ry2 = region
    for shape, color, size in specs:
        for _ in range(tries):
            lo_x, hi_x = rx1 + size / 2, rx2 - size / 2
            lo_y, hi_y = ry1 + size / 2, ry2 - size / 2
            if lo_x > hi_x or lo_y > hi_y:
                return None
            obj = ShapeObject(
                shape, color, float(rng.uniform(lo_x, hi_x)), float(rng.uniform(lo_y, hi_y)), size
            )
            if _fits(obj, out):
                out.append(obj)
                break
        else:
            return None
    return out[len(placed) :]


def _robust_relation(first: Sequence[ShapeObject], second: Sequence[ShapeObject], relation: str) -> bool:
    """`relation` is the only one between the groups, even with no margin and with twice the margin.

    The slack keeps the relation true when a detector's boxes differ a little from the drawn ones.
    """
    return all(group_relation(first, second, t) == relation for t in (0.0, 0.1, 0.2))


_HALVES = {  # region of the first group, region of the second, for "first <relation> second"
    "left of": ((0.0, 0.0, 0.5 - GAP / 2, 1.0), (0.5 + GAP / 2, 0.0, 1.0, 1.0)),
    "right of": ((0.5 + GAP / 2, 0.0, 1.0, 1.0), (0.0, 0.0, 0.5 - GAP / 2, 1.0)),
    "above": ((0.0, 0.0, 1.0, 0.5 - GAP / 2), (0.0, 0.5 + GAP / 2, 1.0, 1.0)),
    "below": ((0.0, 0.5 + GAP / 2, 1.0, 1.0), (0.0, 0.0, 1.0, 0.5 - GAP / 2)),
}
_FULL = (0.0, 0.0, 1.0, 1.0)


def _layout(
    rng: np.random.Generator,
    groups: Sequence[Sequence[tuple[str, str, float]]],
    relation: tuple[str, int, int] | None = None,
    attempts: int = 500,
) -> list[list[ShapeObject]]:
    """Place groups of (shape, colour, size); `relation` = (rel, i, j) makes group i <rel> group j."""
    for _ in range(attempts):
        placed: list[list[ShapeObject]] = [[] for _ in groups]
        flat: list[ShapeObject] = []
        ok = True
        order = list(range(len(groups)))
        if relation is not None:
            rel, i, j = relation
            order = [i, j] + [k for k in order if k not in (i, j)]
        for k in order:
            region = _FULL
            if relation is not None and k in (relation[1], relation[2]):
                region = _HALVES[relation[0]][0 if k == relation[1] else 1]
            objs = _scatter(rng, groups[k], region, flat)
            if objs is None:
                ok = False
                break
            placed[k] = objs
            flat += objs
        if ok and (
            relation is None or _robust_relation(placed[relation[1]], placed[relation[2]], relation[0])
        ):
            return placed
    raise RuntimeError(f"could not lay out {[len(g) for g in groups]} objects with relation {relation}")


def _sizes(rng: np.random.Generator, n_objects: int, k: int) -> list[float]:
    top = MAX_SIZE if n_objects <= 2 else CROWDED_MAX_SIZE
    return [float(rng.uniform(MIN_SIZE, top)) for _ in range(k)]


def scene_for_metadata(metadata: Mapping[str, Any], rng: np.random.Generator) -> Scene:
    """A ground-truth scene that satisfies a GenEval-format record (random colour where unsaid)."""
    includes = metadata["include"]
    total = sum(r["count"] for r in includes)
    groups = []
    for req in includes:
        if req["class"] not in SHAPES:
            raise ValueError(f"class {req['class']!r} is not a shape ({', '.join(SHAPES)})")
        colors = [req.get("color") or COLORS[rng.integers(len(COLORS))] for _ in range(req["count"])]
        groups.append(
            [(req["class"], c, s) for c, s in zip(colors, _sizes(rng, total, req["count"]), strict=True)]
        )
    relation = None
    for index, req in enumerate(includes):
        if "position" in req:
            relation = (req["position"][0], index, req["position"][1])
    placed = _layout(rng, groups, relation)
    return Scene(tuple(obj for group in placed for obj in group))


def near_miss(metadata: Mapping[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """A record whose scenes break `metadata` by one typical generator mistake.

    single_object: another shape; two_object: one of the two shapes replaced; counting: one
    object too few or too many; colors: another colour; position: another relation; color_attr:
    the two colours swapped (an attribute-binding error). A scene drawn for the returned record
    never satisfies `metadata`, which makes it a ground-truth negative for measuring the judges.
    """
    tag = metadata["tag"]
    inc = [dict(r) for r in metadata["include"]]

    def other(options: Sequence[str], avoid: Sequence[str]) -> str:
        choices = [o for o in options if o not in avoid]
        return choices[int(rng.integers(len(choices)))]

    if tag == "single_object":
        inc[0]["class"] = other(SHAPES, [inc[0]["class"]])
    elif tag == "two_object":
        k = int(rng.integers(2))
        inc[k]["class"] = other(SHAPES, [r["class"] for r in inc])
    elif tag == "counting":
        n = inc[0]["count"]
        inc[0]["count"] = n + 1 if n == 1 or rng.random() < 0.5 else n - 1
        return _record(tag, inc, [{"class": inc[0]["class"], "count": inc[0]["count"] + 1}])
    elif tag == "colors":
        inc[0]["color"] = other(COLORS, [inc[0]["color"]])
    elif tag == "position":
        inc[1]["position"] = [other(RELATIONS, [inc[1]["position"][0]]), inc[1]["position"][1]]
    elif tag == "color_attr":
        inc[0]["color"], inc[1]["color"] = inc[1]["color"], inc[0]["color"]
    else:
        raise ValueError(f"unknown GenEval tag {tag!r}; known: {', '.join(TAGS)}")
    return _record(tag, inc, metadata.get("exclude"))


def sample_scene(
    rng: np.random.Generator, max_objects: int = MAX_COUNT, max_groups: int = 3, relation_prob: float = 0.5
) -> Scene:
    """A random training scene: 1..max_groups distinct (shape, colour) groups, 1..max_objects objects.

    Two-group scenes are laid out side by side or stacked with probability `relation_prob`, so
    their caption carries a position phrase.
    """
    max_objects = min(max_objects, MAX_COUNT)
    n_groups = int(rng.integers(1, min(max_groups, max_objects) + 1))
    n_objects = int(rng.integers(n_groups, max_objects + 1))
    counts = [1] * n_groups
    for _ in range(n_objects - n_groups):
        counts[int(rng.integers(n_groups))] += 1
    kinds: list[tuple[str, str]] = []
    while len(kinds) < n_groups:
        kind = (SHAPES[rng.integers(len(SHAPES))], COLORS[rng.integers(len(COLORS))])
        if kind not in kinds:
            kinds.append(kind)
    groups = [
        [(shape, color, s) for s in _sizes(rng, n_objects, n)]
        for (shape, color), n in zip(kinds, counts, strict=True)
    ]
    relation = None
    if n_groups == 2 and rng.random() < relation_prob:
        relation = (RELATIONS[rng.integers(len(RELATIONS))], 0, 1)
    try:  # few attempts: a relation that does not fit soon (a crowded half) rarely fits later
        placed = _layout(rng, groups, relation, attempts=500 if relation is None else 20)
    except RuntimeError:
        placed = _layout(rng, groups, None)  # a relation that cannot fit: fall back to a free layout
    return Scene(tuple(obj for group in placed for obj in group))


def jitter_colors(scene: Scene, rng: np.random.Generator, amount: float) -> Scene:
    """Each object drawn with its palette colour shifted by up to +-amount per RGB channel."""
    objects = []
    for obj in scene.objects:
        shifted = np.clip(np.asarray(PALETTE[obj.color]) + rng.uniform(-amount, amount, 3), 0, 255)
        objects.append(replace(obj, rgb=tuple(int(round(v)) for v in shifted)))
    return replace(scene, objects=tuple(objects))
