"""The table printed at the end of run / ablate / quickstart: the report's own numbers, led by the verdict."""

from __future__ import annotations

import csv
import subprocess

from conftest import uno_cmd
from report_builders import geneval_run
from rich.console import Console
from test_report_tables import BASE, UNO

from uno_bench.report import build_report, load_run, write_report
from uno_bench.report.terminal import print_report


def _printed(report, width: int) -> str:
    console = Console(record=True, width=width, highlight=False, color_system=None)
    print_report(report, console)
    return console.export_text()


def test_printed_table_has_the_reports_numbers_and_verdict(tmp_path):
    base = geneval_run(tmp_path / "base", "shapes", BASE, model="bagel")
    uno = geneval_run(tmp_path / "uno", "shapes", UNO, model="bagel-uno")
    report = build_report([load_run(base, "base"), load_run(uno, "uno")], baseline="base", n_boot=500)
    write_report(report, tmp_path / "out", {"csv"})
    with open(tmp_path / "out" / "report.csv", newline="") as fh:
        rows = {(r["row"], r["column"]): r for r in csv.DictReader(fh)}
    wide = _printed(report, 200)
    lines = wide.splitlines()
    assert lines[0] == "Benchmark comparison, baseline: base"
    # The answer comes before the table: uno is best, with its CI and the paired Δ with its CI.
    uno_overall = rows[("uno", "overall")]
    verdict = (f"uno is best, overall {float(uno_overall['value']):.3f} "
               f"[{float(uno_overall['ci_low']):.3f}, {float(uno_overall['ci_high']):.3f}]")
    assert verdict in lines[1]
    assert f"Δ {float(uno_overall['delta']):+.3f} [{float(uno_overall['delta_ci_low']):+.3f}, " in lines[1]
    [uno_line] = [ln for ln in lines if ln.lstrip().startswith("uno ")]
    numbers = uno_line.split()
    for col in ("single_object", "counting", "position", "overall"):
        assert f"{float(rows[('uno', col)]['value']):.3f}" in numbers, col
    assert "10/10" in numbers
    [base_line] = [ln for ln in lines if ln.lstrip().startswith("base (baseline)")]
    assert f"{float(rows[('base', 'overall')]['value']):.3f}" in base_line.split() and "9/10" in base_line

    # On an 80-column terminal the table splits in two rather than cutting or folding a number.
    narrow = _printed(report, 80)
    assert all(len(line) <= 80 for line in narrow.splitlines())
    assert f"{float(uno_overall['value']):.3f}" in narrow and "…" not in narrow


def test_run_prints_its_table(tmp_path, uno_env):
    done = subprocess.run(uno_cmd("run", "shapes", "--model", "shapes-oracle", "--limit", "3", "--out",
                                  str(tmp_path / "runs")), env=uno_env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Benchmark results" in out and "overall 1.000 [1.000, 1.000], coverage 12/12" in out
    header = next(line for line in out.splitlines() if "single object" in line)
    assert "overall" in header and "95% CI" in header and "coverage" in header
