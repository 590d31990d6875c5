"""SIGKILL a run mid-generation and mid-scoring, re-run it: same records as an uninterrupted run, and
no partial file anywhere (the model really draws: shapes-oracle renders every image)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import uno_cmd

from uno_bench.runs.atomic import png_complete
from uno_bench.runs.records import read_lines

ARGS = ["run", "shapes", "--model", "shapes-oracle", "--limit", "30"]  # 120 images


def _kill_when(cmd: list[str], env: dict[str, str], ready: Callable[[], bool], timeout: float = 60) -> None:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _finish_and_check(run_dir: Path, env: dict[str, str], reference: Path) -> None:
    done = subprocess.run(uno_cmd(*ARGS, "--run-dir", str(run_dir)), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert not list(run_dir.rglob("*.uno-tmp")) and not list(run_dir.glob("records.rank-*"))
    assert all(png_complete(p) for p in run_dir.rglob("*.png"))
    assert (run_dir / "records.jsonl").read_bytes().endswith(b"\n")
    key = lambda r: r["key"]  # noqa: E731
    assert sorted(read_lines(run_dir / "records.jsonl"), key=key) == sorted(
        read_lines(reference / "records.jsonl"), key=key)
    assert (run_dir / "summary.json").read_bytes() == (reference / "summary.json").read_bytes()


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    from uno_bench.runs.pipeline import RunOptions, run_suite

    run_dir = tmp_path_factory.mktemp("reference")
    run_suite(RunOptions(suite="shapes", model="shapes-oracle", limit=30, run_dir=run_dir, show_progress=False))
    return run_dir


@pytest.mark.slow
def test_kill_mid_generation(tmp_path, uno_env, reference):
    run_dir = tmp_path / "run"
    _kill_when(uno_cmd(*ARGS, "--run-dir", str(run_dir)), uno_env,
               lambda: len(list((run_dir / "images").glob("*/samples/*.png"))) >= 10)
    assert len(list(run_dir.rglob("*.png"))) < 120 and not (run_dir / "records.jsonl").exists()
    _finish_and_check(run_dir, uno_env, reference)


@pytest.mark.slow
def test_kill_mid_scoring(tmp_path, uno_env, reference):
    run_dir = tmp_path / "run"
    shard = run_dir / "records.rank-00000.jsonl"
    _kill_when(uno_cmd(*ARGS, "--run-dir", str(run_dir)), uno_env, lambda: _lines(shard) >= 10)
    assert 10 <= _lines(shard) < 120 and not (run_dir / "records.jsonl").exists()
    _finish_and_check(run_dir, uno_env, reference)
