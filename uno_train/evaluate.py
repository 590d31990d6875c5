"""Quick held-out checks of a trained shapes model (the benchmark itself is `uno-bench run shapes`)."""

from __future__ import annotations

import numpy as np

from uno_bench.models.bagel.checkpoint import LoadedBagel
from uno_bench.models.bagel.understand import describe

ATTRIBUTES = ("count", "color", "shape", "position")


def word_scores(truth: str, reply: str) -> dict[str, list[bool]]:
    """Per-slot agreement of a reply with the canonical caption: for each group of the truth, is
    its count / colour / shape word the same in the reply's group at that place (a missing group
    is wrong); `position` is the relation word of a two-group caption that has one."""
    from uno_bench.shapes.world import parse_caption

    t_groups, t_rel = parse_caption(truth)
    r_groups, r_rel = parse_caption(reply)
    out: dict[str, list[bool]] = {a: [] for a in ATTRIBUTES}
    for k, (count, color, shape) in enumerate(t_groups):
        got = r_groups[k] if k < len(r_groups) else (None, None, None)
        out["count"].append(got[0] == count)
        out["color"].append(got[1] == color)
        out["shape"].append(got[2] == shape)
    if t_rel is not None:
        out["position"].append(r_rel == t_rel)
    return out


def caption_accuracy(loaded: LoadedBagel, n: int = 500, seed: int = 10_000, image_size: int = 64,
                     batch: int = 50) -> dict:
    """Exact-match rate of greedy captions against the world's canonical caption, and per-word
    accuracy (count, colour, shape, position), on scenes drawn from a seed range the training stream
    never uses (training draws from (preset seed, index) with seeds < 10_000)."""
    from uno_bench.shapes import world
    from uno_bench.shapes.render import render

    scenes = [world.sample_scene(np.random.default_rng([seed, i])) for i in range(n)]
    truths = [world.caption(s) for s in scenes]
    images = [render(s, image_size) for s in scenes]
    replies = []
    for i in range(0, n, batch):
        replies += describe(loaded, images[i : i + batch], "", max_new_tokens=24)
    exact = [r.strip() == t for r, t in zip(replies, truths)]
    words: dict[str, list[bool]] = {a: [] for a in ATTRIBUTES}
    for t, r in zip(truths, replies):
        for a, v in word_scores(t, r.strip()).items():
            words[a] += v
    return {"n": n, "exact_match": float(np.mean(exact)),
            "word_accuracy": {a: float(np.mean(v)) if v else None for a, v in words.items()},
            "word_counts": {a: len(v) for a, v in words.items()},
            "examples": [{"truth": t, "reply": r} for t, r in list(zip(truths, replies))[:8]]}
