"""`uno-train post-train` and `uno-train ablate` end to end on a tiny checkpoint."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import torch

from uno_bench.models.bagel import checkpoint


def _uno_train(*args: str, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "uno_train", *args], capture_output=True, text=True, env=env,
                          timeout=900)


def test_post_train_writes_a_plain_bagel_checkpoint(tiny_ckpt, tmp_path, uno_env):
    out = tmp_path / "uno"
    r = _uno_train("post-train", "--ckpt", str(tiny_ckpt), "--out", str(out), "--steps", "2", "--batch-size", "2",
                   "--threads", "1", env=uno_env)
    assert r.returncode == 0, r.stderr[-2000:]
    loaded = checkpoint.load(out, dtype=torch.float32)  # strict: no UNO tensor leaked into ema.safetensors
    base = checkpoint.load(tiny_ckpt, dtype=torch.float32)
    same = {k for k, v in loaded.model.state_dict().items() if torch.equal(v, base.model.state_dict()[k])}
    assert "language_model.lm_head.weight" in same and "vit_model.vision_model.post_layernorm.weight" in same
    assert "language_model.model.layers.0.self_attn.k_proj_moe_gen.weight" not in same
    from safetensors.torch import load_file

    extra = load_file(str(out / "uno_extra.safetensors"))
    assert {"metaqueries", "head.weight", "head.bias"} <= set(extra)
    done = json.loads((out / "post_train.json").read_text())
    assert done["uno"]["proxies"] == ["captioning", "regression"] and done["uno"]["prompt_masking"] is True


def test_ablate_writes_tables_and_resumes(tiny_ckpt, tmp_path, uno_env):
    out = tmp_path / "abl"
    args = ("ablate", "--ckpt", str(tiny_ckpt), "--proxy", "captioning", "--suites", "shapes", "--steps", "2",
            "--batch-size", "2", "--eval-limit", "1", "--out", str(out), "--threads", "1")
    r = _uno_train(*args, env=uno_env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Benchmark comparison, baseline: control" in r.stdout  # the table is printed, not only written
    table = (out / "table.md").read_text()
    assert "control (baseline)" in table and "captioning" in table
    rows = list(csv.DictReader((out / "table.csv").open()))
    assert {row["row"] for row in rows} == {"control", "captioning"}
    arms = json.loads((out / "arms.json").read_text())
    assert set(arms["arms"]) == {"control", "captioning"}
    assert arms["arms"]["control"]["uno"]["proxies"] == []
    again = _uno_train(*args, env=uno_env)  # everything is reused: no arm trains twice
    assert again.returncode == 0 and "already post-trained" in again.stdout
