"""manifest.json: differences are listed, missing sections are added, the git dirty flag is not compared,
and a different uno commit alone is accepted only with --allow-code-change, and recorded."""

from __future__ import annotations

import json
from datetime import datetime

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


# --allow-code-change: a different uno commit alone may be accepted, explicitly, and is recorded.
A, B = "a" * 40, "b" * 40
SUITE = {"name": "toy", "limit": 2}


def _env(commit: str | None, **changes) -> dict:
    return {"python": "3.11", "packages": {"uno": "0.1.0", "torch": "2.5.0"}, "git_commit": commit,
            "git_dirty": False, **changes}


def _started(run_dir, commit: str = A) -> bytes:
    manifest.reconcile(run_dir, {"suite": SUITE, "environment": _env(commit)})
    return (run_dir / "manifest.json").read_bytes()


def test_another_commit_alone_is_refused_naming_the_flag(tmp_path):
    before = _started(tmp_path)
    with pytest.raises(UnoError, match=r'environment.git_commit: "a{40}" -> "b{40}"') as refused:
        manifest.reconcile(tmp_path, {"suite": SUITE, "environment": _env(B)})
    assert str(refused.value).endswith("--allow-code-change")
    # other differences are not the user's to wave through: the flag is not suggested
    with pytest.raises(UnoError) as other:
        manifest.reconcile(tmp_path, {"suite": {**SUITE, "limit": 3}, "environment": _env(A)})
    assert "--allow-code-change" not in str(other.value)
    assert (tmp_path / "manifest.json").read_bytes() == before


def test_with_the_flag_another_commit_alone_is_accepted_and_recorded(tmp_path, capsys):
    _started(tmp_path)
    capsys.readouterr()
    merged = manifest.reconcile(tmp_path, {"suite": SUITE, "environment": _env(B, git_dirty=True)},
                                allow_code_change=True, stage="generate")
    on_disk = json.loads((tmp_path / "manifest.json").read_text())
    assert on_disk == merged
    env = on_disk["environment"]
    assert env["git_commit"] == A and env["git_dirty"] is False  # the run's first commit is kept
    [entry] = env["later_commits"]
    assert (entry["git_commit"], entry["git_dirty"], entry["stage"]) == (B, True, "generate")
    assert datetime.fromisoformat(entry["time"]).tzinfo is not None
    assert manifest.commits(on_disk) == [A, B]
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1  # one line, however narrow the console
    assert "made with uno commit aaaaaaaaaaaa; continuing it under bbbbbbbbbbbb (--allow-code-change" in err
    # Another rank (nothing written) and a rerun under the same commit see no difference and record nothing.
    again = {"suite": SUITE, "environment": _env(B)}
    assert manifest.reconcile(tmp_path, again, write=False, allow_code_change=True, stage="generate") == merged
    assert manifest.reconcile(tmp_path, again, allow_code_change=True, stage="score") == merged
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("other", [
    {"suite": {**SUITE, "limit": 3}, "environment": _env(B)},
    {"suite": SUITE, "environment": _env(B, packages={"uno": "0.1.0", "torch": "2.6.0"})},
    {"suite": SUITE, "environment": _env(B, python="3.12")},
])
def test_with_the_flag_another_commit_and_anything_else_is_still_refused(tmp_path, other):
    before = _started(tmp_path)
    with pytest.raises(UnoError, match="environment.git_commit") as refused:
        manifest.reconcile(tmp_path, other, allow_code_change=True, stage="generate")
    assert "different settings" in str(refused.value) and "--allow-code-change" not in str(refused.value)
    assert (tmp_path / "manifest.json").read_bytes() == before


def test_a_later_stage_compares_against_the_latest_commit_recorded(tmp_path):
    _started(tmp_path)
    manifest.reconcile(tmp_path, {"suite": SUITE, "environment": _env(B)}, allow_code_change=True, stage="generate")
    # continued under B: scoring under B needs no flag and records nothing more
    merged = manifest.reconcile(tmp_path, {"suite": SUITE, "scoring": {"judge": "j"}, "environment": _env(B)})
    assert merged["scoring"] == {"judge": "j"} and manifest.commits(merged) == [A, B]
    # back under the first commit A is a change again (from B), refused without the flag
    with pytest.raises(UnoError, match=r'environment.git_commit: "b{40}" -> "a{40}".*--allow-code-change$'):
        manifest.reconcile(tmp_path, {"suite": SUITE, "environment": _env(A)})
    merged = manifest.reconcile(tmp_path, {"suite": SUITE, "environment": _env(A)}, allow_code_change=True,
                                stage="score")
    assert manifest.commits(merged) == [A, B, A]
    assert [e["stage"] for e in merged["environment"]["later_commits"]] == ["generate", "score"]


def test_a_checkout_without_git_and_one_with_it_count_as_a_code_change(tmp_path):
    """uno installed from a wheel records no commit; a checkout of it later is a code change like any other."""
    _started(tmp_path, commit=None)
    with pytest.raises(UnoError, match=r"environment.git_commit: null -> \"b{40}\".*--allow-code-change$"):
        manifest.reconcile(tmp_path, {"suite": SUITE, "environment": _env(B)})
    merged = manifest.reconcile(tmp_path, {"suite": SUITE, "environment": _env(B)}, allow_code_change=True,
                                stage="score")
    assert manifest.commits(merged) == [None, B]
