"""The plain reference sampler: no KV cache, no batching, one CFG branch at a time.

Every network evaluation re-runs the whole context through the packed (training) forward with
dense masks, like the official inferencer runs each branch separately. It is slow on purpose and
kept as the ground truth the fast sampler (`sampler.py`) is tested against.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from PIL import Image
from torch import Tensor

from uno_bench.models.bagel.checkpoint import LoadedBagel
from uno_bench.models.bagel.packing import PackedBuilder, forward_packed
from uno_bench.models.bagel.sampler import (
    EditSource,
    Trace,
    cfg_combine,
    guidance_active,
    initial_noise,
    prepare_edit_source,
    timestep_schedule,
)
from uno_bench.models.settings import SamplerSettings

# A context item: ("text", ids) | ("vae", EditSource) | ("vit", EditSource)
Context = list[tuple[str, object]]


def _velocity(loaded: LoadedBagel, context: Context, x_t: Tensor, t: float, grid: tuple[int, int]) -> Tensor:
    model = loaded.model
    b = PackedBuilder.for_model(model, loaded.tokenizer.special)
    b.start_sample()
    clean: list[Tensor] = []
    for kind, item in context:
        if kind == "text":
            b.add_text(item)
        elif kind == "vae":
            b.add_vae_image(item.vae_tokens, item.grid, noisy=False)
            clean.append(item.vae_tokens)
        else:
            b.add_vit_image(item.vit_patches, item.vit_grid)
    b.add_vae_image(x_t, grid, noisy=True, t=t)
    batch = b.build()
    latents = torch.cat([*clean, x_t]).to(model.device)
    hidden = forward_packed(model, batch, latents=latents)
    return model.velocity(hidden[batch.mse_indexes]).float()


@torch.no_grad()
def reference_denoise(loaded: LoadedBagel, cond: Context, text_uncond: Context, img_uncond: Context,
                      noise: Tensor, grid: tuple[int, int], settings: SamplerSettings,
                      trace: Callable[[int, float, Tensor], None] | None = None) -> Tensor:
    x = noise.clone().float().to(loaded.model.device)  # noise is drawn on the CPU (seeded per image)
    timesteps, dts = timestep_schedule(settings.num_timesteps, settings.timestep_shift)
    for step, (t, dt) in enumerate(zip(timesteps.tolist(), dts.tolist())):
        guided = guidance_active(t, settings.cfg_interval)
        s_t = settings.cfg_text_scale if guided else 1.0
        s_i = settings.cfg_img_scale if guided else 1.0
        v_c = _velocity(loaded, cond, x, t, grid)
        v_t = _velocity(loaded, text_uncond, x, t, grid) if s_t > 1.0 else None
        v_i = _velocity(loaded, img_uncond, x, t, grid) if (s_t > 1.0 and s_i > 1.0) else None
        v = cfg_combine(v_c[None], None if v_t is None else v_t[None], None if v_i is None else v_i[None],
                        s_t, s_i, settings.cfg_renorm_type, settings.cfg_renorm_min)[0]
        if trace is not None:
            trace(step, t, v)
        x = x - v * dt
    return x


def reference_generate(loaded: LoadedBagel, prompt: str, seed: int, settings: SamplerSettings,
                       trace: Trace | None = None) -> Image.Image:
    c = loaded.config
    c.validate_image_size(settings.width, settings.height)
    grid = (settings.height // c.latent_downsample, settings.width // c.latent_downsample)
    ids = loaded.tokenizer.encode(prompt)
    text: Context = [("text", ids)]
    noise = initial_noise(seed, grid[0] * grid[1], c.patch_latent_dim)
    step_trace = None if trace is None else (lambda s, t, v: trace(s, t, 0, v))
    z = reference_denoise(loaded, text, [], text, noise, grid, settings, step_trace)
    return loaded.codec.tokens_to_image(z, settings.height, settings.width)


def reference_edit(loaded: LoadedBagel, image: Image.Image, instruction: str, seed: int,
                   settings: SamplerSettings, trace: Trace | None = None) -> Image.Image:
    src: EditSource = prepare_edit_source(loaded, image, seed)
    ids = loaded.tokenizer.encode(instruction)
    images: Context = [("vae", src), ("vit", src)]
    noise = initial_noise(seed, src.grid[0] * src.grid[1], loaded.config.patch_latent_dim)
    step_trace = None if trace is None else (lambda s, t, v: trace(s, t, 0, v))
    z = reference_denoise(loaded, images + [("text", ids)], images, [("text", ids)], noise, src.grid,
                          settings, step_trace)
    return loaded.codec.tokens_to_image(z, src.height, src.width)
