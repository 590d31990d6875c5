"""Checkpoint I/O: official layout, strict keys, exact round trip, clear errors."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from uno_bench.errors import UnoError
from uno_bench.models.bagel import checkpoint
from uno_bench.models.bagel.config import BAGEL_7B, TINY, read_config
from uno_bench.models.bagel.model import Bagel
from uno_bench.models.bagel.vae import build_autoencoder, diffusers_to_flux, flux_to_diffusers


def test_folder_has_the_official_files(tiny_ckpt):
    names = {p.name for p in tiny_ckpt.iterdir()}
    assert {"ema.safetensors", "ae.safetensors", "llm_config.json", "vit_config.json", "tokenizer.json"} <= names
    # Stored like upstream: one more ViT layer than used; the loader drops it.
    assert json.loads((tiny_ckpt / "vit_config.json").read_text())["num_hidden_layers"] == TINY.vit.num_hidden_layers + 1
    assert read_config(tiny_ckpt) == TINY


def test_round_trip_is_exact_and_strict(tiny_ckpt, tmp_path):
    loaded = checkpoint.load(tiny_ckpt, dtype=torch.float32)
    stored = load_file(str(tiny_ckpt / "ema.safetensors"))
    state = loaded.model.state_dict()
    assert set(stored) == set(state)
    assert all(torch.equal(stored[k], state[k]) for k in stored)
    # save again: identical tensors, identical key set
    again = checkpoint.save(tmp_path / "again", loaded.model, loaded.tokenizer, loaded.codec)
    stored2 = load_file(str(again / "ema.safetensors"))
    assert set(stored2) == set(stored) and all(torch.equal(stored2[k], stored[k]) for k in stored)
    ae1, ae2 = load_file(str(tiny_ckpt / "ae.safetensors")), load_file(str(again / "ae.safetensors"))
    assert set(ae1) == set(ae2) and all(torch.equal(ae1[k], ae2[k]) for k in ae1)
    # frozen sin-cos tables stay frozen after assign-loading
    assert not loaded.model.latent_pos_embed.pos_embed.requires_grad
    assert loaded.model.language_model.lm_head.weight.requires_grad


def test_key_names_follow_the_official_checkpoint(tiny_ckpt):
    with safe_open(str(tiny_ckpt / "ema.safetensors"), "pt") as f:
        keys = set(f.keys())
    for key in [
        "language_model.model.embed_tokens.weight",
        "language_model.model.layers.0.self_attn.q_proj_moe_gen.bias",
        "language_model.model.layers.1.self_attn.k_norm_moe_gen.weight",
        "language_model.model.layers.0.mlp_moe_gen.down_proj.weight",
        "language_model.model.layers.0.post_attention_layernorm_moe_gen.weight",
        "language_model.model.norm_moe_gen.weight",
        "language_model.lm_head.weight",
        "vit_model.vision_model.embeddings.patch_embedding.weight",
        "vit_model.vision_model.encoder.layers.1.self_attn.out_proj.bias",
        "vit_model.vision_model.post_layernorm.weight",
        "connector.fc1.weight", "connector.fc2.bias", "vit_pos_embed.pos_embed", "latent_pos_embed.pos_embed",
        "time_embedder.mlp.0.weight", "time_embedder.mlp.2.bias", "vae2llm.weight", "llm2vae.bias",
    ]:
        assert key in keys, key
    assert not any("o_proj.bias" in k or "rotary" in k for k in keys)  # no o bias, no rope buffers
    with safe_open(str(tiny_ckpt / "ema.safetensors"), "pt") as f:
        assert f.get_slice("vit_model.vision_model.embeddings.patch_embedding.weight").get_shape() == [
            TINY.vit.hidden_size, 3 * TINY.vit.patch_size**2]


def test_bagel_7b_shapes_and_parameter_count():
    with torch.device("meta"):
        model = Bagel(BAGEL_7B)
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert shapes["language_model.model.embed_tokens.weight"] == [152064, 3584]
    assert shapes["vit_model.vision_model.embeddings.patch_embedding.weight"] == [1152, 588]
    assert shapes["vit_model.vision_model.embeddings.position_embedding.weight"] == [4900, 1152]
    assert shapes["latent_pos_embed.pos_embed"] == [4096, 3584]
    assert shapes["vit_pos_embed.pos_embed"] == [4900, 3584]
    assert shapes["vae2llm.weight"] == [3584, 64]
    assert not any(k.startswith("vit_model.vision_model.encoder.layers.26.") for k in shapes)
    assert sum(p.numel() for p in model.state_dict().values()) == 14_607_260_128  # BAGEL-7B-MoT's weights


def test_flux_vae_key_space():
    with torch.device("meta"):
        ae = build_autoencoder(BAGEL_7B.vae)
    ours = ae.state_dict()
    flux = diffusers_to_flux(ours, BAGEL_7B.vae)
    for key, shape in {
        "encoder.down.0.block.0.norm1.weight": [128],
        "encoder.down.1.block.0.nin_shortcut.weight": [256, 128, 1, 1],
        "encoder.down.0.downsample.conv.weight": [128, 128, 3, 3],
        "encoder.mid.attn_1.q.weight": [512, 512, 1, 1],
        "encoder.mid.block_2.conv2.weight": [512, 512, 3, 3],
        "encoder.conv_out.weight": [32, 512, 3, 3],
        "decoder.up.3.upsample.conv.weight": [512, 512, 3, 3],
        "decoder.up.0.block.2.conv2.weight": [128, 128, 3, 3],
        "decoder.norm_out.weight": [128],
    }.items():
        assert list(flux[key].shape) == shape, key
    assert "decoder.up.0.upsample.conv.weight" not in flux
    back = flux_to_diffusers(flux, BAGEL_7B.vae)
    assert set(back) == set(ours) and all(back[k].shape == ours[k].shape for k in ours)
    assert sum(v.numel() for v in ours.values()) == pytest.approx(83.8e6, rel=0.01)


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_missing_and_unexpected_keys_are_named(tiny_ckpt, tmp_path):
    bad = _copy(tiny_ckpt, tmp_path / "bad")
    state = load_file(str(bad / "ema.safetensors"))
    del state["language_model.model.layers.1.mlp_moe_gen.up_proj.weight"]
    state["language_model.model.layers.9.extra.weight"] = torch.zeros(2)
    save_file(state, str(bad / "ema.safetensors"))
    with pytest.raises(UnoError) as err:
        checkpoint.load(bad)
    msg = str(err.value)
    assert "layers.1.mlp_moe_gen.up_proj.weight" in msg and "layers.9.extra.weight" in msg
    assert "missing" in msg and "unexpected" in msg


def test_config_that_disagrees_with_weights_is_refused(tiny_ckpt, tmp_path):
    bad = _copy(tiny_ckpt, tmp_path / "bad")
    cfg = json.loads((bad / "llm_config.json").read_text())
    cfg["intermediate_size"] = 96
    (bad / "llm_config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnoError, match=r"shape mismatch.*mlp\.gate_proj\.weight"):
        checkpoint.load(bad)


def test_a_smaller_vae_without_vae_config_names_the_file_to_add(tiny_ckpt, tmp_path):
    """Without vae_config.json the full-size FLUX VAE is assumed; a smaller ae.safetensors gets one line
    that names the missing file and the shape read off the tensors, not hundreds of shape mismatches."""
    from uno_bench.models.bagel.checkpoint import _safetensors_shapes
    from uno_bench.models.bagel.vae import shape_from_flux_keys

    bad = _copy(tiny_ckpt, tmp_path / "bad")
    saved = json.loads((bad / "vae_config.json").read_text())
    (bad / "vae_config.json").unlink()
    with pytest.raises(UnoError) as err:
        checkpoint.load(bad)
    msg = str(err.value)
    assert "\n" not in msg and "shape mismatch" not in msg
    assert str(bad / "vae_config.json") in msg
    assert f"ch={saved['ch']}, ch_mult={saved['ch_mult']}, num_res_blocks={saved['num_res_blocks']}" in msg
    assert f"z_channels={saved['z_channels']}" in msg and "norm_num_groups" in msg
    found = shape_from_flux_keys(_safetensors_shapes(tiny_ckpt / "ae.safetensors"))
    assert found == {k: tuple(saved[k]) if k == "ch_mult" else saved[k] for k in found}
    with torch.device("meta"):  # the full-size FLUX VAE reads back as the defaults: never refused
        flux = diffusers_to_flux(build_autoencoder(BAGEL_7B.vae).state_dict(), BAGEL_7B.vae)
    assert shape_from_flux_keys({k: list(v.shape) for k, v in flux.items()}) == {
        k: getattr(BAGEL_7B.vae, k) for k in found}
    (bad / "vae_config.json").write_text(json.dumps(saved))  # adding the file fixes it
    assert checkpoint.load(bad, dtype=torch.float32).codec is not None


def test_truncated_and_missing_files(tiny_ckpt, tmp_path):
    bad = _copy(tiny_ckpt, tmp_path / "bad")
    data = (bad / "ema.safetensors").read_bytes()
    (bad / "ema.safetensors").write_bytes(data[:5])
    with pytest.raises(UnoError, match="safetensors"):
        checkpoint.load(bad)
    (bad / "ema.safetensors").unlink()
    with pytest.raises(UnoError, match="ema.safetensors is missing"):
        checkpoint.load(bad)
    with pytest.raises(UnoError, match="not found"):
        checkpoint.load(tmp_path / "nowhere")


def test_identity_changes_with_the_weights(tiny_ckpt, tmp_path):
    a = checkpoint.checkpoint_identity(tiny_ckpt)["weights_sha256"]
    other = _copy(tiny_ckpt, tmp_path / "other")
    state = load_file(str(other / "ema.safetensors"))
    state.pop("llm2vae.bias")
    save_file(state, str(other / "ema.safetensors"))
    assert checkpoint.checkpoint_identity(other)["weights_sha256"] != a
    assert checkpoint.checkpoint_identity(tiny_ckpt)["weights_sha256"] == a
