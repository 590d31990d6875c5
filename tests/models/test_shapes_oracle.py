"""shapes-oracle: reads every shapes-suite prompt back exactly and draws what the judges accept."""

from __future__ import annotations

import numpy as np
import pytest

from uno_bench.errors import UnoError
from uno_bench.models.adapter import GenerationRequest
from uno_bench.models.registry import load_model
from uno_bench.models.settings import SamplerSettings
from uno_bench.models.shapes_oracle import parse_prompt
from uno_bench.shapes.world import task_metadata
from uno_bench.suites.geneval_rules import TAGS


def test_every_world_prompt_parses_back_to_its_record():
    for tag in TAGS:
        for record in task_metadata(tag):
            expected = {k: v for k, v in record.items() if k != "prompt"}
            assert parse_prompt(record["prompt"]) == expected


@pytest.mark.parametrize("prompt", ["a photo of a dragon", "a cat", "a photo of two red circles and a square",
                                    "a photo of a circles", "a photo of a mauve circle"])
def test_other_prompts_are_refused_per_image(prompt):
    with pytest.raises(UnoError, match="shapes-oracle cannot draw"):
        parse_prompt(prompt)


def test_images_depend_on_the_seed_only():
    oracle = load_model("shapes-oracle", None, SamplerSettings())
    request = GenerationRequest("a photo of three crosses", seed=5, width=64, height=64)
    a, b, c = oracle.generate([request, request, GenerationRequest("a photo of three crosses", 6, 64, 64)])
    assert a.size == (64, 64)
    assert np.array_equal(np.asarray(a), np.asarray(b)) and not np.array_equal(np.asarray(a), np.asarray(c))
    [alone] = oracle.generate([request])
    assert np.array_equal(np.asarray(a), np.asarray(alone))
