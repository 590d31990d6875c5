"""A small real suite and model for exercising the harness without any benchmark data.

The prompt names a colour; the toy model paints the whole image in it, with seed-dependent noise in
one corner pixel (so seeds are visible in the output); the judge reads the centre pixel's colour.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.models.adapter import GenerationRequest
from uno_bench.suites.base import Sample, Suite
from uno_bench.suites.spec import parse_spec

COLORS = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "white": (255, 255, 255)}
SPEC = parse_spec(
    """
name = "toy"
title = "Toy colours"
version = "1.0"
task = "t2i"
images_per_prompt = 2
default_judge = "centre-pixel"
metric = "accuracy over scored images"
layout = "<root>/<id>/<index>.png + <id>/prompt.txt"
[generation]
source = "test"
width = 16
height = 16
""",
    "toy.toml",
)
ROWS = [{"id": f"p{i}", "prompt": c} for i, c in enumerate(["red", "green", "blue", "white", "red"])]


class ToySuite(Suite):
    def __init__(self, rows: list[dict[str, str]] | None = None):
        super().__init__(SPEC)
        self.rows = ROWS if rows is None else rows

    def load_samples(self, prompts_file: Path | None = None) -> list[Sample]:
        rows = self.rows
        if prompts_file is not None:
            rows = [json.loads(line) for line in prompts_file.read_text().splitlines()]
        return [Sample(r["id"], r["prompt"], category=r["prompt"]) for r in rows]

    def image_relpath(self, sample: Sample, index: int) -> str:
        return f"{sample.id}/{index:02d}.png"

    def layout_files(self, sample: Sample) -> dict[str, str]:
        return {f"{sample.id}/prompt.txt": sample.prompt + "\n"}

    def load_judge(self, name: str, options: Mapping[str, str]) -> Any:
        if name != "centre-pixel":
            raise UnoError(f"unknown toy judge {name!r}")
        return _CentrePixel()

    def judge(self, judge: Any, sample: Sample, index: int, image: Image.Image, path: Path) -> dict[str, Any]:
        if sample.prompt not in COLORS:
            raise UnoError(f"unknown colour {sample.prompt!r}")
        pixel = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
        return {"correct": pixel == COLORS[sample.prompt], "category": sample.category}

    def unscored_record(self, sample: Sample, relpath: str | None, reason: str) -> dict[str, Any]:
        return {"correct": None, "category": sample.category}

    def summarize(self, records: list[dict[str, Any]], expected: int) -> dict[str, Any]:
        scored = [r for r in records if r["scored"]]
        return {"overall": sum(r["correct"] for r in scored) / len(scored) if scored else None, "n": len(scored)}


class _CentrePixel:
    def identity(self) -> dict[str, Any]:
        return {"name": "centre-pixel", "version": 1}


class ToyModel:
    """Paints the prompt's colour; prompts in `wrong_size` come back at half size."""

    name = "toy-model"

    def __init__(self, wrong_size: tuple[str, ...] = ()):
        self.wrong_size = wrong_size
        self.calls: list[int] = []  # batch sizes seen

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": 1}

    def generate(self, requests: list[GenerationRequest]) -> list[Image.Image]:
        self.calls.append(len(requests))
        images = []
        for r in requests:
            size = (r.width // 2, r.height // 2) if r.prompt in self.wrong_size else (r.width, r.height)
            image = Image.new("RGB", size, COLORS.get(r.prompt, (128, 128, 128)))
            image.putpixel((0, 0), (r.seed % 256, (r.seed >> 8) % 256, (r.seed >> 16) % 256))
            images.append(image)
        return images
