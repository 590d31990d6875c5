"""Training a small FLUX-style autoencoder (diffusers AutoencoderKL) on rendered images.

The tiny model needs a latent space like BAGEL's: a KL autoencoder whose latents are scaled by
(z - shift) * scale to roughly unit variance. We train one on shapes-world renders with a pixel
reconstruction loss plus a small KL term, then measure the latent statistics and store the scale
and shift in the VAE config (as FLUX's 0.3611 / 0.1159 were measured on its latents).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from PIL import Image

from uno_bench.models.bagel.config import VAEConfig
from uno_bench.models.bagel.transforms import to_tensor
from uno_bench.models.bagel.vae import build_autoencoder


@dataclass(frozen=True)
class VAETrainConfig:
    steps: int = 3000
    batch_size: int = 32
    lr: float = 1e-3
    kl_weight: float = 1e-6
    seed: int = 0
    log_every: int = 100


def train_vae(cfg: VAEConfig, images: Callable[[int], Image.Image], tc: VAETrainConfig,
              log: Callable[[str], None] = print) -> tuple[torch.nn.Module, VAEConfig, list[dict]]:
    """`images(i)` gives the i-th training image (deterministic). Returns the autoencoder, the
    config with measured scale/shift, and the loss history."""
    torch.manual_seed(tc.seed)
    ae = build_autoencoder(cfg)
    ae.train()
    opt = torch.optim.AdamW(ae.parameters(), lr=tc.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=tc.lr, total_steps=tc.steps, pct_start=max(0.05, 2.0 / tc.steps))  # >= 2 warm-up steps: short runs divide by zero in older torch
    history = []
    t0 = time.perf_counter()
    for step in range(tc.steps):
        x = torch.stack([to_tensor(images(step * tc.batch_size + j)) for j in range(tc.batch_size)])
        dist = ae.encode(x).latent_dist
        z = dist.sample()
        recon = ae.decode(z).sample
        rec = (recon - x).pow(2).mean()
        kl = dist.kl().mean() / x[0].numel()
        loss = rec + tc.kl_weight * kl * x[0].numel()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ae.parameters(), 1.0)
        opt.step()
        sched.step()
        if (step + 1) % tc.log_every == 0 or step + 1 == tc.steps:
            rec_v = float(rec.detach())
            history.append({"step": step + 1, "recon_mse": rec_v, "kl": float(kl.detach()),
                            "s": time.perf_counter() - t0})
            log(f"vae step {step + 1}/{tc.steps}: recon mse {rec_v:.5f} (PSNR {psnr(rec_v):.1f} dB)")
    ae.eval()
    scale, shift = latent_statistics(ae, images, tc.steps * tc.batch_size, 512, cfg.sample_posterior)
    return ae, replace(cfg, scale_factor=scale, shift_factor=shift), history


def psnr(mse_in_unit_range: float) -> float:
    """PSNR of an MSE measured on [-1, 1] images."""
    import math

    return 10 * math.log10(4.0 / max(mse_in_unit_range, 1e-12))


@torch.no_grad()
def latent_statistics(ae: torch.nn.Module, images: Callable[[int], Image.Image], start: int, n: int,
                      sample: bool = True) -> tuple[float, float]:
    """shift = mean and scale = 1 / std of the latents the model will see (posterior samples, or
    posterior means for a codec that encodes with the mean) over held-out images."""
    zs = []
    for i in range(0, n, 64):
        x = torch.stack([to_tensor(images(start + i + j)) for j in range(min(64, n - i))])
        dist = ae.encode(x).latent_dist
        zs.append((dist.sample() if sample else dist.mean).flatten())
    z = torch.cat(zs)
    return float(1.0 / z.std()), float(z.mean())
