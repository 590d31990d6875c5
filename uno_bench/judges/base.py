"""The interfaces every detector and colour judge implements, and what they share.

A detector returns *raw* detections (before any benchmark thresholding): the benchmark's rules,
not the judge, decide what counts. A colour classifier names one colour per detection. Both
report an `identity()` that changes whenever their outputs could change, so caches and run
manifests can tell judges apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from uno_bench.errors import UnoError

# GenEval composites each instance over this grey before colour classification.
GENEVAL_CROP_BGCOLOR = "#999"


class UnscorableError(UnoError):
    """This one sample cannot be judged (missing recording, bad metadata, ...).

    The harness catches it per sample and records the sample as unscored with `str(exc)` as the
    reason; it never aborts the run and never counts the sample as wrong.
    """


@dataclass(frozen=True)
class Detection:
    label: str  # class name: COCO name for GenEval, shape name for the shapes world
    score: float  # confidence in [0, 1]
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels, y pointing down
    # H x W bool, same size as the image. Excluded from ==/hash: arrays have no truth value.
    mask: np.ndarray | None = field(default=None, compare=False)


@runtime_checkable
class Detector(Protocol):
    def identity(self) -> dict[str, Any]:
        """Name, version, weights hash and every setting that changes outputs (JSON-serialisable)."""
        ...

    def detect(self, image: Image.Image, classes: Sequence[str]) -> list[Detection]:
        """Raw detections of any of `classes`, before the benchmark's thresholding, any order."""
        ...


@runtime_checkable
class ColorClassifier(Protocol):
    def identity(self) -> dict[str, Any]: ...

    def classify(
        self, image: Image.Image, detections: Sequence[Detection], class_name: str, colors: Sequence[str]
    ) -> list[str]:
        """One colour out of `colors` per detection, in the order of `detections`."""
        ...


def prepare_crop(
    image: Image.Image, detection: Detection, bgcolor: str = GENEVAL_CROP_BGCOLOR, crop: bool = True
) -> Image.Image:
    """GenEval's instance cut-out for colour classification, step for step.

    The instance is composited over a flat `bgcolor` through its mask (or over the image itself
    when bgcolor is "original"), then cropped to its box. PIL rounds float box coordinates to the
    nearest integer, exactly as in the official scorer, which passes the float box to PIL too.
    """
    rgb = image.convert("RGB")
    if detection.mask is not None:
        mask = np.asarray(detection.mask, dtype=bool)
        if mask.shape != (rgb.height, rgb.width):
            raise ValueError(f"mask shape {mask.shape} does not match image size {rgb.height}x{rgb.width}")
        blank = rgb.copy() if bgcolor == "original" else Image.new("RGB", rgb.size, color=bgcolor)
        rgb = Image.composite(rgb, blank, Image.fromarray(mask))
    if crop:
        rgb = rgb.crop(tuple(detection.box))
    return rgb


def image_sha256(image: Image.Image) -> str:
    """Content key of an image: sha256 over its decoded RGB pixels and size.

    Pixels rather than file bytes, so the same picture keys the same whether it came from a PNG
    on disk (any compression level) or straight from a generator in memory. Judges all see RGB.
    """
    rgb = image.convert("RGB")
    digest = hashlib.sha256(f"RGB {rgb.width}x{rgb.height}\n".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()
