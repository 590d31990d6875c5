"""Tables, CSV and Markdown against aggregates computed by hand on fixed records."""

from __future__ import annotations

import csv
import json
import re
import subprocess

import pytest
from conftest import uno_cmd
from report_builders import geneval_run

from uno_bench.errors import UnoError
from uno_bench.report import build_report, load_run, write_report
from uno_bench.report.model import PUBLISHED, PUBLISHED_OTHER
from uno_bench.report.scoring import Scoring
from uno_bench.suites.shapes import ShapesSuite

T, F, U = True, False, None
BASE = {  # prompt id -> (task, prompt, correct per image); U = unscored
    "00000": ("single_object", "a photo of a cross", [T, F]),
    "00001": ("single_object", "a photo of a circle", [T, T]),
    "00002": ("counting", "a photo of two squares", [F, F]),
    "00003": ("counting", "a photo of three circles", [T, U]),
    "00004": ("position", "a photo of a square left of a cross", [F, T]),
}
UNO = {
    "00000": ("single_object", "a photo of a cross", [T, T]),
    "00001": ("single_object", "a photo of a circle", [T, F]),
    "00002": ("counting", "a photo of two squares", [T, F]),
    "00003": ("counting", "a photo of three circles", [T, T]),
    "00004": ("position", "a photo of a square left of a cross", [T, T]),
}
# By hand (GenEval: task accuracy over images, overall = mean of the tasks present):
# base: single 3/4, counting 1/3 (the unscored image counts nowhere), position 1/2 -> (0.75 + 1/3 + 0.5) / 3
# uno:  single 3/4, counting 3/4, position 2/2                                        -> (0.75 + 0.75 + 1) / 3
BASE_OVERALL = (0.75 + 1 / 3 + 0.5) / 3
UNO_OVERALL = (0.75 + 0.75 + 1.0) / 3


@pytest.fixture()
def two_runs(tmp_path):
    base = geneval_run(tmp_path / "base", "shapes", BASE, model="bagel")
    uno = geneval_run(tmp_path / "uno", "shapes", UNO, model="bagel-uno")
    return base, uno


def _csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_table_and_csv_match_hand_computed_aggregates(two_runs, tmp_path):
    base, uno = two_runs
    report = build_report([load_run(uno, "uno"), load_run(base, "base")], baseline="base", n_boot=500)
    [suite] = report.suites
    assert [r.label for r in suite.rows] == ["base", "uno"]  # baseline first, whatever the argument order
    assert suite.columns == ["single_object", "two_object", "counting", "colors", "position", "color_attr", "overall"]
    assert suite.footnotes == []  # the bootstrap's re-aggregation reproduces the official numbers

    write_report(report, tmp_path / "out", {"csv", "md"})
    rows = {(r["row"], r["column"]): r for r in _csv(tmp_path / "out" / "report.csv")}
    expected = {
        ("base", "single_object"): 0.75, ("base", "counting"): 1 / 3, ("base", "position"): 0.5,
        ("base", "overall"): BASE_OVERALL, ("uno", "counting"): 0.75, ("uno", "position"): 1.0,
        ("uno", "overall"): UNO_OVERALL,
    }
    for key, value in expected.items():
        assert float(rows[key]["value"]) == pytest.approx(value, abs=1e-12), key
    assert rows[("base", "two_object")]["value"] == ""  # a task with no prompts is empty, not 0
    assert float(rows[("uno", "overall")]["delta"]) == pytest.approx(UNO_OVERALL - BASE_OVERALL)
    assert float(rows[("uno", "counting")]["delta"]) == pytest.approx(0.75 - 1 / 3)
    assert rows[("base", "overall")]["delta"] == ""
    assert (rows[("base", "overall")]["scored"], rows[("base", "overall")]["expected"]) == ("9", "10")
    assert (rows[("uno", "overall")]["scored"], rows[("uno", "overall")]["expected"]) == ("10", "10")
    lo, hi = float(rows[("base", "overall")]["ci_low"]), float(rows[("base", "overall")]["ci_high"])
    assert lo <= BASE_OVERALL <= hi
    # Sign test on per-prompt means: 00000, 00002, 00004 up; 00001 down; 00003 tied (1 scored image = 1/1 -> 2/2)
    uno_overall = rows[("uno", "overall")]
    assert (uno_overall["sign_better"], uno_overall["sign_worse"]) == ("3", "1")
    assert float(uno_overall["p_value"]) == pytest.approx(2 * (1 + 4) / 16)
    assert uno_overall["flags"] == ""  # only the checkpoint differs

    md = (tmp_path / "out" / "report.md").read_text()
    assert "| base (baseline) | 0.750 | — | 0.333 | — | 0.500 | — | **0.528** |" in md
    assert "| uno | 0.750 (+0.000) | — | 0.750 (+0.417) | — | 1.000 (+0.500) | — | **0.833 (+0.306)** |" in md
    assert "9/10" in md and "10/10" in md
    assert (tmp_path / "out" / "shapes.svg").read_text().lstrip().startswith("<?xml")

    changes = _csv(tmp_path / "out" / "prompt_changes.csv")
    assert [c["prompt_id"] for c in changes] == ["00000", "00001", "00002", "00004"]  # |Δ| 0.5 each, then id
    assert [float(c["delta"]) for c in changes] == [0.5, -0.5, 0.5, 0.5]
    assert changes[0]["flips"] == "1:fail→pass" and changes[1]["flips"] == "1:pass→fail"
    assert changes[0]["baseline_reasons"] == "#0 pass; #1 00000/1 failed"
    assert changes[0]["run_reasons"] == "#0,#1 pass"


def test_seed_runs_of_one_label_are_one_row_with_mean_and_sd(two_runs, tmp_path):
    base, uno = two_runs
    seed1 = dict(UNO)
    seed1["00002"] = ("counting", "a photo of two squares", [F, F])
    seed1["00004"] = ("position", "a photo of a square left of a cross", [T, F])
    uno1 = geneval_run(tmp_path / "uno-s1", "shapes", seed1, model="bagel-uno", base_seed=1)
    runs = [load_run(base, "base"), load_run(uno, "uno"), load_run(uno1, "uno")]
    [suite] = build_report(runs, n_boot=500).suites
    row = suite.rows[1]
    # seed 1 by hand: single 3/4, counting 2/4, position 1/2 -> overall 7/12
    seed1_overall = (0.75 + 0.5 + 0.5) / 3
    cell = row.cells["overall"]
    assert cell.n_runs == 2 and cell.value == pytest.approx((UNO_OVERALL + seed1_overall) / 2)
    assert cell.sd == pytest.approx(abs(UNO_OVERALL - seed1_overall) / 2**0.5)
    assert cell.delta == pytest.approx(cell.value - BASE_OVERALL)
    assert row.scored == 20 and row.expected == 20
    assert row.flags == []  # seed runs differ only in the base seed, which does not move numbers
    assert not row.comparison.same_seeds


def test_settings_that_move_numbers_are_flagged(two_runs, tmp_path):
    base, _ = two_runs
    other = geneval_run(tmp_path / "other", "shapes", UNO, model="bagel", sampler={"width": 128, "cfg_text_scale": 6.0},
                        judge="replay", precision="bf16", limit=5)
    [suite] = build_report([load_run(base, "base"), load_run(other, "other")], n_boot=200).suites
    assert suite.rows[1].flags == ["precision", "resolution", "CFG", "judge", "prompts"]


def test_diff_manifest_lists_every_difference(two_runs, tmp_path, uno_env):
    base, _ = two_runs
    other = geneval_run(tmp_path / "other", "shapes", UNO, model="bagel", sampler={"num_timesteps": 25},
                        base_seed=3)
    done = subprocess.run(uno_cmd("diff-manifest", str(base), str(other)), env=uno_env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "2 difference(s), 1 that move numbers" in out
    assert "[steps] generation.sampler.num_timesteps: 50 -> 25" in out
    assert "[seeds] suite.base_seed: 0 -> 3" in out
    assert out.index("moves numbers:") < out.index("[steps]") < out.index("informational") < out.index("[seeds]")
    same = subprocess.run(uno_cmd("diff-manifest", str(base), str(base / "manifest.json")), env=uno_env,
                          capture_output=True, text=True)
    assert "identical" in same.stdout


def test_published_numbers_only_where_the_protocol_matches(tmp_path):
    table = {"00000": ("single_object", "a photo of a bench", [T, T, F, T])}
    data = {"metadata": "x", "object_names": "y"}
    official = geneval_run(tmp_path / "official", "geneval", table, data=data)
    [suite] = build_report([load_run(official, "bagel")], n_boot=200).suites
    published = {r.label: r for r in suite.rows if r.published}
    original = published["BAGEL (published) [original (evaluation_metadata.jsonl)]"]
    assert original.role == PUBLISHED and original.cells["overall"].value == 0.82 and original.flags == []
    rewritten = published["BAGEL (published) [BAGEL rewritten (evaluation_metadata_long.jsonl)]"]
    assert rewritten.role == PUBLISHED_OTHER
    assert rewritten.flags == ["bagel: prompts other than evaluation_metadata_long.jsonl"]
    assert all(c.value is None for k, c in rewritten.cells.items() if k != "overall")

    subset = geneval_run(tmp_path / "subset", "geneval", table, data=data, limit=1, sampler={"width": 512})
    [suite] = build_report([load_run(subset, "small")], n_boot=200).suites
    first = next(r for r in suite.rows if r.published)
    assert first.role == PUBLISHED_OTHER
    assert "a subset of prompts (--limit 1)" in first.flags[0] and "sampler width: 1024 (spec) -> 512" in first.flags[0]


def test_a_wrong_scoring_hook_is_reported_not_hidden(two_runs):
    base, _ = two_runs

    class Misdeclared(ShapesSuite):
        def report_scoring(self):  # claims a pooled mean; GenEval averages task accuracies
            return Scoring(aggregate="mean", score_fields=("correct",), category_fields=("tag",),
                           summary_categories=("tasks",))

    from uno_bench.suites.registry import get_spec

    run = load_run(base, "base", suite=Misdeclared(get_spec("shapes")))
    [suite] = build_report([run], n_boot=200).suites
    assert len(suite.footnotes) == 1 and "not of the official statistic" in suite.footnotes[0]


def test_unknown_baseline_and_empty_runs_are_one_line_errors(two_runs, tmp_path):
    base, _ = two_runs
    with pytest.raises(UnoError, match="not the label of any run"):
        build_report([load_run(base, "base")], baseline="nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnoError, match="not a uno run dir"):
        load_run(tmp_path / "empty")


def test_markdown_keeps_hostile_text_inert(tmp_path):
    evil = "<script>alert(1)</script> | `x` *y*\nnext line"
    a = geneval_run(tmp_path / "a", "shapes", {"00000": ("single_object", evil, [F])})
    b = geneval_run(tmp_path / "b", "shapes", {"00000": ("single_object", evil, [T])})
    report = build_report([load_run(a, "<b>a</b>"), load_run(b, "b|c")], n_boot=200)
    write_report(report, tmp_path / "out", {"md", "csv"})
    md = (tmp_path / "out" / "report.md").read_text()
    assert "<script>" not in md and "<b>" not in md
    assert "&lt;script>alert(1)&lt;/script> \\| \\`x\\` \\*y\\* next line" in md  # one line, one cell
    row = next(line for line in md.splitlines() if line.startswith("| 00000 |"))
    assert len(re.findall(r"(?<!\\)\|", row)) == 9  # 8 cells: the prompt's escaped '|' adds none
    changes = _csv(tmp_path / "out" / "prompt_changes.csv")
    assert changes[0]["prompt"] == evil  # CSV keeps the exact text (quoted by the csv module)


def test_markdown_escapes_only_what_markdown_would_read(tmp_path):
    plain = "a photo of a red_cube & a blue cone > 2 [left] of 3 <= 4"
    hostile = "_em_ [link](http://x) &amp; ~~gone~~ C:\\path\\*"
    runs = []
    for name, correct in (("a", [F]), ("b", [T])):
        path = geneval_run(tmp_path / name, "shapes", {"00000": ("single_object", plain, correct),
                                                        "00001": ("color_attr", hostile, correct)})
        runs.append(load_run(path, f"run_{name}"))
    write_report(build_report(runs, n_boot=200), tmp_path / "out", {"md"})
    md = (tmp_path / "out" / "report.md").read_text()
    assert md.startswith("# Benchmark comparison, baseline: run_a\n")
    assert plain in md and "single_object" in md and "| run_b |" in md  # ordinary text is left as it is
    assert "&gt;" not in md and "\\_" not in md.replace("\\_em\\_", "")
    assert "\\_em\\_ \\[link](http://x) &amp;amp; \\~\\~gone\\~\\~ C:\\path\\\\\\*" in md
    assert "**Shapes (synthetic GenEval): run_b is best" in md  # the verdict leads the suite


def test_a_run_continued_under_another_uno_commit_is_noted_in_markdown_and_html(two_runs, tmp_path):
    from uno_bench.runs import manifest

    base, uno = two_runs
    env = json.loads((uno / "manifest.json").read_text())["environment"]
    evil = "<script>x</script>"  # a hand-edited manifest is data, never markup
    for commit in ("c" * 40, evil):
        manifest.reconcile(uno, {"environment": {**env, "git_commit": commit}}, allow_code_change=True, stage="score")
    report = build_report([load_run(base, "base"), load_run(uno, "uno")], n_boot=200)
    [note] = report.suites[0].footnotes
    assert note.startswith("uno: made across 3 uno commits (unknown -> cccccccccccc -> <script>x</s, continued "
                           "with --allow-code-change)")
    write_report(report, tmp_path / "out", {"md", "html"})
    md = (tmp_path / "out" / "report.md").read_text()
    assert "- uno: made across 3 uno commits (unknown -> cccccccccccc -> &lt;script>x&lt;/s, continued" in md
    page = (tmp_path / "out" / "report.html").read_text()
    assert "uno: made across 3 uno commits" in page and "<script>x" not in page and "&lt;script&gt;x&lt;/s" in page
