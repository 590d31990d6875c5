"""Rank-sharded work under torchrun (single node or many), and a no-op context otherwise.

Detection: torchrun sets RANK / WORLD_SIZE / LOCAL_RANK. With WORLD_SIZE > 1 the process group is
initialised with NCCL when CUDA is available, gloo otherwise (that is how CPU tests run it).
Ranks exchange nothing but barriers: every rank writes its own images and its own records shard
into the run dir, which therefore must be on storage all nodes share. torch is imported only when
there is more than one rank.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from uno_bench.errors import UnoError

T = TypeVar("T")
# Ranks wait at barriers while others finish their shard; generation imbalance can be long.
_DEFAULT_TIMEOUT_MIN = 180


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None  # None: single process, no process group
    _owned: bool = False  # whether we initialised the group (and so destroy it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def device(self) -> str:
        """Where this rank's model goes: its local GPU under NCCL, else the CPU."""
        return f"cuda:{self.local_rank}" if self.backend == "nccl" else "cpu"

    def shard(self, items: list[T]) -> list[T]:
        """Round-robin share of a deterministic list; the union over ranks is the whole list."""
        return items[self.rank :: self.world_size]

    def barrier(self) -> None:
        if self.backend is None:
            return
        import torch.distributed as tdist

        if self.backend == "nccl":
            tdist.barrier(device_ids=[self.local_rank])
        else:
            tdist.barrier()

    def close(self) -> None:
        if self._owned:
            import torch.distributed as tdist

            tdist.destroy_process_group()
            self._owned = False


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise UnoError(f"environment variable {name}={raw!r} is not an integer") from None


def from_env() -> Dist:
    """The rank layout torchrun set up, with the process group initialised (idempotent)."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local = _env_int("LOCAL_RANK", 0)
    if world <= 1:
        return Dist()
    if not 0 <= rank < world:
        raise UnoError(f"RANK={rank} is outside WORLD_SIZE={world}")
    import torch
    import torch.distributed as tdist

    if tdist.is_initialized():
        return Dist(rank, world, local, tdist.get_backend())
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local)
    minutes = _env_int("UNO_DIST_TIMEOUT_MIN", _DEFAULT_TIMEOUT_MIN)
    tdist.init_process_group(backend=backend, timeout=timedelta(minutes=minutes))
    return Dist(tdist.get_rank(), tdist.get_world_size(), local, backend, _owned=True)
