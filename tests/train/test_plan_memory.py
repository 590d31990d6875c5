"""Full-size launch options of `uno-train post-train` / `ablate` and the `--plan` memory plan."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from uno_bench.errors import UnoError
from uno_bench.models.bagel.config import BAGEL_7B
from uno_train.launch import resolve_batch
from uno_train.memory import ACT_BYTES, CAPTION_TOKENS, GIB, plan
from uno_train.uno import UnoConfig

BAGEL_7B_PARAMETERS = 14_607_260_128  # BAGEL-7B-MoT's ema.safetensors (also tests/models/bagel)


def _uno_train(*args: str, env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "uno_train", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def hand_counted_uno_trainable(cfg) -> int:
    """What UNO trains, from the config's dimensions alone: the gen expert of every decoder layer
    (q/k/v with bias, o without, QK norms, SwiGLU MLP, two layer norms), its final norm, vae2llm,
    llm2vae and the timestep MLP. Everything else (und expert, embeddings, LM head, ViT, connector,
    the 2-D position tables) is frozen."""
    h, i, d = cfg.llm.hidden_size, cfg.llm.intermediate_size, cfg.llm.head_dim
    kv = cfg.llm.num_key_value_heads * d
    q = cfg.llm.num_attention_heads * d
    attn = (h * q + q) + 2 * (h * kv + kv) + q * h + 2 * d
    layer = attn + 3 * h * i + 2 * h
    latent = cfg.latent_patch_size**2 * cfg.vae.z_channels
    gen_io = (latent * h + h) + (h * latent + latent) + (256 * h + h) + (h * h + h)
    return cfg.llm.num_hidden_layers * layer + h + gen_io


def test_bagel_7b_plan_counts_and_bytes():
    trainable = hand_counted_uno_trainable(BAGEL_7B)
    assert trainable == 6_539_861_056
    h = BAGEL_7B.llm.hidden_size
    side = BAGEL_7B.vit_max_num_patch_per_side
    extra = side**2 * h + (h * BAGEL_7B.vit.hidden_size + BAGEL_7B.vit.hidden_size)  # metaqueries + head
    p = plan("bagel-7b", UnoConfig(), world_size=8, fsdp=True, precision="bf16", activation_checkpointing=True,
             micro_batch=4, resolution=512)
    assert p.params_trainable == trainable
    assert p.params_frozen == BAGEL_7B_PARAMETERS - trainable
    assert p.params_extra == extra
    b = p.bytes
    assert b["weights"] == BAGEL_7B_PARAMETERS * 4 / 8 + (extra + p.params_vae) * 4
    assert b["gradients"] == trainable * 4 / 8 + extra * 4
    assert b["optimizer"] == 2 * 4 * (trainable / 8 + extra)  # AdamW: 2 fp32 states, trainable only
    assert b["ema"] == 4 * (trainable / 8 + extra)
    # tokens of one image at 512 px: 32 prompt + 32x32 latents + 2 markers + 1 skip + 32 caption + 19x19 metaqueries
    tokens = 4 * (32 + 1024 + 3 + 32 + 19**2)
    assert p.tokens_per_micro_batch == tokens
    assert b["activations"] == 28 * tokens * h * 4 + tokens * h * ACT_BYTES["bf16"]
    assert b["logits"] == 4 * CAPTION_TOKENS * BAGEL_7B.llm.vocab_size * 4
    assert p.total == sum(b.values()) and p.fits


def test_plan_without_sharding_or_checkpointing():
    alone = plan("bagel-7b", UnoConfig(), 8, False, "fp32", False, 1, 512)
    assert alone.bytes["weights"] == (BAGEL_7B_PARAMETERS + alone.params_extra + alone.params_vae) * 4
    assert "fsdp_buffers" not in alone.bytes
    tokens = alone.tokens_per_micro_batch
    assert alone.bytes["activations"] == 28 * tokens * BAGEL_7B.llm.hidden_size * ACT_BYTES["fp32"]
    assert not alone.fits and alone.total > 100 * GIB  # 14.6B fp32 weights + AdamW on one GPU: no
    control = plan("bagel-7b", UnoConfig(proxies=()), 8, True, "bf16", True, 1, 512)
    assert control.params_extra == 0 and control.bytes["logits"] == 0


def test_resolve_batch():
    assert resolve_batch(64, 4, None, 8) == (64, 4, 2)
    assert resolve_batch(64, None, 2, 8) == (64, 4, 2)
    assert resolve_batch(64, None, None, 8) == (64, 8, 1)
    assert resolve_batch(32, 4, 2, 8, batch_given=False) == (64, 4, 2)  # --batch-size left at its default
    with pytest.raises(UnoError, match=r"4 x --grad-accum 2 x 8 ranks = 64, but --batch-size is 32"):
        resolve_batch(32, 4, 2, 8)
    with pytest.raises(UnoError, match="not a multiple"):
        resolve_batch(30, 4, None, 1)


def test_cli_help_plan_config_and_exit_codes(tmp_path, uno_env):
    help_text = _uno_train("post-train", "--help", env=uno_env).stdout
    for flag in ("--precision", "--device", "--micro-batch", "--grad-accum", "--activation-checkpointing", "--fsdp",
                 "--save-every", "--config", "--plan", "--world-size", "--gpu-memory"):
        assert flag in help_text, flag
    bad = _uno_train("post-train", "--ckpt", "tiny", "--plan", "--world-size", "8", "--fsdp", "--batch-size", "32",
                     "--micro-batch", "4", "--grad-accum", "2", env=uno_env)
    assert bad.returncode == 2 and "but --batch-size is 32" in bad.stderr
    toml = tmp_path / "run.toml"
    toml.write_text('precision = "bf16"\nmicro-batch = 2\nfsdp = true\nactivation_checkpointing = true\n'
                    'batch-size = 16\n')
    r = _uno_train("ablate", "--ckpt", "tiny", "--proxy", "captioning", "--plan", "--config", str(toml),
                   "--world-size", "2", "--precision", "fp32", env=uno_env)  # the flag wins over the file
    assert r.returncode == 0, r.stderr[-2000:]
    assert "FSDP over 2 ranks" in r.stdout and "precision fp32" in r.stdout and "checkpointing on" in r.stdout
    assert "2 per micro-batch x 4 accumulation x 2 rank(s) = 16" in r.stdout
    toml.write_text("no-fsdp = true\n")
    unknown = _uno_train("post-train", "--ckpt", "tiny", "--plan", "--config", str(toml), env=uno_env)
    assert unknown.returncode == 2 and "unknown option 'no-fsdp'" in unknown.stderr


def test_post_train_records_the_resolved_launch(tmp_path, uno_env):
    out = tmp_path / "pt"
    toml = tmp_path / "run.toml"
    toml.write_text('precision = "bf16"\ngrad-accum = 2\nsave-every = 1\nattention = "block-diagonal"\n')
    r = _uno_train("post-train", "--ckpt", "tiny", "--out", str(out), "--steps", "1", "--batch-size", "2",
                   "--activation-checkpointing", "--config", str(toml), "--device", "cpu", "--threads", "1",
                   env=uno_env)
    assert r.returncode == 0, r.stderr[-2000:]
    record = json.loads((out / "uno_train.json").read_text())
    train = record["config"]["train"]
    assert (train["precision"], train["grad_accum"], train["activation_checkpointing"], train["save_every"],
            train["batch_size"]) == ("bf16", 2, True, 1, 2)
    assert record["launch"] == {"device": "cpu", "world_size": 1, "fsdp": False, "micro_batch": 1,
                                "attention": "block-diagonal", "config_file": str(toml)}
    assert "attention" not in train  # how the step is computed, not what: never compared on resume
