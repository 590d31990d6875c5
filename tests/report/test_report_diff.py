"""Per-prompt diff on a constructed pair of runs: flips both ways, largest changes, reasons kept."""

from __future__ import annotations

from report_builders import geneval_run

from uno_bench.report import load_run
from uno_bench.report.prompt_diff import FAIL_TO_PASS, PASS_TO_FAIL, prompt_diff

T, F, U = True, False, None


def test_flips_and_largest_changes(tmp_path):
    base = geneval_run(tmp_path / "a", "shapes", {
        "00000": ("single_object", "a photo of a cross", [T, T, T, T]),
        "00001": ("counting", "a photo of two squares", [F, F, F, F]),
        "00002": ("colors", "a photo of a red circle", [T, F, U, T]),
        "00003": ("position", "a photo of a cross above a square", [T, T, F, F]),
    })
    other = geneval_run(tmp_path / "b", "shapes", {
        "00000": ("single_object", "a photo of a cross", [T, F, T, T]),  # one image pass -> fail
        "00001": ("counting", "a photo of two squares", [T, T, T, F]),  # three images fail -> pass
        "00002": ("colors", "a photo of a red circle", [T, T, T, U]),  # #1 fail -> pass; #2, #3 unpaired
        "00003": ("position", "a photo of a cross above a square", [F, F, T, T]),  # two each way, mean unchanged
    })
    diff = prompt_diff(load_run(base, "base"), load_run(other, "uno"))
    assert diff.binary and diff.same_seeds and diff.n_pairs == 14
    assert [f.base.key for f in diff.of(PASS_TO_FAIL)] == ["00000/1", "00003/0", "00003/1"]
    assert [f.base.key for f in diff.of(FAIL_TO_PASS)] == ["00001/0", "00001/1", "00001/2", "00002/1", "00003/2",
                                                           "00003/3"]
    flip = diff.of(PASS_TO_FAIL)[0]
    assert (flip.base.reason, flip.other.reason) == ("", "00000/1 failed")
    assert flip.base.prompt == "a photo of a cross" and flip.base.category == "single_object"
    assert [[f.base.key for f in g] for g in diff.by_prompt(FAIL_TO_PASS)] == [
        ["00001/0", "00001/1", "00001/2"], ["00002/1"], ["00003/2", "00003/3"]]

    # Per-prompt means: 00001 0 -> 3/4; 00000 1 -> 3/4; 00002 2/3 -> 1 (scored images only); 00003 unchanged.
    assert [(c.prompt_id, round(c.delta, 6)) for c in diff.changes] == [
        ("00001", 0.75), ("00002", round(1 - 2 / 3, 6)), ("00000", -0.25)]
    top = diff.changes[0]
    assert [s.reason for s in top.base] == ["00001/0 failed", "00001/1 failed", "00001/2 failed", "00001/3 failed"]


def test_different_seeds_are_reported(tmp_path):
    table = {"00000": ("single_object", "a photo of a cross", [T])}
    a = geneval_run(tmp_path / "a", "shapes", table, base_seed=0)
    b = geneval_run(tmp_path / "b", "shapes", table, base_seed=1)
    diff = prompt_diff(load_run(a), load_run(b))
    assert not diff.same_seeds and diff.flips == () and diff.changes == ()
