"""Any decoded image -> 8-bit RGB, scaling deep images instead of clipping them.

`Image.convert("RGB")` clips 16-bit and 32-bit samples at 255 (a 16-bit grey PNG becomes near
white) and float samples at 1 (a float TIFF becomes near black). Here:
  I;16*        (16-bit grey)           divided by 257 (65535 -> 255)
  I            (32-bit int; Pillow's mode for 16-bit PNG grey) read as 16-bit: clamped to 0..65535, / 257
  F            (32-bit float)          0..1 when its maximum is <= 1 (x 255), else 0..255 (clamped)
  1, L, P, RGB, CMYK, YCbCr            Pillow's own conversion (exact for these)
  any alpha    (LA, RGBA, PA, P with transparency, La, RGBa)  composited over white, as BAGEL does
Modes Pillow cannot turn into RGB (e.g. premultiplied La) are refused with a UnoError.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from uno_bench.errors import UnoError


def _grey_to_l(image: Image.Image) -> Image.Image:
    """A one-channel deep image (I;16*, I, F) -> mode L, scaled to 0..255."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        finite = values[np.isfinite(values)]
        top = float(finite.max()) if finite.size else 0.0
        values = np.nan_to_num(values, nan=0.0, posinf=top, neginf=0.0)
        scaled = values * 255.0 if top <= 1.0 else values
    else:  # I;16, I;16B, I;16L, I;16N, I
        scaled = np.clip(values, 0, 65535) / 257.0
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB, whatever the source mode (see the module docstring for each mode)."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I") or image.mode == "F":
        return _grey_to_l(image).convert("RGB")
    has_alpha = image.mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in image.info
    try:
        if has_alpha:
            rgba = image.convert("RGBA")
            white = Image.new("RGB", image.size, (255, 255, 255))
            white.paste(rgba, mask=rgba.getchannel("A"))
            return white
        return image.convert("RGB")
    except ValueError as exc:  # e.g. LAB or HSV: Pillow has no conversion to RGB
        raise UnoError(f"cannot convert a {image.mode} image to RGB ({exc})") from None
