"""Run a torchrun worker script in a subprocess and read the JSON lines it prints (shared by the FSDP tests)."""

from __future__ import annotations

import json
import os
import signal
import subprocess


def run_workers(cmd: list[str], env, keys: tuple[str, ...]) -> dict[str, list]:
    """Lines `KEY <json>` for each KEY in `keys`. A new session, so a hung run's workers (torchrun's
    children) die with it instead of lingering."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert proc.returncode == 0, stderr[-3000:]
    out = {}
    for line in stdout.splitlines():
        key, _, payload = line.partition(" ")
        if key in keys:
            out[key] = json.loads(payload)
    return out
