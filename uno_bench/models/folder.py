"""A model that "generates" (or edits) by reading images another tool already wrote in the suite's layout.

Request `key` is the image's path in the official layout; the image is read from `<root>/<key>`.
Generated images must have the requested size (the harness checks; edits may have any size); to
score a folder in place whatever its image sizes, use `uno-bench score SUITE --images DIR` instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.models.adapter import EditRequest, GenerationRequest
from uno_bench.models.settings import SamplerSettings


class FolderAdapter:
    name = "folder"

    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise UnoError(f"image folder {self.root} does not exist")

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "root": str(self.root)}

    def _read(self, key: str) -> Image.Image:
        path = (self.root / key).resolve()
        if not key or not path.is_relative_to(self.root):
            raise UnoError(f"image key {key!r} does not name a file inside {self.root}")
        if not path.is_file():
            raise UnoError(f"{path} not found in the image folder")
        try:
            with Image.open(path) as img:
                img.load()
                return img.copy()
        except OSError as exc:
            raise UnoError(f"{path} is not a readable image ({exc})") from None

    def generate(self, requests: list[GenerationRequest]) -> list[Image.Image]:
        return [self._read(r.key) for r in requests]

    def edit(self, requests: list[EditRequest]) -> list[Image.Image]:
        return [self._read(r.key) for r in requests]  # edits another tool already wrote, in the layout

    def understand(self, images: list[Image.Image], prompt: str, max_new_tokens: int = 64) -> list[str]:
        raise UnoError("the folder model cannot answer questions about images")


def load_adapter(ckpt: str | None, settings: SamplerSettings, device: str = "cpu", **options: str) -> FolderAdapter:
    if not ckpt:
        raise UnoError("--model folder needs --ckpt DIR: the folder holding the images")
    if options:
        raise UnoError(f"the folder model takes no options (got {', '.join(sorted(options))})")
    return FolderAdapter(ckpt)
