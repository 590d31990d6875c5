"""The training loop: loss falls, resume is exact, NaN stops cleanly, bad records are skipped."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from uno_bench.models.bagel import checkpoint
from uno_train.data import CaptionFolderSource, ShapesSource
from uno_train.trainer import Objective, TrainConfig, Trainer, TrainingDiverged

CFG = dict(batch_size=4, lr=3e-3, ema_decay=0.9, log_every=1, grad_accum=2)


def test_loss_falls_and_checkpoint_loads(tiny_ckpt, tmp_path):
    loaded = checkpoint.load(tiny_ckpt, dtype=torch.float32)
    out = tmp_path / "run"
    cfg = TrainConfig(steps=16, save_every=8, **{**CFG, "batch_size": 8})
    hist = Trainer(loaded, ShapesSource(seed=1, image_size=32), cfg, out, log=lambda s: None).run(progress=False)
    first, last = sum(r["loss"] for r in hist[:4]) / 4, sum(r["loss"] for r in hist[-4:]) / 4
    assert last < 0.8 * first
    assert (out / "latest").read_text().strip() == "checkpoints/step_0000016"
    reloaded = checkpoint.load(out, dtype=torch.float32)  # the exported folder is a plain BAGEL checkpoint
    assert reloaded.config == loaded.config
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 16


def test_resume_continues_the_same_loss_curve(tiny_ckpt, tmp_path):
    source = ShapesSource(seed=2, image_size=32)
    full = Trainer(checkpoint.load(tiny_ckpt, dtype=torch.float32), source, TrainConfig(steps=6, save_every=3, **CFG),
                   tmp_path / "full", log=lambda s: None).run(progress=False)
    Trainer(checkpoint.load(tiny_ckpt, dtype=torch.float32), source, TrainConfig(steps=3, save_every=3, **CFG),
            tmp_path / "part", log=lambda s: None).run(progress=False)
    resumed = Trainer(checkpoint.load(tiny_ckpt, dtype=torch.float32), source,
                      TrainConfig(steps=6, save_every=3, **CFG), tmp_path / "part", log=lambda s: None)
    assert resumed.resume() == 3
    rest = resumed.run(progress=False)
    assert [r["step"] for r in rest] == [4, 5, 6]
    for a, b in zip(full[3:], rest):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6, abs=1e-7)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tiny_ckpt, tmp_path):
    class Exploding(Objective):
        """The standard objective, whose flow loss turns NaN from step 2 on."""

        def __call__(self, trainer, packed):
            terms = super().__call__(trainer, packed)
            if trainer.step >= 2:
                terms["mse"] = terms["mse"] * float("nan")
            return terms

    t = Trainer(checkpoint.load(tiny_ckpt, dtype=torch.float32), ShapesSource(image_size=32),
                TrainConfig(steps=5, save_every=2, **CFG), tmp_path, objective=Exploding(), log=lambda s: None)
    with pytest.raises(TrainingDiverged, match="non-finite loss at step 2.*step_0000002"):
        t.run(progress=False)
    assert t.latest_checkpoint().name == "step_0000002"
    state = json.loads((t.latest_checkpoint() / "trainer_state.json").read_text())
    assert state["step"] == 2


def test_bad_records_are_counted_and_skipped(tiny_ckpt, tmp_path):
    Image.new("RGB", (32, 32), (30, 160, 50)).save(tmp_path / "ok.png")
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    lines = [
        {"image": "ok.png", "captions": ["a green square", "a green box"]},
        {"image": "missing.png", "captions": ["x"]},
        {"image": "ok.png", "captions": ["", "  "]},
        {"image": "broken.png", "captions": ["y"]},
    ]
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    source = CaptionFolderSource(data, t2i_fraction=0.5)
    logs = []
    t = Trainer(checkpoint.load(tiny_ckpt, dtype=torch.float32), source,
                TrainConfig(steps=2, batch_size=10, lr=1e-3, save_every=100, grad_accum=1), tmp_path / "out",
                log=logs.append)
    hist = t.run(progress=False)
    assert hist[-1]["bad_records"] == 16  # 4 of every 5 records are bad, 20 examples drawn
    assert any("unreadable image" in m for m in logs) and any("no caption" in m for m in logs)


def test_generation_side_gets_its_own_learning_rate(tiny_ckpt, tmp_path):
    from uno_train.trainer import is_gen_side

    loaded = checkpoint.load(tiny_ckpt, dtype=torch.float32)
    cfg = TrainConfig(steps=1, warmup_steps=0, **{**CFG, "lr": 1e-3}, gen_lr_scale=3.0)
    t = Trainer(loaded, ShapesSource(seed=1, image_size=32), cfg, tmp_path, log=lambda s: None)
    t.train_step()
    by_id = {id(p): g["lr"] for g in t.opt.param_groups for p in g["params"]}
    named = dict(t.model.named_parameters())
    assert {round(by_id[id(p)], 9) for n, p in named.items() if p.requires_grad and is_gen_side(n)} == {3e-3}
    assert {round(by_id[id(p)], 9) for n, p in named.items() if p.requires_grad and not is_gen_side(n)} == {1e-3}
    assert any("mlp_moe_gen" in n for n in named) and is_gen_side("llm2vae.weight") and not is_gen_side("vit_model.x")


def test_ema_warmup_follows_the_weights_early(tiny_ckpt, tmp_path):
    """With warm-up the EMA's decay at step 0 is (1+0)/(10+0) = 0.1: it moves 90% of the way to the
    new weights, not 1 - 0.999."""
    loaded = checkpoint.load(tiny_ckpt, dtype=torch.float32)
    cfg = TrainConfig(steps=1, **{**CFG, "ema_decay": 0.999}, ema_warmup=True)
    t = Trainer(loaded, ShapesSource(seed=1, image_size=32), cfg, tmp_path, log=lambda s: None)
    name, p = next((n, p) for n, p in t.model.named_parameters() if p.requires_grad)
    before = t.ema[name].clone()
    t.train_step()
    expected = before + (p.detach() - before) * 0.9
    assert torch.allclose(t.ema[name], expected, atol=1e-7)


def test_prefetching_examples_changes_nothing_but_time(tiny_ckpt, tmp_path):
    source = ShapesSource(seed=3, image_size=32, edit_fraction=0.3)
    runs = []
    for prefetch in (False, True):
        cfg = TrainConfig(steps=3, save_every=100, **CFG, prefetch=prefetch)
        runs.append(Trainer(checkpoint.load(tiny_ckpt, dtype=torch.float32), source, cfg, tmp_path / str(prefetch),
                            log=lambda s: None).run(progress=False))
    assert [r["loss"] for r in runs[0]] == [r["loss"] for r in runs[1]]
