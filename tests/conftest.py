"""Shared fixtures: a random tiny checkpoint in the official layout, where the official data lives,
and how to launch uno in a subprocess."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent

torch.set_num_threads(min(2, os.cpu_count() or 1))


def _shared_suites() -> Path | None:
    for candidate in (REPO.parent / "shared" / "suites", Path("/work/shared/suites")):
        if (candidate / "geneval" / "prompts" / "evaluation_metadata.jsonl").is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def shared_suites() -> Path:
    """The official data files (never committed to the repo): ../shared/suites beside the checkout."""
    found = _shared_suites()
    if found is None:
        pytest.skip("official suite data not found at ../shared/suites or /work/shared/suites")
    return found


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    from uno_bench.models.bagel.random_init import make_random_checkpoint

    return make_random_checkpoint(tmp_path_factory.mktemp("tiny_ckpt"), "tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_loaded(tiny_ckpt):
    from uno_bench.models.bagel import checkpoint

    return checkpoint.load(tiny_ckpt, dtype=torch.float32)


@pytest.fixture()
def uno_env(tmp_path: Path) -> dict[str, str]:
    """Environment for subprocesses: this checkout's uno_bench first, caches inside tmp_path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["UNO_CACHE_DIR"] = str(tmp_path / "cache")
    env.pop("UNO_DATA_DIR", None)
    env.pop("UNO_DEBUG", None)
    env.pop("WORLD_SIZE", None)
    env.pop("RANK", None)
    env["COLUMNS"] = "200"  # rich tables unwrapped, so tests can read them
    return env


def uno_cmd(*args: str) -> list[str]:
    """`uno-bench ARGS` as a subprocess command line (tests import this via `from conftest import`)."""
    return [sys.executable, "-m", "uno_bench.cli", *args]


@pytest.fixture
def fresh_loaded(tiny_ckpt):
    """A fresh copy of the tiny model (training tests mutate it)."""
    from uno_bench.models.bagel import checkpoint

    return checkpoint.load(tiny_ckpt, dtype=torch.float32)
