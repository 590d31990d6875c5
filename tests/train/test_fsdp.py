"""2 ranks with FSDP2 on gloo give the same training as 1 rank on the same global batch."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file
from torchrun_workers import run_workers

WORKER = Path(__file__).with_name("fsdp_worker.py")


def _run(cmd: list[str], env) -> dict[str, list]:
    return run_workers(cmd, env, ("LOSSES", "GRADNORMS"))


def test_two_rank_fsdp_matches_one_rank(tiny_ckpt, tmp_path, uno_env):
    one = _run([sys.executable, str(WORKER), str(tiny_ckpt), str(tmp_path / "one")], uno_env)
    two = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                str(WORKER), str(tiny_ckpt), str(tmp_path / "two")], uno_env)
    assert one["LOSSES"] == pytest.approx(two["LOSSES"], rel=1e-5)
    assert one["GRADNORMS"] == pytest.approx(two["GRADNORMS"], rel=1e-4)
    a = load_file(str(tmp_path / "one" / "ema.safetensors"))
    b = load_file(str(tmp_path / "two" / "ema.safetensors"))
    assert set(a) == set(b)
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
