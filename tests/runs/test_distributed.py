"""torchrun with 2 CPU processes (gloo) gives the same records and a byte-identical summary as 1 process."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import uno_cmd

from uno_bench.runs.records import read_lines

TORCHRUN = Path(sys.executable).with_name("torchrun")


@pytest.mark.slow
@pytest.mark.skipif(not TORCHRUN.exists() and shutil.which("torchrun") is None, reason="torchrun not installed")
def test_two_ranks_equal_one(tmp_path, uno_env):
    args = ["run", "shapes", "--model", "shapes-oracle", "--limit", "10", "--images-per-prompt", "3"]
    single = subprocess.run(uno_cmd(*args, "--run-dir", str(tmp_path / "one")), env=uno_env,
                            capture_output=True, text=True)
    assert single.returncode == 0, single.stderr

    torchrun = str(TORCHRUN if TORCHRUN.exists() else shutil.which("torchrun"))
    launch = [torchrun, "--standalone", "--nproc_per_node", "2", "-m", "uno_bench.cli", *args,
              "--run-dir", str(tmp_path / "two")]
    double = subprocess.run(launch, env=uno_env, capture_output=True, text=True, timeout=240)
    assert double.returncode == 0, double.stderr

    one, two = tmp_path / "one", tmp_path / "two"
    assert (one / "summary.json").read_bytes() == (two / "summary.json").read_bytes()
    by_key = lambda run: sorted(read_lines(run / "records.jsonl"), key=lambda r: r["key"])  # noqa: E731
    assert by_key(one) == by_key(two) and len(by_key(two)) == 30
    assert not list(two.glob("records.rank-*")) and not list(two.rglob("*.uno-tmp"))
    for png in one.rglob("*.png"):
        assert png.read_bytes() == (two / png.relative_to(one)).read_bytes()
