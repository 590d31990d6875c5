"""The shared judge pieces: GenEval's instance cut-out and the image content key."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from uno_bench.judges.base import ColorClassifier, Detection, Detector, image_sha256, prepare_crop
from uno_bench.shapes.judges import ShapesColorClassifier, ShapesDetector


def red_square_image() -> tuple[Image.Image, np.ndarray]:
    arr = np.zeros((20, 30, 3), dtype=np.uint8)
    arr[:] = (0, 0, 255)
    arr[5:10, 10:20] = (255, 0, 0)
    mask = np.zeros((20, 30), dtype=bool)
    mask[5:10, 10:15] = True  # the mask covers only the left half of the red patch
    return Image.fromarray(arr), mask


def test_crop_composites_over_grey_through_the_mask_then_crops():
    image, mask = red_square_image()
    crop = np.asarray(prepare_crop(image, Detection("x", 1.0, (8.0, 4.0, 18.0, 11.0), mask)))
    assert crop.shape == (7, 10, 3)
    assert tuple(crop[1, 2]) == (255, 0, 0)  # masked pixel keeps the image
    assert tuple(crop[1, 8]) == (0x99, 0x99, 0x99)  # red but outside the mask: grey
    assert tuple(crop[0, 0]) == (0x99, 0x99, 0x99)  # background outside the mask: grey


def test_crop_options_original_background_no_crop_and_rounding():
    image, mask = red_square_image()
    det = Detection("x", 1.0, (8.4, 4.6, 17.5, 11.2), mask)
    original = prepare_crop(image, det, bgcolor="original")
    assert np.array_equal(np.asarray(original), np.asarray(image.crop((8, 5, 18, 11))))
    assert original.size == (10, 6)  # PIL rounds each float coordinate, as the official scorer gets
    whole = prepare_crop(image, det, crop=False)
    assert whole.size == image.size
    assert prepare_crop(image, Detection("x", 1.0, (0.0, 0.0, 5.0, 5.0))).size == (5, 5)  # no mask: crop only
    with pytest.raises(ValueError, match="does not match"):
        prepare_crop(image, Detection("x", 1.0, (0.0, 0.0, 5.0, 5.0), mask[:10]))


def test_image_key_depends_on_pixels_and_size_only():
    image, _ = red_square_image()
    assert image_sha256(image) == image_sha256(image.convert("RGBA"))
    changed = image.copy()
    changed.putpixel((0, 0), (0, 0, 254))
    assert image_sha256(changed) != image_sha256(image)
    assert image_sha256(Image.new("RGB", (2, 3))) != image_sha256(Image.new("RGB", (3, 2)))


def test_detection_equality_ignores_the_mask():
    a = Detection("x", 0.5, (0.0, 0.0, 1.0, 1.0), np.zeros((2, 2), bool))
    b = Detection("x", 0.5, (0.0, 0.0, 1.0, 1.0), np.ones((2, 2), bool))
    assert a == b and hash(a) == hash(b)


def test_analytic_judges_implement_the_protocols():
    assert isinstance(ShapesDetector(), Detector)
    assert isinstance(ShapesColorClassifier(), ColorClassifier)
