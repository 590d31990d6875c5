"""Progress for long phases: rich bars and spinners on stderr, shown by rank 0 only (other ranks stay quiet)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.errors import LiveError
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

_console = Console(stderr=True)


@contextmanager
def progress(description: str, total: int, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yields `advance(n)`; a no-op when disabled or when there is nothing to do."""
    if not enabled or total == 0:
        yield lambda n=1: None
        return
    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(),
    )
    with Progress(*columns, console=_console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def note(message: str, enabled: bool = True) -> None:
    if enabled:
        _console.print(message, highlight=False)


def is_main_process() -> bool:
    """Rank 0, or not under torchrun."""
    return os.environ.get("RANK", "0") == "0"


@contextmanager
def spinner(description: str, enabled: bool = True) -> Iterator[None]:
    """A spinner with elapsed time for a phase of unknown length (loading a checkpoint, captioning)."""
    if not enabled or not is_main_process() or not _console.is_terminal:  # off a terminal it only adds a blank line
        yield
        return
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=_console,
                   transient=True)
    try:
        bar.start()
    except LiveError:  # another bar is already on screen and shows that work is going on
        yield
        return
    bar.add_task(description, total=None)
    try:
        yield
    finally:
        bar.stop()


@contextmanager
def sampler_steps(description: str, total: int, enabled: bool = True) -> Iterator[None]:
    """A bar advanced by every denoising step the sampler takes inside the block."""
    from uno_bench.models.bagel.sampler import STEP_HOOK

    with progress(description, total, enabled and is_main_process()) as advance:
        token = STEP_HOOK.set(lambda: advance(1))
        try:
            yield
        finally:
            STEP_HOOK.reset(token)


@contextmanager
def download_bar(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """Bytes, speed and ETA of one download, on a terminal (a log keeps only the outcome line)."""
    if not _console.is_terminal:
        yield lambda n: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=_console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
