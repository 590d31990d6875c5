"""Training data sources. Every example is a pure function of (source seed, global index), so a
run resumes exactly from its step counter and ranks can split a global batch without coordination.

- `ShapesSource`: the synthetic shapes world, infinite. Text-to-image examples (a GenEval-template
  prompt or a canonical caption -> image) and captioning examples (image -> canonical caption).
- `CaptionFolderSource`: real data, a JSONL file of {"image": path, "captions": [..], "prompt": ..}
  (paths relative to the file; several captions per image allowed, e.g. re-captions for UNO).
  A record whose image is missing/unreadable or whose captions are empty raises `BadRecord`;
  the trainer skips and counts it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image, UnidentifiedImageError

from uno_bench.errors import UnoError
from uno_train.plans import Example, TextItem, VaeItem, VitItem


class BadRecord(Exception):
    """A data record that cannot be used (counted and skipped, never fatal)."""


class DataSource(Protocol):
    def example(self, index: int) -> Example: ...

    def words(self) -> list[str] | None:
        """The closed vocabulary of this source, if it has one (for a word-level tokenizer)."""
        ...


def _rng(seed: int, index: int, salt: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, index, salt])


@dataclass
class ShapesSource:
    seed: int = 0
    image_size: int = 32
    t2i_fraction: float = 0.5  # the rest are captioning (or editing) examples
    prompt_fraction: float = 0.5  # of T2I examples, GenEval-template prompts (the rest: captions)
    edit_fraction: float = 0.0  # of the non-T2I examples, instruction edits (shapes.edits), BAGEL's edit layout

    def words(self) -> list[str]:
        from uno_bench.shapes import edits, world

        return edits.edit_vocabulary() if self.edit_fraction > 0 else world.vocabulary()

    def example(self, index: int) -> Example:
        from uno_bench.shapes import world
        from uno_bench.shapes.render import render

        rng = _rng(self.seed, index)
        if self.edit_fraction > 0 and rng.random() >= self.t2i_fraction and rng.random() < self.edit_fraction:
            return self._edit(rng)
        if rng.random() < self.t2i_fraction:
            if rng.random() < self.prompt_fraction:
                tag = world.TAGS[rng.integers(len(world.TAGS))]
                records = world.task_metadata(tag)
                record = records[rng.integers(len(records))]
                scene, text = world.scene_for_metadata(record, rng), record["prompt"]
            else:
                scene = world.sample_scene(rng)
                text = world.caption(scene)
            image = render(scene, self.image_size)
            # the scene's exact caption is this image's re-caption (UNO's caption target)
            return Example([TextItem(text, enable_cfg=True), VaeItem(image, noisy=True)], "t2i",
                           meta={"captions": [world.caption(scene)]})
        scene = world.sample_scene(rng)
        image = render(scene, self.image_size)
        return Example([VitItem(image), TextItem(world.caption(scene), loss=True)], "caption")


    def _edit(self, rng: np.random.Generator) -> Example:
        """[source: clean VAE + ViT] [instruction] -> [target: noisy VAE], as BAGEL's edit data; the
        source copies and the instruction drop out for CFG with the trainer's dropout rates."""
        from uno_bench.shapes.edits import sample_edit
        from uno_bench.shapes.render import render

        source, instruction, target = sample_edit(rng)
        src = render(source, self.image_size)
        return Example([VaeItem(src, noisy=False, enable_cfg=True), VitItem(src, enable_cfg=True),
                        TextItem(instruction, enable_cfg=True), VaeItem(render(target, self.image_size), noisy=True)],
                       "edit")


@dataclass
class CaptionRecord:
    image: Path
    captions: list[str]
    prompt: str | None


class CaptionFolderSource:
    """JSONL of image-caption records; epochs are reshuffled deterministically per (seed, epoch)."""

    def __init__(self, jsonl: Path, seed: int = 0, t2i_fraction: float = 1.0, image_size: int | None = None):
        self.path = Path(jsonl)
        if not self.path.is_file():
            raise UnoError(f"data file not found: {self.path}")
        self.seed, self.t2i_fraction, self.image_size = seed, t2i_fraction, image_size
        self.records: list[CaptionRecord | None] = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                captions = raw.get("captions") or ([raw["caption"]] if raw.get("caption") else [])
                self.records.append(CaptionRecord(self.path.parent / raw["image"],
                                                  [c for c in captions if isinstance(c, str)], raw.get("prompt")))
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                self.records.append(None)  # a malformed line is a bad record, reported when used
        if not self.records:
            raise UnoError(f"{self.path} has no records")

    def words(self) -> None:
        return None

    def _record(self, index: int) -> CaptionRecord | None:
        n = len(self.records)
        epoch, pos = divmod(index, n)
        order = np.random.default_rng([self.seed, epoch]).permutation(n)
        return self.records[order[pos]]

    def example(self, index: int) -> Example:
        rec = self._record(index)
        if rec is None:
            raise BadRecord("malformed JSONL line")
        captions = [c.strip() for c in rec.captions if c.strip()]
        if not captions:
            raise BadRecord(f"no caption for {rec.image}")
        try:
            with Image.open(rec.image) as im:
                image = im.convert("RGB")
        except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
            raise BadRecord(f"unreadable image {rec.image}: {exc}") from None
        if self.image_size:
            image = image.resize((self.image_size, self.image_size), Image.BICUBIC)
        rng = _rng(self.seed, index, 1)
        caption = captions[rng.integers(len(captions))]
        if rng.random() < self.t2i_fraction:
            return Example([TextItem(rec.prompt or caption, enable_cfg=True), VaeItem(image, noisy=True)], "t2i",
                           meta={"captions": captions})
        return Example([VitItem(image), TextItem(caption, loss=True)], "caption")
