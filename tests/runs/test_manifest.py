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


def _legacy(name: str) -> tuple[str, str]:
    """(whole-file sha256, content sha256) of one released version of suite `name`."""
    from uno_bench.suites.legacy_hashes import LEGACY_FILE_HASHES

    return next((file, content) for file, (n, content) in LEGACY_FILE_HASHES.items() if n == name)


def test_a_run_dir_that_recorded_a_released_specs_file_hash_still_continues(tmp_path):
    """Run dirs from before specs were hashed by content (the shapes-mini runs behind the README) resume."""
    file_hash, content_hash = _legacy("shapes-mini")
    old = {"manifest_version": 1,
           "suite": {"name": "shapes-mini", "version": "2.0", "spec_sha256": file_hash}}
    (tmp_path / "manifest.json").write_text(json.dumps(old))
    assert manifest.load(tmp_path)["suite"] == {"name": "shapes-mini", "version": "2.0",
                                                "spec_content_sha256": content_hash}
    now = {"suite": {"name": "shapes-mini", "version": "2.0", "spec_content_sha256": content_hash}}
    merged = manifest.reconcile(tmp_path, {**now, "scoring": {"judge": "j"}})
    assert merged["suite"] == now["suite"]
    # written back in today's terms
    assert json.loads((tmp_path / "manifest.json").read_text())["suite"] == now["suite"]
    with pytest.raises(UnoError, match="suite.spec_content_sha256"):  # a binding change is still refused
        manifest.reconcile(tmp_path, {"suite": {**now["suite"], "spec_content_sha256": "0" * 64}})


def test_a_run_dir_from_an_unknown_spec_version_is_refused_with_the_reason(tmp_path):
    old = {"suite": {"name": "shapes-mini", "version": "2.0", "spec_sha256": "ab" * 32}}
    (tmp_path / "manifest.json").write_text(json.dumps(old))
    with pytest.raises(UnoError, match=r"suite spec 'shapes-mini' that this uno does not know .*ababababab"):
        manifest.reconcile(tmp_path, {"suite": {"name": "shapes-mini", "version": "2.0",
                                                "spec_content_sha256": "cd" * 32}})
    # another suite's released file hash is not taken for this one
    file_hash, _ = _legacy("shapes")
    legacy = {"suite": {"name": "shapes-mini", "spec_sha256": file_hash}}
    (tmp_path / "manifest.json").write_text(json.dumps(legacy))
    assert "spec_sha256" in manifest.load(tmp_path)["suite"]


def test_comparing_an_old_and_a_new_manifest_shows_no_spec_difference(tmp_path):
    from uno_bench.report.settings import manifest_differences

    file_hash, content_hash = _legacy("shapes")
    legacy = {"suite": {"name": "shapes", "spec_sha256": file_hash}}
    (tmp_path / "manifest.json").write_text(json.dumps(legacy))
    new = {"suite": {"name": "shapes", "spec_content_sha256": content_hash}}
    assert manifest_differences(manifest.load(tmp_path), new) == []
