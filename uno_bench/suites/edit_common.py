"""What the VLM-judged editing suites (GEdit-Bench, ImgEdit, KRIS-Bench) share.

Judges. `--judge NAME` where NAME is
  * an OpenAI model name (the spec's default, e.g. `gpt-4.1-2025-04-14`): the official API judge at
    api.openai.com, the key read from $OPENAI_API_KEY (or the variable named by `api_key_env`) and a
    missing key refused before anything is judged;
  * `openai` with base_url= and model=: any OpenAI-compatible endpoint (vLLM, a proxy, a mirror);
  * any other VLM judge (`replay`, `hf`, ...), exactly as for the other judge-scored suites (vqa.py).
Images are sent the way each official script encodes them: the suite puts those bytes in
`ImageInput.data` and OpenAI-type backends default to `image_encoding=original` (sending them as is);
an explicit `image_encoding` option wins and is recorded in the judge identity. A judge is official
when the model it ran (through a replay: the recorded one) is one the benchmark's scorer names.

Unparseable replies are retried as each protocol says, then the image is recorded unscored with the
replies and the reason, and counted: never a random or zero score.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from uno_bench.errors import UnoError
from uno_bench.judges.protocol import ProtocolJudge
from uno_bench.judges.vlm import ImageInput
from uno_bench.suites.vqa import load_vlm_judge

OPENAI_BASE_URL = "https://api.openai.com/v1"
_OPENAI_NAMES = ("openai", "openai-compatible", "http")
_MODEL_PREFIXES = ("gpt-", "chatgpt-", "o1", "o3", "o4")


class UnparseableReplyError(UnoError):
    """No attempt produced a parseable reply: the image is unscored (the replies are kept in the record)."""

    def __init__(self, message: str, record_fields: dict[str, Any]):
        super().__init__(message)
        self.record_fields = record_fields


def _backend_for(name: str, options: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """(registered judge name, options) for `--judge NAME`: a bare OpenAI model name becomes the
    `openai` backend at api.openai.com with that model."""
    from uno_bench.judges.registry import JUDGES

    opts = dict(options)
    if name not in JUDGES and name.lower().startswith(_MODEL_PREFIXES):
        opts = {"base_url": OPENAI_BASE_URL, "model": name, **opts}
        name = "openai"
    return name, opts


def load_edit_judge(
    name: str,
    options: Mapping[str, str],
    protocol: dict[str, Any],
    protocol_keys: set[str],
    official_models: tuple[str, ...],
    official_note: str,
) -> ProtocolJudge:
    """The VLM judge for an editing suite (see the module docstring)."""
    backend_name, opts = _backend_for(name, options)
    if backend_name.lower() in _OPENAI_NAMES:
        opts.setdefault("image_encoding", "original")  # the bytes the official script sends
        if opts.get("base_url", "").rstrip("/") == OPENAI_BASE_URL:
            env = opts.get("api_key_env") or "OPENAI_API_KEY"
            if not os.environ.get(env):
                raise UnoError(f"judge {opts.get('model')} at {OPENAI_BASE_URL} needs an API key in ${env} "
                               "(never passed as an option)")

    def is_official(backend: dict[str, Any]) -> bool:
        return backend.get("name") == "openai" and str(backend.get("model", "")).startswith(official_models)

    judge, _ = load_vlm_judge(backend_name, opts, protocol, protocol_keys, is_official, official_note)
    return judge


def protocol_option(options: Mapping[str, str], key: str, default: int, low: int = 1) -> int:
    raw = options.get(key, str(default))
    if not raw.isdigit() or int(raw) < low:
        raise UnoError(f"--judge-option {key} must be an integer >= {low}, not {raw!r}")
    return int(raw)


# ------------------------------------------------------------------------------------------ images


def load_rgb(path: Path, exif: bool = False) -> Image.Image:
    """A fully decoded RGB copy (EXIF orientation applied when `exif`, as VIEScore's loader does)."""
    try:
        with Image.open(path) as img:
            img.load()
            out = ImageOps.exif_transpose(img) if exif else img.copy()
    except (OSError, SyntaxError) as exc:
        raise UnoError(f"{path}: not a readable image ({exc})") from None
    return out.convert("RGB")


def file_input(path: Path, mime: str, image: Image.Image | None = None) -> ImageInput:
    """The file's own bytes under the MIME type the official script labels them with (ImgEdit says
    image/png and KRIS image/jpeg for every file, whatever its real format)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UnoError(f"{path}: cannot read ({exc})") from None
    return ImageInput(image if image is not None else load_rgb(path), data, mime)


def jpeg_input(image: Image.Image, quality: int | None = None) -> ImageInput:
    """Re-encoded as JPEG: PIL's default quality (75) unless given (VIEScore: default; KRIS temporal: 85)."""
    rgb = image.convert("RGB")
    buffer = io.BytesIO()
    if quality is None:
        rgb.save(buffer, format="JPEG")
    else:
        rgb.save(buffer, format="JPEG", quality=quality)
    return ImageInput(rgb, buffer.getvalue(), "image/jpeg")
