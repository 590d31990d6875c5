"""The training bar and the bench bars fit 80 columns with nothing cut; the ETA leaves out warm-up.

A fake clock drives every bar (no timed tests): rich renders into a recording Console of width 80.
"""

from __future__ import annotations

import io
import re

from rich.console import Console

from uno_bench.runs.progress import DESCRIPTION_WIDTH, TimeColumn, bar_columns, warmup_units
from uno_train.trainer import bar_info, info_room, progress_bar


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _console(width: int = 80) -> Console:
    return Console(width=width, file=io.StringIO(), record=True, color_system=None, force_terminal=False)


def _lines(console: Console, bar) -> list[str]:
    console.print(bar.get_renderable())
    return [line.rstrip() for line in console.export_text(clear=True).splitlines() if line.strip()]


def _record(**losses: float) -> dict:
    return {"step": 1, "loss": sum(losses.values()), **losses, "lr": 1e-4, "grad_norm": 1.0, "tokens": 9000,
            "tokens_per_s": 3185.4}


WEIGHTS = {"ce": 1.0, "mse": 1.0, "uno_caption": 1.0, "uno_regression": 1.0}
ARMS = {  # what the quickstart's arms and a full UNO run log
    "control": _record(mse=0.21461),
    "captioning": _record(mse=0.23853, uno_caption=1.56012),
    "both proxies": _record(mse=0.23853, uno_caption=1.56012, uno_regression=0.12345),
    "everything": _record(ce=2.34567, mse=0.23853, uno_caption=1.56012, uno_regression=0.12345),
}


def test_the_training_line_fits_80_columns_with_every_loss():
    """Up to 99,999 steps, ETAs up to 99 hours: every loss shows, nothing is cut."""
    for arm, rec in ARMS.items():
        for steps, seconds_per_step in ((120, 1.3), (120, 1000.0), (5000, 7.0), (99_999, 2.0)):
            console, clock = _console(), Clock()
            with progress_bar(console=console, get_time=clock) as bar:
                task = bar.add_task("train", total=steps, completed=0, info="")
                _lines(console, bar)
                room = info_room(console.width, steps)
                for step in range(1, 12):
                    clock.now += seconds_per_step
                    bar.update(task, completed=step, info=bar_info(rec, WEIGHTS, room))
                    lines = _lines(console, bar)
                    assert len(lines) == 1 and len(lines[0]) <= 80, (arm, steps, lines)
                    line = lines[0]
                    assert "…" not in line, (arm, line)  # rich cuts a line too long for the console with "…"
                    for key, short in (("ce", "ce"), ("mse", "mse"), ("uno_caption", "cap"),
                                       ("uno_regression", "reg")):
                        if key in rec:
                            assert f"{short} {rec[key]:.3g}" in line, (arm, line)
                    assert f"{step}/{steps}" in line and "eta" in line
            assert "eta -:--" not in line  # measured after the warm-up steps
            if arm == "control":  # the one term is the whole loss: not shown twice
                assert "mse 0.215" in line and "loss" not in line and "3.2k tok/s" in line
            if arm == "captioning" and steps == 120:
                assert "loss 1.8 mse 0.239 cap 1.56 3.2k tok/s" in line


def test_bar_info_drops_speed_then_total_never_a_term():
    rec = ARMS["everything"]
    assert bar_info(rec, WEIGHTS) == "loss 4.27 ce 2.35 mse 0.239 cap 1.56 reg 0.123 3.2k tok/s"
    assert bar_info(rec, WEIGHTS, room=50) == "loss 4.27 ce 2.35 mse 0.239 cap 1.56 reg 0.123"
    assert bar_info(rec, WEIGHTS, room=40) == "ce 2.35 mse 0.239 cap 1.56 reg 0.123"  # the sum of the terms
    assert bar_info(rec, WEIGHTS, room=10) == "ce 2.35 mse 0.239 cap 1.56 reg 0.123"  # terms always show
    assert bar_info(_record(mse=0.5), {"mse": 2.0}) == "loss 0.5 mse 0.5 3.2k tok/s"  # weighted: both


def test_the_eta_leaves_out_the_warm_up_steps():
    """Three slow warm-up steps (20 s each), then 0.5 s steps: the first ETA is the steady one."""
    console, clock = _console(), Clock()
    steps = 120
    assert warmup_units(steps) == 3
    etas = []
    with progress_bar(console=console, get_time=clock) as bar:
        task = bar.add_task("train", total=steps, completed=0, info="")
        time_column = bar.columns[-1]
        assert isinstance(time_column, TimeColumn)
        _lines(console, bar)  # a terminal's refresh renders the bar as soon as the task exists
        for step in range(1, steps + 1):
            clock.now += 20.0 if step <= 3 else 0.5
            bar.update(task, completed=step, info="")
            etas.append(time_column.eta(bar.tasks[0]))
            if step < 4:
                assert "eta -:--" in _lines(console, bar)[0]
        final = _lines(console, bar)[0]
    assert etas[:3] == [None] * 3  # steps 1-3 warm up; step 4 is the first measured one
    for step, eta in enumerate(etas[3:-1], start=4):
        assert abs(eta - 0.5 * (steps - step)) < 1e-6, (step, eta)
    assert final.split()[-2:] == [f"{steps}/{steps}", "1:58"]  # finished: the elapsed time alone (60 s + 117 x 0.5 s)


def test_richs_own_estimate_would_include_the_warm_up():
    """Why TimeColumn exists: the same steps under rich's TimeRemainingColumn read 13 min at step 5."""
    clock = Clock()
    with progress_bar(console=_console(), get_time=clock) as bar:
        task = bar.add_task("train", total=120, completed=0, info="")
        column = bar.columns[-1]
        column.eta(bar.tasks[0])
        for step in range(1, 6):
            clock.now += 20.0 if step <= 3 else 0.5
            bar.update(task, completed=step)
            eta = column.eta(bar.tasks[0])
        assert eta == 0.5 * 115
        assert bar.tasks[0].time_remaining > 13 * 60


def test_a_resumed_run_counts_warm_up_from_where_it_starts():
    clock = Clock()
    with progress_bar(console=_console(), get_time=clock) as bar:
        task = bar.add_task("train", total=200, completed=100, info="")
        column = bar.columns[-1]
        assert column.eta(bar.tasks[0]) is None
        for step in range(101, 110):
            clock.now += 1.0
            bar.update(task, completed=step)
            eta = column.eta(bar.tasks[0])
            assert (eta is None) == (step < 105), (step, eta)  # 4 warm-up steps (2% of 200)
        assert eta == 200 - 109


def test_the_eta_counts_down_between_updates():
    clock = Clock()
    with progress_bar(console=_console(), get_time=clock) as bar:
        task = bar.add_task("train", total=10, completed=0, info="")
        column = bar.columns[-1]
        column.eta(bar.tasks[0])
        for step in (1, 2, 3):
            clock.now += 10.0
            bar.update(task, completed=step)
            column.eta(bar.tasks[0])
        assert column.eta(bar.tasks[0]) == 70.0
        clock.now += 4.0
        assert column.eta(bar.tasks[0]) == 66.0


def test_bench_bars_fit_80_columns():
    """The bars quickstart and ablate show: generate, score (with the judge), sampler steps; long names are cut
    with an ellipsis in the description only, never in the counts or times."""
    from rich.progress import Progress

    descriptions = ["generate shapes-mini", "score shapes-mini (shapes-analytic)", "generate 4 image(s)",
                    "score unigenbench_en_long (qwen2.5-vl-72b-instruct, offline)"]
    for description in descriptions:
        for total in (176, 12_345):
            console, clock = _console(), Clock()
            with Progress(*bar_columns(), console=console, get_time=clock, auto_refresh=False) as bar:
                task = bar.add_task(description, total=total)
                _lines(console, bar)
                for done in range(1, 9):
                    clock.now += 3600.0
                    bar.update(task, completed=done)
                    (line,) = _lines(console, bar)
                    assert len(line) <= 80, line
                    assert f"{done}/{total}" in line and "eta" in line, line
                    assert re.search(r" \d+:\d\d(:\d\d)? eta (-:--|\d+h|\d+:\d\d(:\d\d)?)$", line), line
                    if len(description) <= DESCRIPTION_WIDTH:
                        assert line.startswith(description) and "…" not in line, line
                    else:
                        assert line.startswith(description[:30]) and line.index("…") < DESCRIPTION_WIDTH, line
