"""`uno-bench suites list / show`: data state per suite, without importing torch."""

from __future__ import annotations

import shutil
import subprocess
import sys

from conftest import uno_cmd


def _row(stdout: str, suite: str) -> str:
    return next(line for line in stdout.splitlines() if f"│ {suite} " in line)


def test_list_shows_verified_missing_and_mismatching_data(tmp_path, shared_suites, uno_env):
    data = tmp_path / "data"
    shutil.copytree(shared_suites / "geneval", data / "geneval")
    names = data / "geneval/prompts/object_names.txt"
    names.write_text(names.read_text().replace("person", "human"))
    cmd = [sys.executable, "-X", "importtime", "-m", "uno_bench.cli", "suites", "list", "--data-dir", str(data)]
    done = subprocess.run(cmd, env=uno_env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "MISMATCH: geneval/prompts/object_names.txt" in _row(done.stdout, "geneval")
    assert "missing 1/1: data" in _row(done.stdout, "geneval2")
    assert "no data files needed" in _row(done.stdout, "shapes")
    assert "edit" in _row(done.stdout, "gedit") and "edit" in _row(done.stdout, "shapes-edit")
    assert "ready" not in done.stdout and "spec only" not in done.stdout  # every shipped suite runs: no such column
    dpg = _row(done.stdout, "dpg_bench")
    assert "dpg, dpg-bench" in dpg and "missing 2/2: prompts_index, questions" in dpg
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "import time:" in line}
    assert "uno_bench.suites.spec" in imported and "torch" not in imported


def test_show_prints_settings_and_published_numbers(uno_env, shared_suites):
    done = subprocess.run(uno_cmd("suites", "show", "gen-eval", "--data-dir", str(shared_suites)), env=uno_env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "cfg_interval = [0.0, 1.0]" in done.stdout and "metadata             verified" in done.stdout
    assert "reference: BAGEL overall = 0.88, prompts: BAGEL rewritten" in done.stdout
