"""Images in every mode a user may hand to `edit` reach the model as the picture they show (issue 15,
item 4): deep images are scaled, not clipped at 255; alpha is composited over white, as BAGEL does.
Each case writes a real file and reads it with the CLI's reader (uno_bench.cli.sample.open_image)."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from uno_bench.cli.sample import open_image
from uno_bench.errors import UnoError
from uno_bench.images import to_rgb
from uno_bench.models.bagel.transforms import to_tensor


def _png16_rgb(path: Path, value: tuple[int, int, int]) -> None:
    """An 8x8 16-bit-per-channel RGB PNG (Pillow cannot write one)."""
    row = b"\x00" + np.tile(np.array(value, ">u2"), 8).tobytes()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 16, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(row * 8)) + chunk(b"IEND", b""))


def _grey16(fmt: str, value: int) -> Callable[[Path], None]:
    return lambda path: Image.fromarray(np.full((8, 8), value, np.uint16)).save(path, fmt)  # mode I;16


def _float_tiff(value: float) -> Callable[[Path], None]:
    return lambda path: Image.fromarray(np.full((8, 8), value, np.float32), "F").save(path, "TIFF")


def _int32_tiff(value: int) -> Callable[[Path], None]:
    return lambda path: Image.fromarray(np.full((8, 8), value, np.int32), "I").save(path, "TIFF")


def _palette_transparent(path: Path) -> None:
    im = Image.new("P", (8, 8), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.putpixel((0, 0), 1)
    im.save(path, "PNG", transparency=0)  # index 0 is fully transparent


def _with_alpha(mode: str, colour: tuple, alpha: int) -> Callable[[Path], None]:
    return lambda path: Image.new(mode, (8, 8), (*colour, alpha)).save(path, "PNG")


CASES = {
    # name: (writer, suffix, expected RGB at pixel (1, 1))
    "16-bit RGB PNG": (lambda p: _png16_rgb(p, (20000, 40000, 65535)), ".png", (78, 156, 255)),
    "16-bit grey PNG (I;16 / I)": (_grey16("PNG", 30000), ".png", (117, 117, 117)),
    "16-bit grey PNG, white": (_grey16("PNG", 65535), ".png", (255, 255, 255)),
    "I;16 TIFF": (_grey16("TIFF", 12850), ".tif", (50, 50, 50)),
    "32-bit int TIFF (16-bit range)": (_int32_tiff(32896), ".tif", (128, 128, 128)),
    "float TIFF in 0..1": (_float_tiff(0.5), ".tif", (128, 128, 128)),
    "float TIFF in 0..255": (_float_tiff(200.0), ".tif", (200, 200, 200)),
    "palette with transparency": (_palette_transparent, ".png", (255, 255, 255)),
    "LA, transparent": (_with_alpha("LA", (0,), 0), ".png", (255, 255, 255)),
    "LA, half transparent": (_with_alpha("LA", (0,), 128), ".png", (127, 127, 127)),
    "RGBA, opaque": (_with_alpha("RGBA", (10, 20, 30), 255), ".png", (10, 20, 30)),
    "RGBA, transparent": (_with_alpha("RGBA", (10, 20, 30), 0), ".png", (255, 255, 255)),
    "CMYK TIFF (cyan)": (lambda p: Image.new("CMYK", (8, 8), (255, 0, 0, 0)).save(p, "TIFF"), ".tif", (0, 255, 255)),
    "1-bit": (lambda p: Image.new("1", (8, 8), 1).save(p, "PNG"), ".png", (255, 255, 255)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_mode_reads_as_the_picture_it_shows(name: str, tmp_path: Path) -> None:
    writer, suffix, expected = CASES[name]
    path = tmp_path / f"image{suffix}"
    writer(path)
    image = open_image(path)
    assert image.mode == "RGB" and image.size == (8, 8)
    assert all(abs(a - b) <= 1 for a, b in zip(image.getpixel((1, 1)), expected)), image.getpixel((1, 1))


def test_the_model_input_scales_too() -> None:
    """The model's own conversion (to_tensor) agrees: a mid-grey 16-bit image is mid-grey, not white."""
    x = to_tensor(Image.fromarray(np.full((8, 8), 32896, np.uint16)))
    assert abs(float(x.mean())) < 0.01  # [-1, 1]: mid-grey is 0


def test_modes_without_an_rgb_conversion_are_one_line_errors() -> None:
    with pytest.raises(UnoError, match="cannot convert a La image to RGB"):
        to_rgb(Image.new("La", (4, 4)))  # premultiplied LA: Pillow has no conversion from it
