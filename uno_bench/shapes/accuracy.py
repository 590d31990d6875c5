"""How often the analytic judges + GenEval's rules agree with ground truth, per task.

For each benchmark item, ground-truth scenes are rendered (optionally degraded): positives are
drawn for the item's own record and must be judged correct; negatives are drawn for a near miss
(`world.near_miss`) and must be judged wrong. A judge that always said "correct" would score 100%
on positives and 0% on negatives, so both are reported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from uno_bench.judges.base import ColorClassifier, Detector
from uno_bench.shapes import world
from uno_bench.shapes.judges import ShapesColorClassifier, ShapesDetector
from uno_bench.shapes.render import degrade, render
from uno_bench.suites.geneval_rules import TAGS, judge_image


@dataclass(frozen=True)
class Degradation:
    """What a small generator gets wrong. `blur` is in pixels of a 64-px image (scaled with size)."""

    name: str
    blur: float = 0.0  # Gaussian sigma
    noise: float = 0.0  # Gaussian sigma per channel, 0-255 units
    jitter: float = 0.0  # each object's colour shifted uniformly by up to +-jitter per channel
    specks: int = 0  # stray 1-2 px dots of palette colours


CLEAN = Degradation("clean")
MODERATE = Degradation("moderate", blur=0.8, noise=8.0, jitter=20.0, specks=3)
HEAVY = Degradation("heavy", blur=1.2, noise=12.0, jitter=30.0, specks=6)
LEVELS = (CLEAN, MODERATE, HEAVY)


def draw(scene: world.Scene, size: int, level: Degradation, rng: np.random.Generator):
    """Render a scene at `size` px with the degradation applied."""
    if level.jitter:
        scene = world.jitter_colors(scene, rng, level.jitter)
    image = render(scene, size)
    if level.blur or level.noise or level.specks:
        image = degrade(image, rng, blur=level.blur * size / 64, noise=level.noise, specks=level.specks)
    return image


@dataclass
class TaskAccuracy:
    positives: int = 0
    positives_ok: int = 0  # judged correct
    negatives: int = 0
    negatives_ok: int = 0  # judged wrong

    @property
    def positive_rate(self) -> float:
        return self.positives_ok / self.positives if self.positives else float("nan")

    @property
    def negative_rate(self) -> float:
        return self.negatives_ok / self.negatives if self.negatives else float("nan")

    @property
    def accuracy(self) -> float:
        total = self.positives + self.negatives
        return (self.positives_ok + self.negatives_ok) / total if total else float("nan")


def measure(
    n_per_task: int,
    scenes_per_item: int = 1,
    size: int = 64,
    level: Degradation = CLEAN,
    seed: int = 0,
    detector: Detector | None = None,
    colors: ColorClassifier | None = None,
    tags: Sequence[str] = TAGS,
) -> dict[str, TaskAccuracy]:
    """Judge positives and negatives for `n_per_task` items of each task; a fixed seed, a fixed answer."""
    detector = detector or ShapesDetector()
    colors = colors or ShapesColorClassifier()
    results: dict[str, TaskAccuracy] = {}
    for item in world.generate_suite(n_per_task, seed):
        if item.tag not in tags:
            continue
        tally = results.setdefault(item.tag, TaskAccuracy())
        # Each item gets its own stream, so subsets of tasks or items reproduce the same scenes.
        stream = int.from_bytes(
            hashlib.sha256(f"{seed}:{item.prompt_id}:{level.name}:{size}".encode()).digest()[:8]
        )
        rng = np.random.default_rng(stream)
        for _ in range(scenes_per_item):
            for positive in (True, False):
                record = item.metadata if positive else world.near_miss(item.metadata, rng)
                image = draw(world.scene_for_metadata(record, rng), size, level, rng)
                verdict = judge_image(item.metadata, image, detector, colors, classes=world.SHAPES)
                if positive:
                    tally.positives += 1
                    tally.positives_ok += verdict.correct
                else:
                    tally.negatives += 1
                    tally.negatives_ok += not verdict.correct
    return results
