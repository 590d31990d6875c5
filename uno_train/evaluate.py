"""Quick held-out checks of a trained shapes model (the benchmark itself is `uno-bench run shapes`)."""

from __future__ import annotations

import numpy as np

from uno_bench.models.bagel.checkpoint import LoadedBagel
from uno_bench.models.bagel.understand import describe


def caption_accuracy(loaded: LoadedBagel, n: int = 200, seed: int = 10_000, image_size: int = 64,
                     batch: int = 50) -> dict:
    """Exact-match rate of greedy captions against the world's canonical caption, on scenes drawn
    from a seed range the training stream never uses (training uses seeds < 10_000)."""
    from uno_bench.shapes import world
    from uno_bench.shapes.render import render

    scenes = [world.sample_scene(np.random.default_rng([seed, i])) for i in range(n)]
    truths = [world.caption(s) for s in scenes]
    images = [render(s, image_size) for s in scenes]
    replies = []
    for i in range(0, n, batch):
        replies += describe(loaded, images[i : i + batch], "", max_new_tokens=24)
    exact = [r.strip() == t for r, t in zip(replies, truths)]
    return {"n": n, "exact_match": float(np.mean(exact)),
            "examples": [{"truth": t, "reply": r} for t, r in list(zip(truths, replies))[:5]]}
