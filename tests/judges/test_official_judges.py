"""The two official GenEval judges together: options routed through the suite, an image judged by
GenEval's rules with both, and the option convention they share."""

# ruff: noqa: F811 - the fixtures imported from tiny_judges are used as test arguments

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from tiny_judges import (  # noqa: F401 (fixtures)
    TINY_CLASSES,
    tiny_clip_name,
    tiny_clip_weights,
    tiny_m2f,
    tiny_m2f_folder,
)

from uno_bench.errors import UnoError
from uno_bench.judges.judge_options import own_options
from uno_bench.suites import geneval_rules as rules
from uno_bench.suites.registry import load_suite


def test_own_options_takes_prefixed_and_plain_keys_and_leaves_other_judges_alone():
    opts = {"mask2former.weights": "a", "mmdet.max_per_image": "5", "clip.weights": "b", "device": "cpu"}
    assert own_options(("mask2former", "mmdet"), opts, ("weights", "max_per_image")) == {
        "weights": "a", "max_per_image": "5", "device": "cpu"}
    assert own_options(("clip",), opts, ("weights",), plain=("device", "bgcolor")) == {"weights": "b", "device": "cpu"}
    with pytest.raises(UnoError, match="judge 'clip' takes no option 'colour' .*clip.weights, bgcolor, device"):
        own_options(("clip",), {"colour": "x"}, ("weights",), plain=("device", "bgcolor"))


def test_suite_routes_options_and_both_judges_score_an_image(shared_suites, tiny_m2f_folder, tiny_clip_name,
                                                              tiny_clip_weights):
    suite = load_suite("geneval", shared_suites)
    judge = suite.load_judge("mask2former+clip", {
        "mask2former.weights": str(tiny_m2f_folder), "clip.model": tiny_clip_name,
        "clip.weights": str(tiny_clip_weights), "bgcolor": "original", "threshold": "0.01", "device": "cpu",
    })
    assert judge.options.threshold == 0.01 and judge.colors.bgcolor == "original" and judge.colors.crop is True
    identity = judge.identity()
    assert json.loads(json.dumps(identity)) == identity
    assert identity["detector"]["weights"]["source"] == "transformers" and identity["colors"]["name"] == "clip"

    arr = np.zeros((10, 150, 3), dtype=np.uint8)
    arr[:, 60:100] = (250, 240, 20)
    metadata = {"tag": "colors", "include": [{"class": "cup", "count": 1, "color": "red"}], "prompt": "a red cup"}
    verdict = rules.judge_image(metadata, Image.fromarray(arr), judge.detector, judge.colors, judge.options,
                                classes=TINY_CLASSES)
    # Random weights: the verdict itself is arbitrary, but it went through detection, thresholding and
    # colour classification, and names what the colour judge saw.
    assert "cup" in verdict.details
    assert verdict.correct or "expected red cup>=1" in verdict.reason
