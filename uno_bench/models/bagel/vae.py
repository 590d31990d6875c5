"""The generation latent space: the FLUX autoencoder (BAGEL's `ae.safetensors`) run through
diffusers' AutoencoderKL, plus BAGEL's scale/shift and 2x2 latent patchify.

`ae.safetensors` uses the original FLUX/LDM key space (`encoder.down.0.block.0.norm1.weight`, 1x1
conv attention); `flux_to_diffusers` / `diffusers_to_flux` translate names and shapes both ways,
so official files load unchanged and our own checkpoints are written in the official layout.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from uno_bench.errors import UnoError
from uno_bench.models.bagel.config import VAEConfig


def build_autoencoder(cfg: VAEConfig) -> nn.Module:
    from diffusers import AutoencoderKL

    n = len(cfg.ch_mult)
    return AutoencoderKL(
        in_channels=cfg.in_channels,
        out_channels=cfg.out_ch,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(cfg.ch * m for m in cfg.ch_mult),
        layers_per_block=cfg.num_res_blocks,
        latent_channels=cfg.z_channels,
        norm_num_groups=cfg.norm_num_groups,
        sample_size=cfg.resolution,
        scaling_factor=cfg.scale_factor,
        shift_factor=cfg.shift_factor,
        use_quant_conv=False,  # FLUX has no quant convs
        use_post_quant_conv=False,
    )


# ----------------------------------------------------------------------------- shape from the file


def shape_from_flux_keys(shapes: dict[str, list[int]]) -> dict[str, Any] | None:
    """The architecture fields an ae.safetensors (FLUX key space) shows in its tensor shapes: in/out
    channels, ch, ch_mult, num_res_blocks, z_channels. None when the file is not in that key space.
    (norm_num_groups, scale_factor and shift_factor are not visible in any shape.)"""
    conv_in, conv_out = shapes.get("encoder.conv_in.weight"), shapes.get("encoder.conv_out.weight")
    dec_out = shapes.get("decoder.conv_out.weight")
    if not (conv_in and conv_out and dec_out):
        return None
    ch = conv_in[0]
    levels = sorted({int(m.group(1)) for k in shapes if (m := re.match(r"encoder\.down\.(\d+)\.", k))})
    if not levels or ch <= 0:
        return None
    widths = [shapes.get(f"encoder.down.{i}.block.0.conv1.weight", [0])[0] for i in levels]
    blocks = {int(m.group(1)) for k in shapes if (m := re.match(r"encoder\.down\.0\.block\.(\d+)\.", k))}
    return {"ch": ch, "ch_mult": tuple(w // ch for w in widths), "num_res_blocks": len(blocks),
            "z_channels": conv_out[0] // 2, "in_channels": conv_in[1], "out_ch": dec_out[0]}


def check_vae_shape(cfg: VAEConfig, shapes: dict[str, list[int]], path: Path, config_file: str) -> None:
    """Refuse, in one line naming the file to add, an ae.safetensors whose shapes are not the assumed
    FLUX VAE's (a checkpoint folder without `config_file` is assumed to hold the full-size one)."""
    found = shape_from_flux_keys(shapes)
    if found is None:
        return  # not FLUX keys: the strict key check that follows names the problem
    assumed = {k: getattr(cfg, k) for k in found}
    if found == assumed:
        return
    show = ", ".join(f"{k}={list(v) if isinstance(v, tuple) else v}" for k, v in found.items())
    raise UnoError(f"{path} holds a different autoencoder ({show}) than the full-size FLUX VAE assumed when "
                   f"{config_file} is absent; add {path.parent / config_file} with these fields plus the "
                   "norm_num_groups, scale_factor and shift_factor it was trained with (uno writes the file "
                   "when it saves a non-FLUX VAE)")


# ----------------------------------------------------------------------------- key translation

_RESNET = r"(norm1|conv1|norm2|conv2)"
_ATTN = {"norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v", "proj_out": "to_out.0"}


def _flux_key_to_diffusers(key: str, num_levels: int) -> str:
    part, rest = key.split(".", 1)  # encoder / decoder
    m = re.fullmatch(r"(down|up)\.(\d+)\.block\.(\d+)\.(.+)", rest)
    if m:
        kind, level, j, tail = m.groups()
        level = int(level) if kind == "down" else num_levels - 1 - int(level)
        tail = tail.replace("nin_shortcut", "conv_shortcut")
        return f"{part}.{kind}_blocks.{level}.resnets.{j}.{tail}"
    m = re.fullmatch(r"down\.(\d+)\.downsample\.conv\.(.+)", rest)
    if m:
        return f"{part}.down_blocks.{m.group(1)}.downsamplers.0.conv.{m.group(2)}"
    m = re.fullmatch(r"up\.(\d+)\.upsample\.conv\.(.+)", rest)
    if m:
        return f"{part}.up_blocks.{num_levels - 1 - int(m.group(1))}.upsamplers.0.conv.{m.group(2)}"
    m = re.fullmatch(r"mid\.block_(\d)\.(.+)", rest)
    if m:
        return f"{part}.mid_block.resnets.{int(m.group(1)) - 1}.{m.group(2)}"
    m = re.fullmatch(r"mid\.attn_1\.(norm|q|k|v|proj_out)\.(.+)", rest)
    if m:
        return f"{part}.mid_block.attentions.0.{_ATTN[m.group(1)]}.{m.group(2)}"
    rest = rest.replace("norm_out", "conv_norm_out")
    return f"{part}.{rest}"


def flux_to_diffusers(state: dict[str, Tensor], cfg: VAEConfig) -> dict[str, Tensor]:
    out = {}
    for key, value in state.items():
        new = _flux_key_to_diffusers(key, len(cfg.ch_mult))
        if re.search(r"attentions\.0\.(to_q|to_k|to_v|to_out\.0)\.weight$", new) and value.ndim == 4:
            value = value[:, :, 0, 0]  # 1x1 conv -> linear
        out[new] = value
    return out


def diffusers_to_flux(state: dict[str, Tensor], cfg: VAEConfig) -> dict[str, Tensor]:
    """Inverse of `flux_to_diffusers` (names are a bijection; attention weights get their 1x1 back)."""
    names = {key: _diffusers_key_to_flux(key, len(cfg.ch_mult)) for key in state}
    out = {}
    for key, value in state.items():
        new = names[key]
        if re.search(r"mid\.attn_1\.(q|k|v|proj_out)\.weight$", new) and value.ndim == 2:
            value = value[:, :, None, None]
        out[new] = value
    return out


def _diffusers_key_to_flux(key: str, num_levels: int) -> str:
    part, rest = key.split(".", 1)
    m = re.fullmatch(r"(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", rest)
    if m:
        kind, level, j, tail = m.groups()
        level = int(level) if kind == "down" else num_levels - 1 - int(level)
        return f"{part}.{kind}.{level}.block.{j}.{tail.replace('conv_shortcut', 'nin_shortcut')}"
    m = re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", rest)
    if m:
        return f"{part}.down.{m.group(1)}.downsample.conv.{m.group(2)}"
    m = re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", rest)
    if m:
        return f"{part}.up.{num_levels - 1 - int(m.group(1))}.upsample.conv.{m.group(2)}"
    m = re.fullmatch(r"mid_block\.resnets\.(\d)\.(.+)", rest)
    if m:
        return f"{part}.mid.block_{int(m.group(1)) + 1}.{m.group(2)}"
    m = re.fullmatch(r"mid_block\.attentions\.0\.(group_norm|to_q|to_k|to_v|to_out\.0)\.(.+)", rest)
    if m:
        inverse = {v: k for k, v in _ATTN.items()}
        return f"{part}.mid.attn_1.{inverse[m.group(1)]}.{m.group(2)}"
    return f"{part}.{rest.replace('conv_norm_out', 'norm_out')}"


# ----------------------------------------------------------------------------- codec


class LatentCodec:
    """Images <-> BAGEL latent tokens: encode (sampling the posterior, as BAGEL does), scale/shift,
    2x2 patchify in (h, w, p, q, c) order, and the inverse for decoding."""

    def __init__(self, autoencoder: nn.Module, cfg: VAEConfig, patch: int):
        self.ae, self.cfg, self.patch = autoencoder, cfg, patch

    @property
    def device(self) -> torch.device:
        return next(self.ae.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.ae.parameters()).dtype

    @torch.no_grad()
    def encode(self, images: Tensor, generator: torch.Generator | None = None, sample: bool = True) -> Tensor:
        """images [B, 3, H, W] in [-1, 1] -> scaled latents [B, z, H/8, W/8]."""
        posterior = self.ae.encode(images.to(self.device, self.dtype)).latent_dist
        z = posterior.sample(generator=generator) if (sample and self.cfg.sample_posterior) else posterior.mean
        return self.scale(z)

    @torch.no_grad()
    def posterior(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """(mean, std) of the unscaled posterior, so callers can sample each image with its own
        generator (a draw then never depends on which batch the image was encoded in). The std is
        zero for a codec that encodes with the mean (`sample_posterior=False`)."""
        dist = self.ae.encode(images.to(self.device, self.dtype)).latent_dist
        std = dist.std if self.cfg.sample_posterior else torch.zeros_like(dist.std)
        return dist.mean, std

    def scale(self, z: Tensor) -> Tensor:
        return (z - self.cfg.shift_factor) * self.cfg.scale_factor

    @torch.no_grad()
    def decode(self, latents: Tensor) -> Tensor:
        z = latents.to(self.device, self.dtype) / self.cfg.scale_factor + self.cfg.shift_factor
        return self.ae.decode(z).sample

    def to_tokens(self, latent: Tensor) -> Tensor:
        """[z, h*p, w*p] -> [h*w, p*p*z]."""
        p, c = self.patch, latent.shape[0]
        h, w = latent.shape[1] // p, latent.shape[2] // p
        x = latent[:, : h * p, : w * p].reshape(c, h, p, w, p)
        return torch.einsum("chpwq->hwpqc", x).reshape(h * w, p * p * c)

    def from_tokens(self, tokens: Tensor, h: int, w: int) -> Tensor:
        """[h*w, p*p*z] -> [z, h*p, w*p] (h, w in latent-token units)."""
        p, c = self.patch, self.cfg.z_channels
        x = tokens.reshape(h, w, p, p, c)
        return torch.einsum("hwpqc->chpwq", x).reshape(c, h * p, w * p)

    def tokens_to_image(self, tokens: Tensor, height: int, width: int) -> Image.Image:
        step = self.cfg.downsample * self.patch
        latent = self.from_tokens(tokens.float(), height // step, width // step)
        pixels = self.decode(latent[None])[0].float()
        return tensor_to_pil(pixels)


def tensor_to_pil(pixels: Tensor) -> Image.Image:
    """[-1, 1] CHW -> uint8 RGB, truncating like the official decoder (`.to(torch.uint8)`)."""
    x = ((pixels * 0.5 + 0.5).clamp(0, 1) * 255).permute(1, 2, 0).to(torch.uint8).cpu().numpy()
    return Image.fromarray(np.ascontiguousarray(x))
