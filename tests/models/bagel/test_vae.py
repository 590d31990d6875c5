"""The latent codec: patchify order, scale/shift, and posterior sampling vs mean encoding."""

from __future__ import annotations

from dataclasses import replace

import torch

from uno_bench.models.bagel.config import TINY, read_config, write_config
from uno_bench.models.bagel.vae import LatentCodec, build_autoencoder


def _codec(sample: bool) -> LatentCodec:
    torch.manual_seed(0)
    cfg = replace(TINY.vae, sample_posterior=sample)
    return LatentCodec(build_autoencoder(cfg), cfg, TINY.latent_patch_size)


def test_tokens_round_trip_in_hwpqc_order():
    codec = _codec(True)
    latent = torch.arange(4 * 4 * 6, dtype=torch.float32).reshape(4, 4, 6)  # [z, H, W]
    tokens = codec.to_tokens(latent)
    assert tokens.shape == (2 * 3, 2 * 2 * 4)
    # token (h=0, w=1) holds the 2x2 patch at rows 0-1, cols 2-3, channel fastest
    expected = torch.stack([latent[:, 0, 2], latent[:, 0, 3], latent[:, 1, 2], latent[:, 1, 3]]).flatten()
    assert torch.equal(tokens[1], expected)
    assert torch.equal(codec.from_tokens(tokens, 2, 3), latent)


def test_sampling_vs_mean_encoding():
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    sampled, mean = _codec(True), _codec(False)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    assert not torch.equal(sampled.encode(images, g1), sampled.encode(images, g2))  # BAGEL samples
    assert torch.equal(mean.encode(images, g1), mean.encode(images, g2))  # mean encoding is deterministic
    assert float(mean.posterior(images)[1].abs().max()) == 0.0
    z = mean.encode(images)
    d = mean.ae.encode(images).latent_dist.mean
    assert torch.allclose(z, (d - mean.cfg.shift_factor) * mean.cfg.scale_factor)


def test_flag_round_trips_through_the_folder(tmp_path):
    cfg = replace(TINY, vae=replace(TINY.vae, sample_posterior=False))
    write_config(cfg, tmp_path)
    assert read_config(tmp_path).vae.sample_posterior is False
