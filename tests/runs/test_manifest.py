"""manifest.json: differences are listed, missing sections are added, the git dirty flag is not compared."""

from __future__ import annotations

import json

import pytest

from uno_bench.errors import UnoError
from uno_bench.runs import manifest


def test_differences_are_listed_by_path():
    old = {"a": {"b": 1, "c": [0.4, 1.0]}, "x": 1}
    new = {"a": {"b": 2, "c": [0.0, 1.0]}, "y": 2}
    assert manifest.differences(old, new) == [
        "a.b: 1 -> 2", "a.c: [0.4, 1.0] -> [0.0, 1.0]", "x: 1 -> (absent)", "y: (absent) -> 2",
    ]
    assert manifest.differences({"environment": {"git_dirty": True}}, {"environment": {"git_dirty": False}}) == []


def test_reconcile_adds_sections_and_refuses_changes(tmp_path):
    manifest.reconcile(tmp_path, {"suite": {"name": "toy", "limit": (1, 2)}})
    merged = manifest.reconcile(tmp_path, {"suite": {"name": "toy", "limit": [1, 2]}, "scoring": {"judge": "j"}})
    assert merged["scoring"] == {"judge": "j"}
    assert json.loads((tmp_path / "manifest.json").read_text()) == merged
    with pytest.raises(UnoError, match=r"scoring.judge: \"j\" -> \"k\""):
        manifest.reconcile(tmp_path, {"scoring": {"judge": "k"}})


def test_a_rank_that_finds_no_manifest_stops(tmp_path):
    with pytest.raises(UnoError, match="ranks disagree on the run dir"):
        manifest.reconcile(tmp_path, {"suite": {}}, write=False)


def test_environment_records_versions_and_the_checkout_commit():
    env = manifest.environment()
    assert env["packages"]["uno"] and env["packages"]["torch"]
    assert env["git_commit"] is None or len(env["git_commit"]) == 40
