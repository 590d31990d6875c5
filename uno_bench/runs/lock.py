"""One process per run dir (per rank under torchrun): a second one is refused, naming the holder.

Each rank holds an exclusive `flock` on `<run dir>/.uno-lock.rank-<r>` while it works; the kernel
releases it when the process ends, however it ends, so a killed run never leaves a stale lock. Two
jobs always collide on rank 0's file; the ranks of one job hold different files, so they coordinate
as before. The file says who holds it (pid, host, start time; never the command line, which may
carry a judge's API key).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from uno_bench.errors import UnoError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are not guarded there
    fcntl = None  # type: ignore[assignment]


def lock_path(run_dir: Path, rank: int) -> Path:
    return Path(run_dir) / f".uno-lock.rank-{rank:05d}"


@contextmanager
def hold(run_dir: Path, rank: int = 0) -> Iterator[None]:
    """Hold this rank's lock on `run_dir` (created if needed) for the duration of the block."""
    if fcntl is None:
        yield
        return
    path = lock_path(run_dir, rank)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 500, 0).decode("utf-8", "replace").strip() or "another process"
            raise UnoError(f"{run_dir} is in use by {holder}; wait for it to finish, or use another "
                           "--run-dir") from None
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"uno pid {os.getpid()} on {socket.gethostname()} (since {since})\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
