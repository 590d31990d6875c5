"""Crash-safe file writes: temp file in the same folder, fsync, rename, fsync the folder.

A reader (or a resumed run) sees either no file or the complete file, never a prefix. Temp files
are named `.<name>.<pid>.uno-tmp`; a killed writer can leave one behind, and `sweep_temp` removes
them from folders the caller owns before it writes there again.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from PIL import Image

from uno_bench.errors import UnoError

TEMP_SUFFIX = ".uno-tmp"
_PNG_TRAILER = b"IEND\xaeB`\x82"  # the IEND chunk type + CRC: every complete PNG ends with it


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WriteError(UnoError):
    """A file could not be written (disk full, read-only folder); nothing half-written was left."""


def write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}{TEMP_SUFFIX}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(path.parent)
    except OSError as exc:
        # The temp file is gone and `path` is old or whole, so a rerun resumes exactly.
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}; every file written before is "
                         "complete: fix that and rerun the same command to resume") from exc


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def dumps_json(obj: Any) -> str:
    """Canonical JSON for files compared byte for byte (summary, manifest)."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json(path: Path, obj: Any) -> None:
    write_text(path, dumps_json(obj))


def write_png(path: Path, image: Image.Image) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_bytes(path, buffer.getvalue())


def png_complete(path: Path) -> bool:
    """Cheap completeness check (no decode): the file exists and ends with the PNG IEND chunk."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() < 8 + len(_PNG_TRAILER):
                return False
            fh.seek(-len(_PNG_TRAILER), os.SEEK_END)
            return fh.read() == _PNG_TRAILER
    except OSError:
        return False


def sweep_temp(folder: Path) -> int:
    """Remove temp files a killed writer left in `folder`; returns how many."""
    if not folder.is_dir():
        return 0
    removed = 0
    for tmp in folder.glob(f".*{TEMP_SUFFIX}"):
        tmp.unlink(missing_ok=True)
        removed += 1
    return removed
