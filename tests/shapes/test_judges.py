"""The analytic shapes judges: accuracy against ground truth through GenEval's rules, and their scores."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from uno_bench.judges.base import Detection
from uno_bench.shapes import world
from uno_bench.shapes.accuracy import CLEAN, MODERATE, measure
from uno_bench.shapes.judges import ShapesColorClassifier, ShapesDetector
from uno_bench.shapes.render import degrade, render
from uno_bench.shapes.world import Scene, ShapeObject
from uno_bench.suites.geneval_rules import COLORS, TAGS

DETECTOR = ShapesDetector()
COLOR = ShapesColorClassifier()


def test_clean_renders_are_judged_right_at_least_99_percent_per_task():
    table = measure(n_per_task=12, scenes_per_item=3, size=64, level=CLEAN, seed=11)
    assert set(table) == set(TAGS)
    for tag, t in table.items():
        assert t.positives >= 12 and t.negatives == t.positives
        assert t.positive_rate >= 0.99, (tag, t)
        assert t.negative_rate >= 0.99, (tag, t)


def test_degraded_renders_stay_above_95_percent_per_task():
    # moderate: blur sigma 0.8 px, noise sigma 8, colour jitter +-20, 3 stray specks (64 px)
    table = measure(n_per_task=12, scenes_per_item=2, size=64, level=MODERATE, seed=12)
    for tag, t in table.items():
        assert t.positive_rate >= 0.95, (tag, t)
        assert t.negative_rate >= 0.95, (tag, t)


def single(shape: str, color: str = "red", size: float = 0.14) -> Scene:
    return Scene((ShapeObject(shape, color, 0.5, 0.5, size),))


@pytest.mark.parametrize("shape", world.SHAPES)
@pytest.mark.parametrize("pixels", [64, 128])
def test_a_clean_shape_of_the_smallest_size_scores_above_0_9(shape, pixels):
    image = render(single(shape), pixels)
    (found,) = DETECTOR.detect(image, world.SHAPES)
    assert found.label == shape and found.score > 0.9
    # the box is the mask's extent, x2/y2 exclusive, and the mask has the image's size
    ys, xs = np.nonzero(found.mask)
    assert found.mask.shape == (pixels, pixels)
    assert found.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    side = 0.14 * pixels
    assert found.box[2] - found.box[0] == pytest.approx(side, abs=1.5)


@pytest.mark.parametrize("radius", [0.5, 1.0, 1.5])
def test_a_tiny_speck_does_not_pass_0_3(radius):
    arr = np.full((64, 64, 3), world.BACKGROUND, dtype=np.uint8)
    ys, xs = np.ogrid[:64, :64]
    arr[(xs + 0.5 - 30) ** 2 + (ys + 0.5 - 30) ** 2 <= radius**2] = world.PALETTE["black"]
    assert all(d.score < 0.3 for d in DETECTOR.detect(Image.fromarray(arr), world.SHAPES))


def test_specks_and_noise_do_not_add_objects():
    rng = np.random.default_rng(3)
    scene = world.scene_for_metadata({"tag": "counting", "include": [{"class": "cross", "count": 3}]}, rng)
    image = degrade(render(scene, 64), rng, blur=0.8, noise=8, specks=8)
    confident = [d for d in DETECTOR.detect(image, world.SHAPES) if d.score > 0.9]
    assert [d.label for d in confident] == ["cross"] * 3


def test_two_shapes_merged_into_one_blob_are_not_a_confident_shape():
    touching = Scene(
        (ShapeObject("circle", "red", 0.4, 0.5, 0.25), ShapeObject("circle", "red", 0.65, 0.5, 0.25))
    )
    found = DETECTOR.detect(render(touching, 64), world.SHAPES)
    assert len(found) == 1 and found[0].score < 0.3


def test_only_requested_classes_are_returned():
    scene = Scene((ShapeObject("circle", "red", 0.3, 0.3, 0.2), ShapeObject("square", "blue", 0.7, 0.7, 0.2)))
    image = render(scene, 64)
    assert [d.label for d in DETECTOR.detect(image, ["square"])] == ["square"]
    assert sorted(d.label for d in DETECTOR.detect(image, world.SHAPES)) == ["circle", "square"]
    assert DETECTOR.detect(Image.new("RGB", (64, 64), world.BACKGROUND), world.SHAPES) == []


@pytest.mark.parametrize("color", COLORS)
def test_every_palette_colour_is_named_on_every_shape(color):
    for shape in world.SHAPES:
        image = render(single(shape, color), 64)
        found = DETECTOR.detect(image, world.SHAPES)
        assert COLOR.classify(image, found, shape, COLORS) == [color]
        # without a mask the classifier falls back to the box minus background-like pixels
        boxes_only = [Detection(d.label, d.score, d.box) for d in found]
        assert COLOR.classify(image, boxes_only, shape, COLORS) == [color]


def test_colour_answers_only_from_the_offered_colours():
    image = render(single("circle", "red"), 64)
    found = DETECTOR.detect(image, world.SHAPES)
    assert COLOR.classify(image, found, "circle", ["blue", "green"]) in (["blue"], ["green"])
    with pytest.raises(ValueError, match="palette"):
        COLOR.classify(image, found, "circle", ["teal"])


def test_identities_name_the_settings():
    assert DETECTOR.identity()["name"] == "shapes-analytic-detector"
    assert ShapesDetector(min_threshold=30).identity() != DETECTOR.identity()
    assert COLOR.identity()["palette"]["red"] == list(world.PALETTE["red"])
