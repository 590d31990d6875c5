"""`uno-bench quickstart --budget ci` end to end: baseline run, UNO ablation, report."""

from __future__ import annotations

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
    for label in ("baseline", "control", "captioning"):
        assert label in md
    assert (out / "report" / "report.html").stat().st_size > 1000
    assert (out / "ablation" / "table.md").exists()
