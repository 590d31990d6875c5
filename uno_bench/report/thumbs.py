"""Thumbnails as data URIs, so the HTML report is one self-contained file.

Embedding (rather than linking into run dirs) keeps the page valid when it is mailed, attached to a
CI artifact or moved off the cluster where the run dirs live; thumbnails (default 128 px, the smaller
of PNG and JPEG) and a cap on the prompts shown keep it small.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image, ImageOps

DEFAULT_SIZE = 128


def thumbnail_uri(path: Path, size: int = DEFAULT_SIZE) -> str | None:
    """A data: URI of the image shrunk to fit size x size, or None when it cannot be read."""
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img)
            img.thumbnail((size, size))
            img = img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    best = None
    for fmt, kwargs in (("PNG", {"optimize": True}), ("JPEG", {"quality": 80})):
        buffer = io.BytesIO()
        img.save(buffer, format=fmt, **kwargs)
        data = buffer.getvalue()
        if best is None or len(data) < len(best[1]):
            best = (fmt.lower(), data)
    assert best is not None
    return f"data:image/{best[0]};base64,{base64.b64encode(best[1]).decode('ascii')}"
