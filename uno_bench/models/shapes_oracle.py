"""`shapes-oracle`: a perfect text-to-image model for the shapes world.

It parses a shapes-suite prompt (GenEval's templates over the world's shapes and colours) back into
a GenEval record, lays out a scene that satisfies it with the request's seed, and renders it with
the world's renderer. Its score is the judges' upper bound: anything short of 1.0 is a judge (or
harness) error, never the model's. A prompt it cannot read is a per-image UnoError.
"""

from __future__ import annotations

import re
from typing import Any

from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.models.adapter import EditRequest, GenerationRequest
from uno_bench.models.settings import SamplerSettings

_PREFIX = "a photo of "
_RELATIONS = ("left of", "right of", "above", "below")


def _vocab() -> tuple[dict[str, str], dict[str, int], tuple[str, ...]]:
    from uno_bench.shapes.world import NUMBER_WORDS, PLURALS, SHAPES
    from uno_bench.suites.geneval_rules import COLORS

    nouns = {s: s for s in SHAPES} | {PLURALS[s]: s for s in SHAPES}
    return nouns, {w: n for n, w in NUMBER_WORDS.items()}, COLORS


def _phrase(text: str) -> dict[str, Any]:
    """'a red circle' / 'three squares' -> {"class", "count"[, "color"]}."""
    nouns, numbers, colors = _vocab()
    words = text.split()
    if len(words) not in (2, 3) or words[-1] not in nouns:
        raise ValueError(text)
    count = 1 if words[0] in ("a", "an") else numbers.get(words[0])
    if count is None or (count == 1) != (words[-1] == nouns[words[-1]]):
        raise ValueError(text)
    clause: dict[str, Any] = {"class": nouns[words[-1]], "count": count}
    if len(words) == 3:
        if words[1] not in colors:
            raise ValueError(text)
        clause["color"] = words[1]
    return clause


def parse_prompt(prompt: str) -> dict[str, Any]:
    """Invert the world's GenEval prompt templates into a GenEval metadata record."""
    if not prompt.startswith(_PREFIX):
        raise UnoError(f"shapes-oracle cannot draw {prompt!r}: not a shapes-world prompt")
    body = prompt[len(_PREFIX):]
    try:
        for relation in _RELATIONS:
            match = re.fullmatch(rf"(.+) {relation} (.+)", body)
            if match:
                subject, target = _phrase(match[1]), _phrase(match[2])
                return {"tag": "position", "include": [target, {**subject, "position": [relation, 0]}]}
        clauses = [_phrase(part) for part in body.split(" and ")]
    except ValueError as exc:
        raise UnoError(f"shapes-oracle cannot draw {prompt!r}: cannot read {str(exc)!r}") from None
    colored = sum("color" in c for c in clauses)
    if len(clauses) == 1 and clauses[0]["count"] > 1 and not colored:
        clause = clauses[0]
        return {"tag": "counting", "include": [clause], "exclude": [{"class": clause["class"], "count": clause["count"] + 1}]}
    tags = {(1, 0): "single_object", (1, 1): "colors", (2, 0): "two_object", (2, 2): "color_attr"}
    tag = tags.get((len(clauses), colored))
    if tag is None or any(c["count"] != 1 for c in clauses):
        raise UnoError(f"shapes-oracle cannot draw {prompt!r}: not one of GenEval's six templates")
    return {"tag": tag, "include": clauses}


class ShapesOracle:
    name = "shapes-oracle"

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": 1, "renderer": "uno_bench.shapes.render.render"}

    def generate(self, requests: list[GenerationRequest]) -> list[Image.Image]:
        import numpy as np

        from uno_bench.shapes.render import render
        from uno_bench.shapes.world import scene_for_metadata

        images = []
        for request in requests:
            scene = scene_for_metadata(parse_prompt(request.prompt), np.random.default_rng(request.seed))
            images.append(render(scene, request.width, request.height))
        return images

    def edit(self, requests: list[EditRequest]) -> list[Image.Image]:
        raise UnoError("shapes-oracle only generates images")

    def understand(self, images: list[Image.Image], prompt: str, max_new_tokens: int = 64) -> list[str]:
        raise UnoError("shapes-oracle only generates images")


def load_adapter(ckpt: str | None, settings: SamplerSettings, device: str = "cpu", **options: str) -> ShapesOracle:
    if ckpt:
        raise UnoError("shapes-oracle needs no --ckpt (it renders prompts exactly)")
    if options:
        raise UnoError(f"shapes-oracle takes no options (got {', '.join(sorted(options))})")
    return ShapesOracle()
