"""A training folder's recorded configuration: `--extend` continues a constant-rate run to more steps
and refuses anything else."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from uno_bench.errors import UnoError
from uno_train import outdir
from uno_train.presets import tiny_shapes
from uno_train.trainer import lr_at


def _made(tmp_path, preset):
    out = tmp_path / "run"
    outdir.claim(out, "pretrain", outdir.plain(preset))
    (out / "latest").write_text("checkpoints/step_0000010\n")  # the folder now holds results
    return out


def _with_steps(preset, steps: int, **train):
    return replace(preset, train=replace(preset.train, steps=steps, **train))


def test_extend_raises_the_recorded_step_count_and_says_so(tmp_path):
    preset = tiny_shapes()
    out = _made(tmp_path, preset)
    longer = _with_steps(preset, preset.train.steps + 2000)
    with pytest.raises(UnoError, match="different configuration"):
        outdir.claim(out, "pretrain", outdir.plain(longer))  # without --extend: refused as before
    outdir.claim(out, "pretrain", outdir.plain(longer), extend=True)
    manifest = json.loads((out / outdir.MANIFEST).read_text())
    assert manifest["config"]["train"]["steps"] == preset.train.steps + 2000
    assert manifest["extended"] == [{"from_steps": preset.train.steps, "to_steps": preset.train.steps + 2000}]
    outdir.claim(out, "pretrain", outdir.plain(longer))  # a plain resume of the longer run is now accepted


@pytest.mark.parametrize("change, why", [
    (dict(steps_delta=0), "more steps"),
    (dict(steps_delta=-100), "more steps"),
    (dict(steps_delta=100, lr=2e-3), "differs in more"),
    (dict(steps_delta=100, schedule="cosine"), "constant learning-rate"),
])
def test_extend_refuses_what_would_not_be_the_same_run(tmp_path, change, why):
    preset = tiny_shapes()
    out = _made(tmp_path, preset)
    delta = change.pop("steps_delta")
    with pytest.raises(UnoError, match=why):
        outdir.claim(out, "pretrain", outdir.plain(_with_steps(preset, preset.train.steps + delta, **change)),
                     extend=True)


def test_extend_needs_a_run_to_continue(tmp_path):
    with pytest.raises(UnoError, match="holds none"):
        outdir.claim(tmp_path / "empty", "pretrain", outdir.plain(tiny_shapes()), extend=True)


def test_a_constant_schedule_gives_every_step_the_same_rate_whatever_the_length():
    """Why extending is the same arithmetic: the rate at step k does not depend on the total."""
    short, long = tiny_shapes().train, replace(tiny_shapes().train, steps=3 * tiny_shapes().train.steps)
    assert all(lr_at(k, short) == lr_at(k, long) for k in range(0, short.steps, 7))
    cosine = replace(short, schedule="cosine", min_lr=0.0)
    assert lr_at(short.steps // 2, cosine) != lr_at(short.steps // 2, replace(cosine, steps=3 * short.steps))
