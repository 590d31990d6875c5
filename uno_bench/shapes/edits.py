"""Instruction edits of shapes scenes with the ground truth known: recolour, add, remove or move one object.

    source, instruction, target = sample_edit(np.random.default_rng(0))
    # e.g. "make the red circle blue": `target` is `source` with that one object recoloured

Instructions use a small closed vocabulary (`edit_vocabulary()` = the world's words + edit verbs):
    recolor  "make the <colour> <shape> <new colour>"
    add      "add a(n) <colour> <shape>"                 (anywhere free; the scorer accepts any place)
    remove   "remove the <colour> <shape>"
    move     "move the <colour> <shape> to the left" / "to the right" / "up" / "down"
An object is always named by colour and shape, and the named (shape, colour) is unique in the scene
(and, for add and recolor, absent before the edit), so every instruction has one unambiguous answer.
Everything is a pure function of the rng: the same generator state gives the same edit. The benchmark
set (`generate_edit_suite`) and the trainer's edit examples both come from `draw_edit`.

`near_misses` derives ground-truth *wrong* edits (the typical mistakes of an editor) for measuring the
scorer (`shapes.edit_scoring`): each one fails either the instruction or the preservation of the
objects the instruction does not touch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from uno_bench.shapes import world
from uno_bench.shapes.world import COLORS, SHAPES, Scene, ShapeObject

EDIT_KINDS = ("recolor", "add", "remove", "move")
DIRECTIONS: dict[str, tuple[int, int]] = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}
EDIT_WORDS = ("make", "the", "add", "remove", "move", "to", "left", "right", "up", "down")
MOVE_MIN, MOVE_MAX = 0.2, 0.35  # how far a move shifts its object (fraction of the image side)
_ATTEMPTS = 200


def edit_vocabulary() -> list[str]:
    """Every word a shapes prompt, caption or edit instruction can use, in a fixed order."""
    words = world.vocabulary()
    return words + [w for w in EDIT_WORDS if w not in words]


@dataclass(frozen=True)
class SceneEdit:
    """One edit with its ground truth. `subject` indexes `source.objects` (the object the edit
    changes; None for add); `shape`/`color` name it as the instruction does (for add: the new
    object); `new_color` (recolor) and `direction`/`shift` (move) say how it changes."""

    kind: str
    source: Scene
    target: Scene
    instruction: str
    shape: str
    color: str
    subject: int | None = None
    new_color: str | None = None
    direction: str | None = None
    shift: float | None = None

    def untouched(self) -> list[ShapeObject]:
        """Source objects the instruction does not touch (they must stay as they are)."""
        return [o for i, o in enumerate(self.source.objects) if i != self.subject]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source.to_dict(), "target": self.target.to_dict(),
                "instruction": self.instruction, "shape": self.shape, "color": self.color,
                "subject": self.subject, "new_color": self.new_color, "direction": self.direction,
                "shift": self.shift}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SceneEdit:
        return cls(data["kind"], Scene.from_dict(data["source"]), Scene.from_dict(data["target"]),
                   data["instruction"], data["shape"], data["color"], data.get("subject"), data.get("new_color"),
                   data.get("direction"), data.get("shift"))


def instruction_for(kind: str, shape: str, color: str, new_color: str | None = None,
                    direction: str | None = None) -> str:
    named = f"{color} {shape}"
    if kind == "recolor":
        return f"make the {named} {new_color}"
    if kind == "add":
        return "add " + ("an " if named[0] in "aeiou" else "a ") + named
    if kind == "remove":
        return f"remove the {named}"
    if kind == "move":
        return f"move the {named} " + (f"to the {direction}" if direction in ("left", "right") else str(direction))
    raise ValueError(f"unknown edit kind {kind!r}; known: {', '.join(EDIT_KINDS)}")


def _kinds_in(scene: Scene) -> set[tuple[str, str]]:
    return {(o.shape, o.color) for o in scene.objects}


def _unique(scene: Scene) -> list[int]:
    """Indices of objects whose (shape, colour) occurs once: they can be named unambiguously."""
    kinds = [(o.shape, o.color) for o in scene.objects]
    return [i for i, k in enumerate(kinds) if kinds.count(k) == 1]


def _choice(rng: np.random.Generator, options: Sequence[Any]) -> Any:
    return options[int(rng.integers(len(options)))]


def _without(objects: Sequence[ShapeObject], index: int) -> list[ShapeObject]:
    return [o for i, o in enumerate(objects) if i != index]


def _recolor(rng: np.random.Generator, source: Scene) -> SceneEdit | None:
    subject = _choice(rng, _unique(source))
    obj = source.objects[subject]
    present = _kinds_in(source)
    colors = [c for c in COLORS if c != obj.color and (obj.shape, c) not in present]
    new = _choice(rng, colors)
    objects = list(source.objects)
    objects[subject] = replace(obj, color=new, rgb=None)
    return SceneEdit("recolor", source, replace(source, objects=tuple(objects)),
                     instruction_for("recolor", obj.shape, obj.color, new_color=new), obj.shape, obj.color,
                     subject=subject, new_color=new)


def _add(rng: np.random.Generator, source: Scene) -> SceneEdit | None:
    if len(source.objects) >= world.MAX_COUNT:
        return None
    present = _kinds_in(source)
    kinds = [(s, c) for s in SHAPES for c in COLORS if (s, c) not in present]
    shape, color = _choice(rng, kinds)
    size = float(rng.uniform(world.MIN_SIZE, world.CROWDED_MAX_SIZE))
    placed = world._scatter(rng, [(shape, color, size)], (0.0, 0.0, 1.0, 1.0), source.objects)
    if placed is None:
        return None
    return SceneEdit("add", source, replace(source, objects=(*source.objects, placed[0])),
                     instruction_for("add", shape, color), shape, color)


def _remove(rng: np.random.Generator, source: Scene) -> SceneEdit | None:
    if len(source.objects) < 2:  # something must remain to be preserved
        return None
    subject = _choice(rng, _unique(source))
    obj = source.objects[subject]
    return SceneEdit("remove", source, replace(source, objects=tuple(_without(source.objects, subject))),
                     instruction_for("remove", obj.shape, obj.color), obj.shape, obj.color, subject=subject)


def _move(rng: np.random.Generator, source: Scene) -> SceneEdit | None:
    subject = _choice(rng, _unique(source))
    obj = source.objects[subject]
    others = _without(source.objects, subject)
    for direction in rng.permutation(list(DIRECTIONS)):
        dx, dy = DIRECTIONS[str(direction)]
        shift = float(rng.uniform(MOVE_MIN, MOVE_MAX))
        moved = replace(obj, cx=obj.cx + dx * shift, cy=obj.cy + dy * shift)
        if world._fits(moved, others):
            objects = list(source.objects)
            objects[subject] = moved
            return SceneEdit("move", source, replace(source, objects=tuple(objects)),
                             instruction_for("move", obj.shape, obj.color, direction=str(direction)),
                             obj.shape, obj.color, subject=subject, direction=str(direction), shift=shift)
    return None


_MAKERS = {"recolor": _recolor, "add": _add, "remove": _remove, "move": _move}


def draw_edit(rng: np.random.Generator, kind: str | None = None, kinds: Sequence[str] = EDIT_KINDS) -> SceneEdit:
    """A random edit of a random scene (kind drawn from `kinds` unless given)."""
    kind = kind or _choice(rng, list(kinds))
    if kind not in _MAKERS:
        raise ValueError(f"unknown edit kind {kind!r}; known: {', '.join(EDIT_KINDS)}")
    for _ in range(_ATTEMPTS):
        # an add needs room for one more object: draw its scenes with one object fewer
        source = world.sample_scene(rng, max_objects=world.MAX_COUNT - (kind == "add"))
        if not _unique(source):
            continue
        edit = _MAKERS[kind](rng, source)
        if edit is not None:
            return edit
    raise RuntimeError(f"could not draw a {kind} edit in {_ATTEMPTS} scenes")


def sample_edit(rng: np.random.Generator, kinds: Sequence[str] = EDIT_KINDS) -> tuple[Scene, str, Scene]:
    """(source scene, instruction, target scene): the trainer's API (render both scenes for images)."""
    edit = draw_edit(rng, kinds=kinds)
    return edit.source, edit.instruction, edit.target


@dataclass(frozen=True)
class EditItem:
    prompt_id: str
    edit: SceneEdit


def generate_edit_suite(n_per_kind: int, seed: int = 0) -> list[EditItem]:
    """A fixed benchmark set: `n_per_kind` edits of each kind, 5-digit ids, kinds interleaved in
    EDIT_KINDS order (recolor, add, remove, move, recolor, ...) so that any first N items (`--limit`)
    cover every kind. Item (kind k, number i) is drawn from default_rng([seed, k, i]) alone."""
    items: list[EditItem] = []
    for i in range(n_per_kind):
        for k, kind in enumerate(EDIT_KINDS):
            items.append(EditItem(f"{len(items):05d}", draw_edit(np.random.default_rng([seed, k, i]), kind)))
    return items


# ------------------------------------------------------------------------------------- near misses


@dataclass(frozen=True)
class NearMiss:
    name: str
    scene: Scene  # what a wrong edit produced
    fails: str  # "instruction" or "preservation": which verdict must be False


def _recolored(scene: Scene, index: int, avoid: set[tuple[str, str]]) -> Scene | None:
    obj = scene.objects[index]
    colors = [c for c in COLORS if c != obj.color and (obj.shape, c) not in avoid]
    if not colors:
        return None
    objects = list(scene.objects)
    objects[index] = replace(obj, color=colors[0], rgb=None)
    return replace(scene, objects=tuple(objects))


def near_misses(edit: SceneEdit, rng: np.random.Generator) -> list[NearMiss]:
    """Typical wrong edits for `edit`, each with the verdict it must fail (see module docstring)."""
    out = [NearMiss("unchanged", edit.source, "instruction")]
    src, tgt = edit.source, edit.target
    avoid = _kinds_in(src) | _kinds_in(tgt)
    if edit.kind == "recolor":
        wrong = [c for c in COLORS if c not in (edit.color, edit.new_color) and (edit.shape, c) not in avoid]
        objects = list(tgt.objects)
        objects[edit.subject] = replace(objects[edit.subject], color=_choice(rng, wrong))
        out.append(NearMiss("wrong colour", replace(tgt, objects=tuple(objects)), "instruction"))
    elif edit.kind == "add":
        added = tgt.objects[-1]
        shapes = [s for s in SHAPES if s != added.shape and (s, added.color) not in avoid]
        if shapes:
            wrong = replace(added, shape=_choice(rng, shapes))
            out.append(NearMiss("wrong shape added", replace(tgt, objects=(*src.objects, wrong)), "instruction"))
        colors = [c for c in COLORS if c != added.color and (added.shape, c) not in avoid]
        wrong = replace(added, color=_choice(rng, colors))
        out.append(NearMiss("wrong colour added", replace(tgt, objects=(*src.objects, wrong)), "instruction"))
    elif edit.kind == "remove":
        others = [i for i in range(len(src.objects)) if i != edit.subject]
        out.append(NearMiss("removed another object",
                            replace(src, objects=tuple(_without(src.objects, _choice(rng, others)))), "instruction"))
    elif edit.kind == "move":
        dx, dy = DIRECTIONS[edit.direction or "left"]
        obj = src.objects[edit.subject]
        others = _without(src.objects, edit.subject)
        for name, factor in (("moved the other way", -1.0), ("barely moved", 0.1)):
            for shift in (edit.shift or MOVE_MIN, MOVE_MIN, MOVE_MAX):
                moved = replace(obj, cx=obj.cx + factor * dx * shift, cy=obj.cy + factor * dy * shift)
                if world._fits(moved, others, gap=0.0):
                    objects = list(src.objects)
                    objects[edit.subject] = moved
                    out.append(NearMiss(name, replace(src, objects=tuple(objects)), "instruction"))
                    break
    # The instruction carried out, but an untouched object changed too.
    untouched = [i for i in range(len(tgt.objects)) if _is_untouched(edit, i)]
    if untouched:
        index = _choice(rng, untouched)
        changed = _recolored(tgt, index, avoid)
        if changed is not None:
            out.append(NearMiss("another object recoloured", changed, "preservation"))
        out.append(NearMiss("another object removed", replace(tgt, objects=tuple(_without(tgt.objects, index))),
                            "preservation"))
    return out


def _is_untouched(edit: SceneEdit, target_index: int) -> bool:
    """Whether target object `target_index` is one the instruction leaves alone."""
    if edit.kind == "add":
        return target_index < len(edit.source.objects)
    if edit.kind == "remove":
        return True  # the subject is gone from the target
    return target_index != edit.subject
