"""Exact, analytic judges for the shapes world: a Detector and a ColorClassifier, CPU only.

Detector. The background colour is the median of the image border. Pixels of a lightly smoothed
copy that lie far from it (4.5x the remaining noise level, and at least 40/255) seed connected
components; each component's own
colour is the median of its most contrasted pixels, and every nearby pixel gets an opacity
`alpha` by projecting its difference from the background onto that colour's. The instance mask
is alpha >= 0.5 and the box is the mask's extent (x2, y2 exclusive, as mmdet derives boxes from
Mask2Former masks).

Shape. Blur keeps the opacity's total, centroid and (up to the blur's own variance) second
moments, so for every shape hypothesis and a grid of blur widths the detector solves for the box
that would give the observed moments, renders that shape there with the world's renderer, blurs
it, and correlates it with the observed opacity. The best correlation names the shape.

Confidence = p(shape) x fit x size:
* p(shape): a softmax of the Gaussian log-likelihoods of the hypotheses, with the per-pixel
  noise estimated from the border plus a fixed allowance for imperfect shapes;
* fit: falls from 1 to 0 as the best correlation drops from 0.9 to 0.6 (malformed blobs);
* square: every world shape has a square box, so the score falls from 1 to 0 as the fitted box's
  aspect ratio grows from 1.4 to 1.9 (two touching shapes merged into one blob);
* size: falls from 1 to 0 as the opacity total drops from half to a quarter of the smallest object the
  world draws (specks).
A clean render scores > 0.99; a 3x3-pixel speck scores < 0.1.

Colour. The instance's most contrasted pixels give a robust colour (median); the answer is the
palette colour whose mixing line with the background (opacity 0.8 to 1) passes closest to it in
CIELAB, so blur-softened small shapes keep their colour name.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

from uno_bench.judges.base import Detection
from uno_bench.shapes.render import coverage, shape_contains
from uno_bench.shapes.world import MIN_SIZE, PALETTE, SHAPES

# Blur widths tried, in pixels of a 64-px image; scaled with the image so every size sees the same grid.
_BLURS = (0.0, 0.5, 0.8, 1.1, 1.5, 2.0)
_REFERENCE_SIDE = 64
_EIGHT = np.ones((3, 3), dtype=bool)


def estimate_background(arr: np.ndarray) -> tuple[np.ndarray, float]:
    """Median border colour and the border's noise level (robust sigma per channel, averaged)."""
    ring = np.concatenate([arr[0], arr[-1], arr[1:-1, 0], arr[1:-1, -1]]).astype(np.float64)
    bg = np.median(ring, axis=0)
    mad = np.median(np.abs(ring - bg), axis=0)
    return bg, float(np.mean(1.4826 * mad))


def _robust_color(arr: np.ndarray, pixels: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """Median colour of the pixels that stand out most from the background (the instance's core)."""
    values = arr[pixels].astype(np.float64)
    dist = np.linalg.norm(values - bg, axis=1)
    core = dist >= 0.75 * np.percentile(dist, 90)
    return np.median(values[core], axis=0)


@functools.cache
def _unit_moments(shape: str) -> tuple[float, float, float, float, float]:
    """Area fraction, centroid offset (x, y) and variances (x, y) of a shape in a unit box."""
    n = 512
    xs = (np.arange(n) + 0.5) / n - 0.5
    inside = shape_contains(shape, (-0.5, -0.5, 0.5, 0.5), xs, xs).astype(np.float64)
    area = inside.sum()
    px, py = inside.sum(axis=0) / area, inside.sum(axis=1) / area
    mx, my = float((px * xs).sum()), float((py * xs).sum())
    return area / n**2, mx, my, float((px * (xs - mx) ** 2).sum()), float((py * (xs - my) ** 2).sum())


class ShapesDetector:
    """Connected components of non-background pixels, each named by template fitting."""

    VERSION = 1

    def __init__(
        self,
        shapes: Sequence[str] = SHAPES,
        min_size: float = MIN_SIZE,
        min_threshold: float = 40.0,
        model_error: float = 0.03,
    ):
        self.shapes = tuple(shapes)
        self.min_size = min_size  # smallest object side the world draws, fraction of the image side
        self.min_threshold = min_threshold  # least colour distance (0-255) that seeds a component
        self.model_error = model_error  # per-pixel opacity misfit allowed to a real (imperfect) shape

    def identity(self) -> dict[str, Any]:
        return {
            "name": "shapes-analytic-detector",
            "version": self.VERSION,
            "shapes": list(self.shapes),
            "min_size": self.min_size,
            "min_threshold": self.min_threshold,
            "model_error": self.model_error,
            "blurs": list(_BLURS),
        }

    def detect(self, image: Image.Image, classes: Sequence[str]) -> list[Detection]:
        arr = np.asarray(image.convert("RGB"), dtype=np.float64)
        height, width = arr.shape[:2]
        bg, noise = estimate_background(arr)
        side = min(width, height)
        smallest = min(_unit_moments(s)[0] for s in self.shapes) * (self.min_size * side) ** 2
        scale = side / _REFERENCE_SIDE
        # Seeds come from a lightly smoothed copy, so pixel noise on blurred edges does not split
        # an object into fragments; smoothing by sigma divides white noise by 2 sqrt(pi) sigma.
        sigma = 0.6 * scale
        smooth = ndimage.gaussian_filter(arr, sigma=(sigma, sigma, 0), mode="nearest")
        residual_noise = noise / max(1.0, 2 * np.sqrt(np.pi) * sigma)
        seeds = np.linalg.norm(smooth - bg, axis=2) > max(self.min_threshold, 4.5 * residual_noise)
        labels, _ = ndimage.label(seeds, structure=_EIGHT)
        wanted = set(classes)
        detections = []
        for index, window in enumerate(ndimage.find_objects(labels), start=1):
            if window is None:
                continue
            det = self._component(arr, labels, index, window, bg, noise, smallest, scale)
            if det is not None and det.label in wanted:
                detections.append(det)
        return detections

    def _component(
        self,
        arr: np.ndarray,
        labels: np.ndarray,
        index: int,
        window: tuple[slice, slice],
        bg: np.ndarray,
        noise: float,
        smallest: float,
        scale: float,
    ) -> Detection | None:
        height, width = labels.shape
        reach = max(3, int(np.ceil(1.5 * max(_BLURS) * scale)))  # blurred edges fall below the seed threshold
        pad = reach + 1
        r0, r1 = max(window[0].start - pad, 0), min(window[0].stop + pad, height)
        c0, c1 = max(window[1].start - pad, 0), min(window[1].stop + pad, width)
        lab = labels[r0:r1, c0:c1]
        comp = lab == index
        if comp.sum() < 3:
            return None
        local = arr[r0:r1, c0:c1]
        contrast = _robust_color(local, comp, bg) - bg
        strength = float(contrast @ contrast)
        if strength < 1.0:
            return None
        region = ndimage.binary_dilation(comp, structure=_EIGHT, iterations=reach) & ((lab == 0) | comp)
        alpha = ((local - bg) @ contrast) / strength * region  # unclipped: noise averages out in sums
        total = float(alpha.sum())
        if total <= 0:
            return None
        mask = (alpha >= 0.5) & region
        if not mask.any():
            return None
        shape, correlation, aspect, p_shape = self._classify(
            alpha, region, total, noise / np.sqrt(strength), scale
        )
        fit = float(np.clip((correlation - 0.6) / 0.3, 0.0, 1.0))
        square = float(np.clip((1.9 - aspect) / 0.5, 0.0, 1.0))
        size = float(np.clip((total / smallest - 0.25) / 0.25, 0.0, 1.0))
        ys, xs = np.nonzero(mask)
        full = np.zeros((height, width), dtype=bool)
        full[r0:r1, c0:c1] = mask
        box = (float(c0 + xs.min()), float(r0 + ys.min()), float(c0 + xs.max() + 1), float(r0 + ys.max() + 1))
        return Detection(label=shape, score=p_shape * fit * square * size, box=box, mask=full)

    def _classify(
        self, alpha: np.ndarray, region: np.ndarray, total: float, alpha_noise: float, scale: float
    ) -> tuple[str, float, float, float]:
        """Best shape, its correlation, its fitted box's aspect ratio, and its probability."""
        h, w = alpha.shape
        ys, xs = np.mgrid[0:h, 0:w] + 0.5
        mx, my = (alpha * xs).sum() / total, (alpha * ys).sum() / total
        vx, vy = (alpha * (xs - mx) ** 2).sum() / total, (alpha * (ys - my) ** 2).sum() / total
        observed = alpha[region]
        spread = float(((observed - observed.mean()) ** 2).sum())
        best: dict[str, float] = {}
        aspect: dict[str, float] = {}
        for shape in self.shapes:
            _, ux, uy, uvx, uvy = _unit_moments(shape)
            best[shape], aspect[shape] = -1.0, 1.0
            for blur in (b * scale for b in _BLURS):
                # observed variance = shape variance + blur variance + 1/12 from pixel integration
                ex, ey = vx - blur**2 - 1 / 12, vy - blur**2 - 1 / 12
                if ex <= 0 or ey <= 0:
                    continue
                bw, bh = np.sqrt(ex / uvx), np.sqrt(ey / uvy)
                cx, cy = mx - ux * bw, my - uy * bh
                box = (cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2)
                win, cov = coverage(shape, box, w, h, 4)
                template = np.zeros((h, w))
                template[win] = cov
                if blur:
                    template = ndimage.gaussian_filter(template, blur, mode="constant")
                values = template[region]
                if values.std() == 0 or observed.std() == 0:
                    continue
                correlation = float(np.corrcoef(observed, values)[0, 1])
                if correlation > best[shape]:
                    best[shape], aspect[shape] = correlation, float(max(bw / bh, bh / bw))
        # Residual energy of hypothesis k is (1 - r_k^2) * spread; Gaussian log-likelihood over it.
        sigma2 = alpha_noise**2 + self.model_error**2
        names = list(best)
        loglik = np.array([-(1 - max(best[n], 0.0) ** 2) * spread / (2 * sigma2) for n in names])
        probs = np.exp(loglik - loglik.max())
        probs /= probs.sum()
        top = int(np.argmax(probs))
        return names[top], best[names[top]], aspect[names[top]], float(probs[top])


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1
    )


class ShapesColorClassifier:
    """Robust instance colour -> the palette colour whose blend with the background fits it best."""

    VERSION = 1
    _OPACITIES = np.linspace(0.8, 1.0, 5)

    def identity(self) -> dict[str, Any]:
        return {
            "name": "shapes-analytic-color",
            "version": self.VERSION,
            "palette": {k: list(v) for k, v in PALETTE.items()},
        }

    def classify(
        self, image: Image.Image, detections: Sequence[Detection], class_name: str, colors: Sequence[str]
    ) -> list[str]:
        unknown = [c for c in colors if c not in PALETTE]
        if unknown:
            raise ValueError(f"colours {unknown} are not in the shapes palette")
        arr = np.asarray(image.convert("RGB"), dtype=np.float64)
        bg, _ = estimate_background(arr)
        # Candidate blends: each colour at opacities 0.8..1 over the background, in CIELAB.
        blends = np.stack([[bg + a * (np.asarray(PALETTE[c]) - bg) for a in self._OPACITIES] for c in colors])
        blends_lab = _srgb_to_lab(blends)
        answers = []
        for det in detections:
            pixels = self._pixels(arr, det, bg)
            if not pixels.any():
                answers.append(colors[0])  # nothing to see; any answer is as wrong as another
                continue
            lab = _srgb_to_lab(_robust_color(arr, pixels, bg))
            dist = np.linalg.norm(blends_lab - lab, axis=-1).min(axis=1)
            answers.append(colors[int(np.argmin(dist))])
        return answers

    @staticmethod
    def _pixels(arr: np.ndarray, det: Detection, bg: np.ndarray) -> np.ndarray:
        """The instance's pixels: its mask, or without one the box minus background-like pixels."""
        height, width = arr.shape[:2]
        if det.mask is not None:
            return np.asarray(det.mask, dtype=bool)
        x1, y1, x2, y2 = (int(round(v)) for v in det.box)
        pixels = np.zeros((height, width), dtype=bool)
        pixels[max(y1, 0) : min(y2, height), max(x1, 0) : min(x2, width)] = True
        return pixels & (np.linalg.norm(arr - bg, axis=2) > 40)
