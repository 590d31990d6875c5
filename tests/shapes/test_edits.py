"""Shapes edits: deterministic ground truth in a closed vocabulary, and the exact scorer's accuracy on
ground-truth edits (perfect edits pass, every near miss fails the verdict it should), clean and degraded."""

from __future__ import annotations

import numpy as np
import pytest

from uno_bench.shapes import world
from uno_bench.shapes.edit_scoring import EditScoringOptions, Found, read_objects, score_edit
from uno_bench.shapes.edits import (
    EDIT_KINDS,
    SceneEdit,
    draw_edit,
    edit_vocabulary,
    generate_edit_suite,
    near_misses,
    sample_edit,
)
from uno_bench.shapes.judges import ShapesColorClassifier, ShapesDetector
from uno_bench.shapes.render import degrade, render

DETECTOR, COLORS = ShapesDetector(), ShapesColorClassifier()


def _judge(edit: SceneEdit, scene: world.Scene, rng: np.random.Generator | None = None):
    image = render(scene if rng is None else world.jitter_colors(scene, rng, 20.0), 64)
    if rng is not None:
        image = degrade(image, rng, blur=0.8, noise=8.0, specks=3)
    return score_edit(edit, read_objects(image, DETECTOR, COLORS, 0.3))


def test_edits_are_deterministic_and_use_the_closed_vocabulary():
    a = sample_edit(np.random.default_rng(7))
    b = sample_edit(np.random.default_rng(7))
    assert a == b and isinstance(a[1], str)
    words = set(edit_vocabulary())
    assert set(world.vocabulary()) <= words and {"make", "add", "remove", "move", "up", "down"} <= words
    suite = generate_edit_suite(5, seed=3)
    assert [it.edit for it in suite] == [it.edit for it in generate_edit_suite(5, seed=3)]
    assert [it.edit.kind for it in suite[:4]] == list(EDIT_KINDS)  # interleaved: any --limit 4 covers all
    assert [it.prompt_id for it in suite] == [f"{i:05d}" for i in range(20)]
    for item in suite:
        edit = item.edit
        assert set(edit.instruction.split()) <= words, edit.instruction
        assert SceneEdit.from_dict(edit.to_dict()) == edit
        kinds = [(o.shape, o.color) for o in edit.source.objects]
        if edit.kind != "add":  # the named object is unique in the source
            assert kinds.count((edit.shape, edit.color)) == 1
            assert (edit.shape, edit.color) == kinds[edit.subject]


def test_targets_differ_from_sources_exactly_as_instructed():
    for k, kind in enumerate(EDIT_KINDS):
        for i in range(6):
            e = draw_edit(np.random.default_rng([11, k, i]), kind)
            src, tgt = list(e.source.objects), list(e.target.objects)
            if kind == "recolor":
                assert tgt[e.subject].color == e.new_color != e.color
                assert e.instruction == f"make the {e.color} {e.shape} {e.new_color}"
                assert src[: e.subject] + src[e.subject + 1:] == tgt[: e.subject] + tgt[e.subject + 1:]
            elif kind == "add":
                assert tgt[:-1] == src and (tgt[-1].shape, tgt[-1].color) == (e.shape, e.color)
                assert (e.shape, e.color) not in {(o.shape, o.color) for o in src}
            elif kind == "remove":
                assert tgt == src[: e.subject] + src[e.subject + 1:] and len(tgt) >= 1
            else:
                dx, dy = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}[e.direction]
                moved = tgt[e.subject]
                assert moved.cx - src[e.subject].cx == pytest.approx(dx * e.shift)
                assert moved.cy - src[e.subject].cy == pytest.approx(dy * e.shift)
                assert 0.2 <= e.shift <= 0.35


@pytest.mark.parametrize("degraded", [False, True], ids=["clean", "moderate"])
def test_scorer_accuracy_on_ground_truth_edits(degraded):
    """Perfect edits -> instruction and preservation both 1.0; near misses -> each fails its verdict."""
    n = 6 if degraded else 10
    perfect, misses, caught = [], 0, 0
    for k, kind in enumerate(EDIT_KINDS):
        for i in range(n):
            edit = draw_edit(np.random.default_rng([21, k, i]), kind)
            rng = np.random.default_rng([22, k, i]) if degraded else None
            verdict = _judge(edit, edit.target, rng)
            perfect.append((verdict.instruction, verdict.preserved, verdict.extra))
            for miss in near_misses(edit, np.random.default_rng([23, k, i])):
                v = _judge(edit, miss.scene, rng)
                misses += 1
                caught += (not v.instruction) if miss.fails == "instruction" else (not v.preserved and v.instruction)
                assert not v.correct, (edit.instruction, miss.name, v.reasons)
    assert np.mean([p[0] for p in perfect]) == 1.0 and np.mean([p[1] for p in perfect]) == 1.0
    assert all(p[2] == 0 for p in perfect)
    assert caught == misses  # every near miss fails exactly the verdict it was built to fail
    assert misses >= 4 * n * 3


def test_scoring_rules_by_hand():
    src = world.Scene((world.ShapeObject("circle", "red", 0.25, 0.5, 0.2),
                       world.ShapeObject("square", "blue", 0.75, 0.5, 0.2)))
    move = SceneEdit("move", src, src, "move the red circle up", "circle", "red", subject=0, direction="up", shift=0.25)
    square = Found("square", "blue", 0.76, 0.51)
    ok = score_edit(move, [Found("circle", "red", 0.26, 0.27), square])
    assert ok.correct and ok.reasons == []
    drift = score_edit(move, [Found("circle", "red", 0.40, 0.27), square])  # moved up, but also 0.15 sideways
    assert not drift.instruction and drift.preserved  # the stray circle is the failed move, not an extra
    stayed = score_edit(move, [Found("circle", "red", 0.25, 0.5), square])
    assert not stayed.instruction and stayed.preserved and "did not move" in stayed.reasons[0]
    lost = score_edit(move, [Found("circle", "red", 0.25, 0.25)])
    assert lost.instruction and not lost.preserved and lost.untouched_found == 0
    loose = score_edit(move, [Found("circle", "red", 0.25, 0.42), square], EditScoringOptions(min_shift=0.05))
    assert loose.instruction  # a shift of 0.08 counts once min_shift is lowered
