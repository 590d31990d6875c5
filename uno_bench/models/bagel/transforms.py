"""BAGEL's image preprocessing: resize (long side <= max, short side >= min, both multiples of the
stride, total pixels <= max_pixels; bicubic with antialias), to [-1, 1], ViT patches."""

from __future__ import annotations

import torch
from PIL import Image
from torch import Tensor

from uno_bench.models.bagel.config import ImageTransformConfig
from uno_bench.models.bagel.vit import patchify


def _make_divisible(value: float, stride: int) -> int:
    return max(stride, int(round(value / stride) * stride))


def resized_size(width: int, height: int, cfg: ImageTransformConfig) -> tuple[int, int]:
    def scaled(w: int, h: int, s: float) -> tuple[int, int]:
        return _make_divisible(round(w * s), cfg.stride), _make_divisible(round(h * s), cfg.stride)

    scale = min(cfg.max_size / max(width, height), 1.0)
    scale = max(scale, cfg.min_size / min(width, height))
    w, h = scaled(width, height, scale)
    if w * h > cfg.max_pixels:
        w, h = scaled(w, h, cfg.max_pixels / (w * h))
    if max(w, h) > cfg.max_size:
        w, h = scaled(w, h, cfg.max_size / max(w, h))
    return w, h


def resize(image: Image.Image, cfg: ImageTransformConfig) -> Image.Image:
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    w, h = resized_size(*image.size, cfg)
    if (w, h) == image.size:
        return image
    return TF.resize(image, [h, w], InterpolationMode.BICUBIC, antialias=True)


def to_tensor(image: Image.Image) -> Tensor:
    """RGB PIL -> [3, H, W] in [-1, 1] (ToTensor then Normalize(0.5, 0.5))."""
    from torchvision.transforms import functional as TF

    return TF.to_tensor(as_rgb(image)) * 2.0 - 1.0


def vit_inputs(image: Image.Image, cfg: ImageTransformConfig, patch: int) -> tuple[Tensor, tuple[int, int]]:
    """Resize with the ViT rule and cut into (p, q, c) patches; returns patches and the grid (h, w)."""
    x = to_tensor(resize(image, cfg))
    return patchify(x, patch), (x.shape[1] // patch, x.shape[2] // patch)


def as_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB; deep images scaled, not clipped; alpha over white as BAGEL's pil_img2rgb."""
    from uno_bench.images import to_rgb

    return to_rgb(image)


def stack(images: list[Tensor]) -> Tensor:
    return torch.stack(images)
