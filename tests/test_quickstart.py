"""`uno-bench quickstart --budget ci` end to end: baseline run, UNO ablation, one report, its table printed."""

from __future__ import annotations

import csv
import subprocess
import sys

from uno_bench.assets import TINY_DIR


def test_quickstart_ci_budget(tmp_path, uno_env, tiny_ckpt):
    ckpt = "tiny" if (TINY_DIR / "ema.safetensors").exists() else str(tiny_ckpt)
    out = tmp_path / "qs"
    r = subprocess.run([sys.executable, "-m", "uno_bench", "quickstart", "--budget", "ci", "--ckpt", ckpt,
                        "--out", str(out)], capture_output=True, text=True, env=uno_env, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    md = (out / "report" / "report.md").read_text()
    assert md.startswith("# Benchmark comparison, baseline: baseline\n")
    for label in ("baseline", "control", "captioning"):
        assert label in md
    assert (out / "report" / "report.html").stat().st_size > 1000
    # One report: the ablation folder holds the arms, not a second table against another baseline.
    assert not (out / "ablation" / "table.md").exists() and not (out / "ablation" / "report").exists()
    assert not list((out / "ablation").rglob("optimizer*.pt"))  # finished arms keep no optimizer state
    # The table is on screen at the end, with the report's numbers.
    printed = r.stdout[r.stdout.index("Benchmark comparison, baseline: baseline"):]
    with open(out / "report" / "report.csv", newline="") as fh:
        overall = {row["row"]: row for row in csv.DictReader(fh) if row["column"] == "overall"}
    for label in ("baseline", "control", "captioning"):
        [line] = [ln for ln in printed.splitlines() if ln.lstrip().startswith(label + " ")
                  or ln.strip() == label or ln.lstrip().startswith(label + "  ")]
        assert f"{float(overall[label]['value']):.3f}" in line.split(), (label, line)
    assert printed.rstrip().splitlines()[-1].startswith("done in ")
