"""Representation probe: linear probes recover planted signals and fall to chance on shuffled labels, linear
CKA behaves, paired differences, and an end-to-end run of `uno-train probe` on the shipped tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from uno_bench.shapes.world import Scene, ShapeObject
from uno_train import probe as p


@pytest.fixture(autouse=True)
def _one_thread():
    # Small L-BFGS problems: with other jobs on the cores, extra threads only spin.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _planted(n: int = 400, d: int = 16, k: int = 4, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    w = torch.randn(d, k, generator=g)
    return x, (x @ w).argmax(1).numpy()  # the label is a linear function of the features


def test_probe_recovers_a_planted_linear_signal():
    x, y = _planted(n=1000, d=8)
    pred = p.fit_probe(x[:750], y[:750], x[750:])
    assert np.mean(pred == y[750:]) > 0.93
    assert p.majority_rate(y[:750], y[750:]) < 0.45


def test_probe_reports_chance_on_shuffled_labels():
    x, y = _planted(n=1200, k=2)
    y = np.random.default_rng(1).permutation(y)  # no relation left between features and labels
    pred = p.fit_probe(x[:900], y[:900], x[900:])
    chance = p.majority_rate(y[:900], y[900:])
    assert 0.4 < chance < 0.6
    assert abs(np.mean(pred == y[900:]) - chance) < 0.08


def test_batched_probes_match_single_fits():
    x, y = _planted(n=200)
    stack = torch.stack([x, -2 * x, torch.randn_like(x)])
    batched = p.fit_probe(stack[:, :150], y[:150], stack[:, 150:])
    for c in range(3):
        assert (batched[c] == p.fit_probe(stack[c, :150], y[:150], stack[c, 150:])).mean() > 0.97


def test_linear_cka_is_one_on_itself_and_near_zero_on_independent_noise():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 12, generator=g)
    q, _ = torch.linalg.qr(torch.randn(12, 12, generator=g))
    assert p.linear_cka(x, x) == pytest.approx(1.0)
    assert p.linear_cka(x, 3.0 * x @ q + 1.0) == pytest.approx(1.0)  # invariant to rotation, scale, shift
    assert p.linear_cka(x, torch.randn(500, 20, generator=g)) < 0.05


def test_labels_describe_the_largest_object():
    scene = Scene((ShapeObject("circle", "red", 0.8, 0.5, 0.2), ShapeObject("cross", "blue", 0.3, 0.4, 0.3),
                   ShapeObject("square", "green", 0.7, 0.2, 0.21)))
    assert p.scene_labels(scene) == {"color": "blue", "shape": "cross", "count": "3", "position": "left"}


def _synthetic(label: str, hits: np.ndarray) -> p.CheckpointProbe:
    correct = {a: hits for a in p.ATTRIBUTES}
    return p.CheckpointProbe(label, label, {}, hits.shape[0], (0.1, 0.9), {a: ["x", "y"] for a in p.ATTRIBUTES},
                             {a: 0.5 for a in p.ATTRIBUTES}, correct, np.full(hits.shape[:2], 0.3))


def test_paired_difference_has_bootstrap_cis_per_cell():
    rng = np.random.default_rng(0)
    base = rng.random((2, 2, 100)) < 0.5
    better = base.copy()
    better[1, 1] = True  # layer 1, t=0.9: every held-out scene right
    cfg = p.ProbeConfig(n=400, times=(0.1, 0.9), n_boot=500)
    diffs = p.compare([_synthetic("control", base), _synthetic("uno", better)], cfg)
    cells = diffs[0]["attributes"]["color"]
    assert cells["L0@t0.1"]["value"] == 0.0 and cells["L0@t0.1"]["low"] == 0.0 == cells["L0@t0.1"]["high"]
    gain = cells["L1@t0.9"]
    assert gain["value"] == pytest.approx(1 - base[1, 1].mean()) and gain["low"] > 0


def test_bad_input_is_a_one_line_error():
    from uno_bench.errors import UnoError

    with pytest.raises(UnoError):
        p.ProbeConfig(times=(0.5, 1.5))
    with pytest.raises(UnoError):
        p.ProbeConfig(prompt="prompt")


def test_cli_probes_the_tiny_model_end_to_end(tmp_path):
    from typer.testing import CliRunner

    from uno_train.cli import app

    out = tmp_path / "probe"
    result = CliRunner().invoke(app, ["probe", "--ckpt", "tiny", "--out", str(out), "--n", "12", "--t", "0.1,0.9",
                                      "--threads", "1"])
    assert result.exit_code == 0, result.output
    for name in ("probe.json", "probe.md", "probe.csv", "probe.png"):
        assert (out / name).stat().st_size > 0
    data = json.loads((out / "probe.json").read_text())
    (ck,) = data["checkpoints"]
    layers = 4 + 1  # the tiny model's 4 decoder layers + the input embeddings
    for attr in p.ATTRIBUTES:
        acc = np.array(ck["accuracy"][attr])
        assert acc.shape == (layers, 2) and ((acc >= 0) & (acc <= 1)).all()
    assert np.array(ck["cka_vit"]).shape == (layers, 2)
    assert data["config"]["n_test"] == 3 and data["differences"] == []
    assert "## tiny" in (out / "probe.md").read_text()
    from uno_bench.errors import UnoError

    bad = CliRunner().invoke(app, ["probe", "--ckpt", "tiny", "--out", str(out), "--t", "0.1,x"])
    assert isinstance(bad.exception, UnoError) and "--t" in str(bad.exception)  # run_app: one line, exit 2
