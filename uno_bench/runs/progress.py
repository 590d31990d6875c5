"""Progress for long phases: rich bars and spinners on stderr, shown by rank 0 only (other ranks stay quiet).

Every bar fits an 80-column line: descriptions longer than `DESCRIPTION_WIDTH` end in an ellipsis, the bar
itself shrinks, and times are compact (`1:05 eta 0:30`). The ETA leaves out the first updates of a phase
(model warm-up, the first batch, allocator and caches make them slow), so it is not 6x too long at the start.
"""

from __future__ import annotations

import math
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
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Column
from rich.text import Text

_console = Console(stderr=True)
DESCRIPTION_WIDTH = 36  # longer descriptions are cut with an ellipsis, so counts and times always show


def clock(seconds: float) -> str:
    """`m:ss`, `h:mm:ss` from an hour on, `123h` from 100 hours on."""
    minutes, secs = divmod(max(0, int(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours >= 100:
        return f"{hours}h"
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def warmup_units(total: float | None) -> int:
    """Units of a phase left out of its ETA: 2% of it, at least 1, at most 10 (e.g. 3 of 120 training
    steps, the first batch of 176 images)."""
    return 1 if not total else max(1, min(10, math.ceil(0.02 * total)))


class TimeColumn(ProgressColumn):
    """Elapsed time and an ETA that settles after warm-up: `0:12 eta 0:52`, `0:03 eta -:--` while warming
    up, the elapsed time alone once finished.

    rich's TimeRemainingColumn divides by the speed of the last 30 s, which at the start is the speed of
    the warm-up (the first training steps read 6:43 for a phase that took 64 s). Here the first
    `warmup_units(total)` units after the count this column first sees (a resumed run starts above 0) are
    left out: the ETA is the mean rate since then, measured at the updates this column observes (it is
    rendered at every refresh), counted down between updates.
    """

    def __init__(self, warmup: int | None = None, table_column: Column | None = None):
        self.warmup = warmup
        self._seen: dict[int, dict[str, float]] = {}
        super().__init__(table_column=table_column or Column(no_wrap=True))

    def eta(self, task: Task) -> float | None:
        """Seconds left, or None while warming up (or before the task starts)."""
        now, done = task.elapsed, task.completed
        if now is None or task.total is None:
            return None
        seen = self._seen.setdefault(task.id, {"start": done})
        skip = warmup_units(task.total) if self.warmup is None else self.warmup
        if "t0" not in seen:
            if done < seen["start"] + skip:
                return None
            seen.update(t0=now, c0=done, t=now, c=done)
        if done != seen["c"]:
            seen.update(t=now, c=done)
        if seen["c"] <= seen["c0"]:
            return None
        rate = (seen["c"] - seen["c0"]) / max(seen["t"] - seen["t0"], 1e-9)
        return max(0.0, (task.total - seen["c"]) / rate - (now - seen["t"]))

    def render(self, task: Task) -> Text:
        elapsed = clock(task.finished_time if task.finished and task.finished_time is not None
                        else task.elapsed or 0)
        if task.finished or task.total is None:
            return Text(elapsed, style="progress.elapsed")
        left = self.eta(task)
        text = Text(elapsed + " ", style="progress.elapsed")
        text.append(f"eta {'-:--' if left is None else clock(left)}", style="progress.remaining")
        return text


def description_column(template: str = "[bold]{task.description}", width: int = DESCRIPTION_WIDTH) -> TextColumn:
    return TextColumn(template, table_column=Column(max_width=width, no_wrap=True, overflow="ellipsis"))


def bar_columns() -> tuple[ProgressColumn, ...]:
    """`description ━━━━━━ 50/176 0:12 eta 0:31`: the columns of `progress`."""
    return (description_column(), BarColumn(), MofNCompleteColumn(table_column=Column(no_wrap=True)), TimeColumn())


@contextmanager
def progress(description: str, total: int, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yields `advance(n)`; a no-op when disabled or when there is nothing to do."""
    if not enabled or total == 0:
        yield lambda n=1: None
        return
    with Progress(*bar_columns(), console=_console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def note(message: str, enabled: bool = True, soft_wrap: bool = False) -> None:
    """soft_wrap: one line even when redirected (rich would cut it at 80 columns), so logs stay greppable."""
    if enabled:
        _console.print(message, highlight=False, soft_wrap=soft_wrap)


def is_main_process() -> bool:
    """Rank 0, or not under torchrun."""
    return os.environ.get("RANK", "0") == "0"


@contextmanager
def spinner(description: str, enabled: bool = True) -> Iterator[None]:
    """A spinner with elapsed time for a phase of unknown length (loading a checkpoint, captioning)."""
    if not enabled or not is_main_process() or not _console.is_terminal:  # off a terminal it only adds a blank line
        yield
        return
    bar = Progress(SpinnerColumn(), description_column("{task.description}", 64), TimeElapsedColumn(),
                   console=_console, transient=True)
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
    columns = (description_column("{task.description}", 30), BarColumn(), DownloadColumn(),
               TransferSpeedColumn(), TimeRemainingColumn(compact=True))
    with Progress(*columns, console=_console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
