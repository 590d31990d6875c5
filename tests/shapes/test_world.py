"""The shapes world: deterministic scenes, GenEval-format items, exact captions, the renderer."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from uno_bench.shapes import world
from uno_bench.shapes.render import coverage, render
from uno_bench.shapes.world import GAP, Scene, ShapeObject
from uno_bench.suites.geneval_rules import COLORS, TAGS, relative_position, validate_metadata


def test_suite_is_deterministic_and_seed_dependent():
    a, b = world.generate_suite(10, seed=3), world.generate_suite(10, seed=3)
    assert a == b
    assert [i.prompt for i in world.generate_suite(10, seed=4)] != [i.prompt for i in a]
    assert [i.prompt_id for i in a] == [f"{k:05d}" for k in range(len(a))]
    assert [i.tag for i in a] == sorted((i.tag for i in a), key=TAGS.index)  # tasks in GenEval order
    assert Counter(i.tag for i in a) == {
        "single_object": 4,
        "two_object": 10,
        "counting": 10,
        "colors": 10,
        "position": 10,
        "color_attr": 10,
    }


def test_task_sizes_and_prompts_are_distinct():
    sizes = {tag: len(world.task_metadata(tag)) for tag in TAGS}
    assert sizes == {
        "single_object": 4,
        "two_object": 12,
        "counting": 12,
        "colors": 40,
        "position": 48,
        "color_attr": 1080,
    }
    for tag in TAGS:
        prompts = [r["prompt"] for r in world.task_metadata(tag)]
        assert len(set(prompts)) == len(prompts)


def test_metadata_is_exactly_genevals_format():
    for tag in TAGS:
        for record in world.task_metadata(tag):
            validate_metadata(record, world.SHAPES)
            keys = (
                ["tag", "include", "exclude", "prompt"] if tag == "counting" else ["tag", "include", "prompt"]
            )
            assert list(record) == keys
            for clause in record["include"]:
                assert set(clause) <= {"class", "count", "color", "position"}
            assert json.loads(json.dumps(record)) == record


@pytest.mark.parametrize(
    ("tag", "prompt", "include", "exclude"),
    [
        ("single_object", "a photo of a triangle", [{"class": "triangle", "count": 1}], None),
        (
            "two_object",
            "a photo of a cross and a circle",
            [{"class": "cross", "count": 1}, {"class": "circle", "count": 1}],
            None,
        ),
        (
            "counting",
            "a photo of three squares",
            [{"class": "square", "count": 3}],
            [{"class": "square", "count": 4}],
        ),
        (
            "counting",
            "a photo of four crosses",
            [{"class": "cross", "count": 4}],
            [{"class": "cross", "count": 5}],
        ),
        ("colors", "a photo of an orange circle", [{"class": "circle", "count": 1, "color": "orange"}], None),
        (
            "position",
            "a photo of a circle left of a square",
            [{"class": "square", "count": 1}, {"class": "circle", "count": 1, "position": ["left of", 0]}],
            None,
        ),
        (
            "color_attr",
            "a photo of a red square and an orange triangle",
            [
                {"class": "square", "count": 1, "color": "red"},
                {"class": "triangle", "count": 1, "color": "orange"},
            ],
            None,
        ),
    ],
)
def test_geneval_templates(tag, prompt, include, exclude):
    record = next(r for r in world.task_metadata(tag) if r["prompt"] == prompt)
    assert record["include"] == include
    assert record.get("exclude") == exclude


def test_vocabulary_covers_every_prompt_and_caption():
    vocab = world.vocabulary()
    assert len(vocab) == len(set(vocab)) and vocab == world.vocabulary()
    words = {w for tag in TAGS for r in world.task_metadata(tag) for w in r["prompt"].split()}
    rng = np.random.default_rng(0)
    words |= {w for _ in range(300) for w in world.caption(world.sample_scene(rng)).split()}
    assert words <= set(vocab)
    assert {"left", "right", "above", "below", "crosses", *COLORS} <= words


def boxes_ok(scene: Scene) -> bool:
    boxes = [o.box() for o in scene.objects]
    inside = all(0 <= x1 and 0 <= y1 and x2 <= 1 and y2 <= 1 for x1, y1, x2, y2 in boxes)
    apart = all(
        a[2] + GAP <= b[0] or b[2] + GAP <= a[0] or a[3] + GAP <= b[1] or b[3] + GAP <= a[1]
        for i, a in enumerate(boxes)
        for b in boxes[i + 1 :]
    )
    return inside and apart


def test_sample_scene_is_deterministic_and_well_formed():
    first = [world.sample_scene(np.random.default_rng(s)) for s in range(50)]
    assert first == [world.sample_scene(np.random.default_rng(s)) for s in range(50)]
    for scene in first:
        assert 1 <= len(scene.objects) <= 4 and boxes_ok(scene)
        assert Scene.from_dict(json.loads(json.dumps(scene.to_dict()))) == scene
    captions = [world.caption(s) for s in first]
    assert any(rel in c for c in captions for rel in ("left of", "right of", "above", "below"))


def test_caption_groups_counts_and_articles():
    scene = Scene(
        (
            ShapeObject("square", "blue", 0.8, 0.8, 0.15),
            ShapeObject("circle", "red", 0.2, 0.2, 0.15),
            ShapeObject("circle", "red", 0.5, 0.2, 0.15),
            ShapeObject("triangle", "orange", 0.2, 0.8, 0.15),
        )
    )
    assert world.caption(scene) == "two red circles and a blue square and an orange triangle"


def test_caption_uses_a_position_phrase_for_two_groups_in_a_clear_relation():
    left = ShapeObject("square", "blue", 0.25, 0.5, 0.2)
    right = ShapeObject("circle", "red", 0.75, 0.52, 0.2)
    assert world.caption(Scene((left, right))) == "a red circle right of a blue square"
    top = ShapeObject("cross", "white", 0.5, 0.2, 0.2)
    assert world.caption(Scene((top, ShapeObject("cross", "black", 0.5, 0.8, 0.2)))) == (
        "a black cross below a white cross"
    )
    diagonal = ShapeObject("circle", "red", 0.75, 0.75, 0.2)
    assert world.caption(Scene((ShapeObject("square", "blue", 0.25, 0.25, 0.2), diagonal))) == (
        "a red circle and a blue square"
    )


def test_scenes_satisfy_their_metadata_by_construction():
    rng = np.random.default_rng(1)
    for tag in TAGS:
        for record in world.task_metadata(tag)[:60]:
            scene = world.scene_for_metadata(record, rng)
            assert boxes_ok(scene)
            counts = Counter((o.shape, o.color) for o in scene.objects)
            for clause in record["include"]:
                have = sum(
                    n
                    for (shape, color), n in counts.items()
                    if shape == clause["class"] and clause.get("color", color) == color
                )
                assert have == clause["count"]
            assert len(scene.objects) == sum(c["count"] for c in record["include"])
            if tag == "position":
                target, subject = scene.objects  # include[0] is laid out first
                relation = record["include"][1]["position"][0]
                for size in (32, 64, 1000):  # the official rule, at pixel scale, holds with margin to spare
                    assert relative_position(subject.box(size, size), target.box(size, size)) == {relation}
                    assert relative_position(subject.box(size, size), target.box(size, size), 0.2) == {
                        relation
                    }


def test_near_miss_breaks_exactly_one_thing():
    rng = np.random.default_rng(2)
    for tag in TAGS:
        for record in world.task_metadata(tag)[:20]:
            miss = world.near_miss(record, rng)
            validate_metadata(miss, world.SHAPES)
            assert miss["tag"] == tag and miss != record and miss["prompt"] != record["prompt"]
            if tag == "color_attr":
                assert [c["color"] for c in miss["include"]] == [c["color"] for c in record["include"]][::-1]
            if tag == "counting":
                assert abs(miss["include"][0]["count"] - record["include"][0]["count"]) == 1


def test_render_is_deterministic_at_any_size():
    scene = world.sample_scene(np.random.default_rng(5))
    for size in (32, 64, 100, 256):
        a, b = render(scene, size), render(scene, size)
        assert a.size == (size, size) and a.mode == "RGB"
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert render(scene, 64, 48).size == (64, 48)
    corner = np.asarray(render(Scene((ShapeObject("circle", "red", 0.5, 0.5, 0.2),)), 64))[0, 0]
    assert tuple(corner) == world.BACKGROUND


@pytest.mark.parametrize(
    ("shape", "fill"), [("square", 1.0), ("circle", np.pi / 4), ("triangle", 0.5), ("cross", 5 / 9)]
)
def test_coverage_is_area_exact_and_anti_aliased(shape, fill):
    box = (10.3, 12.7, 22.1, 24.5)
    _, cov = coverage(shape, box, 40, 40, supersample=16)
    assert cov.sum() == pytest.approx(fill * 11.8**2, rel=0.01)
    assert ((cov > 0) & (cov < 1)).any()  # edges are partial pixels


def test_palette_colours_stay_apart():
    from uno_bench.shapes.judges import _srgb_to_lab

    labs = {name: _srgb_to_lab(np.array(rgb)) for name, rgb in world.PALETTE.items()}
    labs["background"] = _srgb_to_lab(np.array(world.BACKGROUND))
    names = list(labs)
    closest = min(np.linalg.norm(labs[a] - labs[b]) for i, a in enumerate(names) for b in names[i + 1 :])
    assert closest > 38


def test_filled_suite_has_equal_tasks_and_repeats_prompts_as_new_items():
    items = world.generate_suite(30, seed=0, fill=True)
    by_task = {tag: [i for i in items if i.tag == tag] for tag in world.TAGS}
    assert all(len(v) == 30 for v in by_task.values())
    assert len({i.prompt_id for i in items}) == len(items) == 180
    singles = [i.prompt for i in by_task["single_object"]]
    assert len(set(singles)) == 4 and singles[:4] == singles[4:8]  # cycles in the same hashed order
    assert world.generate_suite(30, seed=0)[:4] == [i for i in items if i.tag == "single_object"][:4]


def test_parse_caption_inverts_caption():
    for i in range(200):
        scene = world.sample_scene(np.random.default_rng([21, i]))
        groups, relation = world.parse_caption(world.caption(scene))
        assert sum(c for c, _, _ in groups) == len(scene.objects)
        assert world.caption(scene).startswith(("a ", "an ", "two ", "three ", "four "))
        assert (relation is None) == all(r not in world.caption(scene) for r in ("left of", "right of", "above", "below"))
    assert world.parse_caption("two red circles above a blue cross") == ([(2, "red", "circle"), (1, "blue", "cross")], "above")
