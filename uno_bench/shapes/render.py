"""Scene -> anti-aliased RGB image at any size, plus the degradations used to test the judges.

Each pixel gets the fraction of supersample x supersample sample points a shape covers (the same
as drawing on a larger canvas and box-filtering it down), so edges are anti-aliased by area.
Everything is deterministic: same scene and size, same pixels.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

from uno_bench.shapes.world import PALETTE, Scene


def auto_supersample(width: int, height: int) -> int:
    """About 512 px on the shorter side of the canvas: sub-pixel edges at every target size."""
    return int(np.clip(512 // min(width, height), 2, 16))


def shape_contains(
    shape: str, box: tuple[float, float, float, float], xs: np.ndarray, ys: np.ndarray
) -> np.ndarray:
    """Which points (xs[None, :], ys[:, None], pixel units) lie inside a shape drawn in its box."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    x, y = xs[None, :], ys[:, None]
    in_box = (x >= x1) & (x < x2) & (y >= y1) & (y < y2)
    if shape == "square":
        return in_box
    if shape == "circle":
        return ((x - (x1 + x2) / 2) / (w / 2)) ** 2 + ((y - (y1 + y2) / 2) / (h / 2)) ** 2 <= 1.0
    if shape == "triangle":  # apex up at the top centre, base along the bottom of the box
        return in_box & (np.abs(x - (x1 + x2) / 2) <= (w / 2) * (y - y1) / h)
    if shape == "cross":  # a plus sign whose arms are one third of the box wide
        vertical = (x >= x1 + w / 3) & (x < x1 + 2 * w / 3)
        horizontal = (y >= y1 + h / 3) & (y < y1 + 2 * h / 3)
        return in_box & (vertical | horizontal)
    raise ValueError(f"unknown shape {shape!r}")


def coverage(
    shape: str, box: tuple[float, float, float, float], width: int, height: int, supersample: int = 8
) -> tuple[tuple[slice, slice], np.ndarray]:
    """Fraction of each pixel the shape covers, sampled at supersample^2 points per pixel.

    Returns the pixel window (rows, cols) the shape touches and the coverage inside it, so
    callers only pay for the shape's own neighbourhood.
    """
    x1, y1, x2, y2 = box
    c0, c1 = max(int(np.floor(x1)), 0), min(int(np.ceil(x2)), width)
    r0, r1 = max(int(np.floor(y1)), 0), min(int(np.ceil(y2)), height)
    window = (slice(r0, max(r1, r0)), slice(c0, max(c1, c0)))
    if c1 <= c0 or r1 <= r0:
        return window, np.zeros((max(r1 - r0, 0), max(c1 - c0, 0)), dtype=np.float32)
    offsets = (np.arange(supersample) + 0.5) / supersample
    xs = (np.arange(c0, c1)[:, None] + offsets[None, :]).ravel()
    ys = (np.arange(r0, r1)[:, None] + offsets[None, :]).ravel()
    inside = shape_contains(shape, box, xs, ys).astype(np.float32)
    cov = inside.reshape(r1 - r0, supersample, c1 - c0, supersample).mean(axis=(1, 3))
    return window, cov


def render(
    scene: Scene, size: int = 64, height: int | None = None, supersample: int | None = None
) -> Image.Image:
    """Render `scene` to an RGB image of `size` x `height` (square by default).

    Each object is blended over what lies below by its exact sub-pixel coverage, which is what
    drawing on a supersampled canvas and box-filtering it down gives.
    """
    width, height = size, height or size
    factor = supersample or auto_supersample(width, height)
    arr = np.empty((height, width, 3), dtype=np.float64)
    arr[:] = scene.background
    for obj in scene.objects:
        window, cov = coverage(obj.shape, obj.box(width, height), width, height, factor)
        cov = cov[..., None]
        arr[window] = arr[window] * (1 - cov) + np.asarray(obj.fill, dtype=np.float64) * cov
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))


def degrade(
    image: Image.Image,
    rng: np.random.Generator,
    blur: float = 0.0,
    noise: float = 0.0,
    specks: int = 0,
) -> Image.Image:
    """What a small generator gets wrong: Gaussian blur (sigma in pixels), Gaussian noise (sigma in
    0-255 units per channel) and `specks` stray dots of a random palette colour, 1-2 px across."""
    arr = np.asarray(image.convert("RGB"), dtype=np.float32)
    height, width = arr.shape[:2]
    colors = list(PALETTE.values())
    for _ in range(specks):
        r = float(rng.uniform(0.5, 1.0))
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        ys, xs = np.ogrid[:height, :width]
        dot = (xs + 0.5 - cx) ** 2 + (ys + 0.5 - cy) ** 2 <= r * r
        arr[dot] = colors[rng.integers(len(colors))]
    if blur > 0:
        arr = ndimage.gaussian_filter(arr, sigma=(blur, blur, 0), mode="nearest")
    if noise > 0:
        arr = arr + rng.normal(0.0, noise, arr.shape)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))
