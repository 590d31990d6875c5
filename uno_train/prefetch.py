"""Make the next step's training examples in a worker process while the current step computes.

On a CPU, rendering and drawing the shapes world cost ~a quarter of a tiny model's step when done
in the training process; a forked worker overlaps that with the model's arithmetic. Examples are
pure functions of (source, index), so the result is identical with or without prefetching.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

_SOURCE: Any = None
_MAKE: Callable | None = None


def _init(source: Any, make: Callable) -> None:
    global _SOURCE, _MAKE
    import torch

    torch.set_num_threads(1)  # the worker only renders; the training process keeps the cores
    _SOURCE, _MAKE = source, make


def _make_many(indices: list[int]) -> dict[int, Any]:
    assert _MAKE is not None
    return {i: _MAKE(_SOURCE, i) for i in indices}


class Prefetcher:
    def __init__(self, source: Any, make: Callable[[Any, int], Any]):
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        self._pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=_init, initargs=(source, make))
        self._pending: tuple[tuple[int, ...], Future] | None = None

    def get(self, indices: list[int], upcoming: list[int]) -> dict[int, Any]:
        """The examples of `indices` (waiting for the worker if it is making them), and start
        making `upcoming` in the background."""
        key = tuple(indices)
        if self._pending is not None and self._pending[0] == key:
            made = self._pending[1].result()
        else:  # first step, or after a resume: make them now
            made = self._pool.submit(_make_many, list(indices)).result()
        self._pending = (tuple(upcoming), self._pool.submit(_make_many, list(upcoming))) if upcoming else None
        return made

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
