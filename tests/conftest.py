"""Shared fixtures: a random tiny checkpoint in the official layout, and the shared suites folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    from uno_bench.models.bagel.random_init import make_random_checkpoint

    return make_random_checkpoint(tmp_path_factory.mktemp("tiny_ckpt"), "tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_loaded(tiny_ckpt):
    from uno_bench.models.bagel import checkpoint

    return checkpoint.load(tiny_ckpt, dtype=torch.float32)


@pytest.fixture(scope="session")
def shared_suites() -> Path:
    for candidate in (REPO.parent / "shared" / "suites", Path("/work/shared/suites")):
        if candidate.is_dir():
            return candidate
    pytest.skip("the shared benchmark data folder (../shared/suites) is not present")
