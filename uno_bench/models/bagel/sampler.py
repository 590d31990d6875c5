"""The fast sampler: text-to-image and editing with KV-cached contexts and batched CFG.

Per image, the official inferencer (ByteDance-Seed/Bagel@056b5fd inferencer.py, `InterleaveInferencer`) keeps
three contexts: `cond` (everything), `text-uncond` (everything before the last text) and `img-uncond` (the
text, no images). Here:
- each context is prefilled once; `text-uncond` is a *prefix* of the cond cache (nothing copied),
  and in text-to-image `img-uncond` *is* the cond context, so its velocity is reused, not recomputed;
- every denoising step evaluates all active branches of all images of a batch in one forward;
- each image draws its initial noise from its own generator: an image depends only on (seed,
  prompt, settings), never on its batch (the official code seeds once per process);
- `global` renorm is computed per image; the official behaviour (pooled over the packed batch,
  upstream `Bagel.generate_image` in modeling/bagel/bagel.py) is available as
  `official_batch_global_renorm` for parity.
The schedule is Euler over a shifted linspace: N points = N - 1 network evaluations per branch.
Optionally (`compile`, a launch detail outside `SamplerSettings`) each step's velocity runs under
torch.compile, with CUDA graphs on CUDA.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache

import torch
from PIL import Image
from torch import Tensor

from uno_bench.models.bagel.cache import BatchedQueryAttention, Branch, QueryRows, SequenceCache
from uno_bench.models.bagel.checkpoint import LoadedBagel
from uno_bench.models.bagel.config import ImageTransformConfig
from uno_bench.models.bagel.context import prefill_text, prefill_vae_image, prefill_vit_image
from uno_bench.models.bagel.model import Bagel, BlockRouting, grid_position_ids
from uno_bench.models.bagel.packing import SpecialTokens
from uno_bench.models.bagel.transforms import as_rgb, resize, to_tensor, vit_inputs
from uno_bench.models.settings import SamplerSettings

# trace(step, t, image_index, velocity): lets tests compare paths step by step
Trace = Callable[[int, float, int, Tensor], None]
SAME_AS_COND = "same-as-cond"


def timestep_schedule(num_timesteps: int, shift: float) -> tuple[Tensor, Tensor]:
    """t = linspace(1, 0, N) shifted by s*t / (1 + (s-1)*t); returns the N-1 step times and dts."""
    t = torch.linspace(1, 0, num_timesteps)
    t = shift * t / (1 + (shift - 1) * t)
    return t[:-1], t[:-1] - t[1:]


def guidance_active(t: float, interval: tuple[float, float]) -> bool:
    """Upstream's test, strict at the lower bound: guidance applies when lo < t <= hi."""
    lo, hi = interval
    return lo < t <= hi


def initial_noise(seed: int, num_tokens: int, dim: int) -> Tensor:
    """CPU randn of shape [h*w, p*p*z] in token space (what `prepare_vae_latent` draws)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(num_tokens, dim, generator=g)


def posterior_generator(seed: int) -> torch.Generator:
    """Generator for sampling a source image's VAE posterior (BAGEL samples it; upstream uses the
    global RNG). Offset from the noise seed so the two draws are independent."""
    return torch.Generator(device="cpu").manual_seed((seed + 1) % (2**63))


@dataclass
class ImageJob:
    cond: Branch
    text_uncond: Branch | None
    img_uncond: Branch | str | None  # SAME_AS_COND in text-to-image
    noise: Tensor
    grid: tuple[int, int]  # latent tokens (h, w)


def cfg_combine(v_c: Tensor, v_t: Tensor | None, v_i: Tensor | None, s_t: float, s_i: float,
                renorm: str, renorm_min: float, pooled_global: bool = False) -> Tensor:
    """BAGEL's guidance + renorm on velocities [B, n, d] (upstream `Bagel.generate_image`). With s_t <= 1
    there is no guidance at all (upstream gates image guidance behind text guidance too)."""
    if s_t <= 1.0:
        return v_c
    v_text = v_t + s_t * (v_c - v_t)
    if renorm == "text_channel":
        scale = (v_c.norm(dim=-1, keepdim=True) / (v_text.norm(dim=-1, keepdim=True) + 1e-8))
        v_text = v_text * scale.clamp(min=renorm_min, max=1.0)
        return v_i + s_i * (v_text - v_i) if s_i > 1.0 else v_text
    v = v_i + s_i * (v_text - v_i) if s_i > 1.0 else v_text
    if renorm == "global":
        if pooled_global:  # official: one norm over every image of the packed batch
            num, den = v_c.norm(), v.norm()
        else:
            num, den = v_c.flatten(1).norm(dim=1)[:, None, None], v.flatten(1).norm(dim=1)[:, None, None]
    elif renorm == "channel":
        num, den = v_c.norm(dim=-1, keepdim=True), v.norm(dim=-1, keepdim=True)
    else:
        raise ValueError(f"unknown cfg_renorm_type {renorm!r}")
    return v * (num / (den + 1e-8)).clamp(min=renorm_min, max=1.0)


# Called after every denoising step when set: a one-shot command's progress bar advances per step (a
# single image takes tens of seconds on a CPU) without a callback argument on every sampling function.
STEP_HOOK: ContextVar[Callable[[], None] | None] = ContextVar("uno_sampler_step_hook", default=None)


# How the per-step velocity runs (a launch detail, never part of `SamplerSettings`: every mode computes
# the same images up to float rounding). `default`: torch.compile (inductor); `cudagraphs`: also
# CUDA graphs (mode reduce-overhead), which only exist on CUDA devices.
COMPILE_MODES = ("off", "default", "cudagraphs")
# Contexts are padded to a multiple of this when compiled, so prompts of different lengths share
# one static graph (the padding is masked out of attention).
COMPILED_CONTEXT_MULTIPLE = 64


@dataclass
class DenoiseStep:
    """Everything one denoising step needs besides (x, t): fixed for a whole sampler call, so a
    compiled `velocity` sees static shapes. `attend[guided]` serves the rows active in that state."""

    model: Bagel
    settings: SamplerSettings
    batch: int
    q_len: int
    img_shared: bool
    markers: Tensor  # [2, hidden]: start / end of image
    lat_pos: Tensor  # [B * n] latent position ids
    ropes: Tensor  # [S] RoPE position of every branch row
    attend: dict[bool, Callable]  # guided -> Attention over the first rows(guided) rows
    routes: dict[bool, BlockRouting]

    def scales(self, guided: bool) -> tuple[float, float]:
        return (self.settings.cfg_text_scale, self.settings.cfg_img_scale) if guided else (1.0, 1.0)

    def rows(self, guided: bool) -> int:
        s_t, s_i = self.scales(guided)
        return self.batch * (1 + (s_t > 1.0) + (s_t > 1.0 and s_i > 1.0 and not self.img_shared))

    def velocity(self, x: Tensor, t: Tensor, guided: bool) -> Tensor:
        """The guided velocity [B, n, d] at latents x [B, n, d] and time t [1]."""
        B, q_len, model, s = self.batch, self.q_len, self.model, self.settings
        s_t, s_i = self.scales(guided)
        rows, n = self.rows(guided), q_len - 2
        emb = model.embed_latents(x.reshape(B * n, -1), t, self.lat_pos)
        emb = emb.view(B, n, -1).to(self.markers.dtype)
        m = self.markers
        block = torch.cat([m[:1].expand(B, 1, -1), emb, m[1:].expand(B, 1, -1)], dim=1)
        block = block.repeat(rows // B, 1, 1).reshape(rows * q_len, -1)
        pos = self.ropes[:rows].repeat_interleave(q_len)
        h = model.decode(block, pos, None, self.attend[guided], route=self.routes[guided])
        v = model.velocity(h.view(rows, q_len, -1)[:, 1:-1]).float()
        v_c = v[:B]
        v_t = v[B : 2 * B] if s_t > 1.0 else None
        v_i = (v_c if self.img_shared else v[2 * B : 3 * B]) if (s_t > 1.0 and s_i > 1.0) else None
        return cfg_combine(v_c, v_t, v_i, s_t, s_i, s.cfg_renorm_type, s.cfg_renorm_min,
                           s.official_batch_global_renorm)


def _step_velocity(step: DenoiseStep, x: Tensor, t: Tensor, guided: bool) -> Tensor:
    return step.velocity(x, t, guided)


@cache
def compiled_velocity(mode: str, backend: str | Callable = "inductor") -> Callable:
    """`_step_velocity` under torch.compile, one wrapper per (mode, backend) for the process, so
    dynamo's cache (per static shape: batch, image tokens, padded context, guided or not) carries
    over from one sampler call to the next. `backend` other than inductor: tests (aot_eager). Past
    torch's recompile limit (many image sizes in one process, as edits of varied inputs give) dynamo
    runs the new shapes eagerly, with a warning."""
    if mode not in COMPILE_MODES or mode == "off":
        raise ValueError(f"compile mode must be one of {', '.join(COMPILE_MODES[1:])} (got {mode!r})")
    if mode == "cudagraphs" and backend != "inductor":
        raise ValueError("compile mode cudagraphs is inductor's reduce-overhead mode: it needs the inductor backend")
    options = {"mode": "reduce-overhead"} if mode == "cudagraphs" else {}
    # dynamic=False: a new shape gets its own static graph instead of a symbolic one (CUDA graphs
    # need static shapes); fullgraph: a graph break would silently split the step.
    return torch.compile(_step_velocity, backend=backend, dynamic=False, fullgraph=True, **options)


def check_compile_mode(mode: str, device: torch.device) -> None:
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile mode must be one of {', '.join(COMPILE_MODES)} (got {mode!r})")
    if mode == "cudagraphs" and device.type != "cuda":
        raise ValueError(f"compile mode cudagraphs needs a CUDA device (got {device.type}); use default")


def denoise_step(model: Bagel, jobs: list[ImageJob], settings: SamplerSettings, special: SpecialTokens,
                 compiled: bool = False) -> DenoiseStep:
    """Build the step's fixed inputs: the branch rows (ordered so that each step's active rows are a
    prefix), their cached contexts, RoPE positions, latent positions and the image markers."""
    B, grid = len(jobs), jobs[0].grid
    assert all(j.grid == grid for j in jobs), "a batch must share one image size"
    n, dev = grid[0] * grid[1], model.device
    use_text = settings.cfg_text_scale > 1.0
    use_img = settings.cfg_img_scale > 1.0 and use_text
    img_shared = use_img and all(j.img_uncond == SAME_AS_COND for j in jobs)
    branches = [j.cond for j in jobs]
    if use_text:
        branches += [j.text_uncond for j in jobs]
    if use_img and not img_shared:
        branches += [j.img_uncond for j in jobs]
    q_len = n + 2
    attention = (BatchedQueryAttention(branches, q_len, COMPILED_CONTEXT_MULTIPLE, query_slots=False)
                 if compiled else BatchedQueryAttention(branches, q_len))
    c = model.config
    lat_pos = grid_position_ids(grid[0] * c.latent_downsample, grid[1] * c.latent_downsample,
                                c.latent_downsample, c.max_latent_size, dev)
    markers = model.embed_text(torch.tensor([special.start_of_image, special.end_of_image], device=dev))
    step = DenoiseStep(model, settings, B, q_len, img_shared, markers, lat_pos.repeat(B),
                       torch.tensor([b.rope for b in branches], device=dev), {}, {})
    for guided in (False, True):
        rows = step.rows(guided)
        # compiled: a view of the first rows that writes nothing (no mutated graph input)
        step.attend[guided] = QueryRows(attention, rows) if compiled else attention.rows(rows)
        step.routes[guided] = BlockRouting(rows, q_len)
    return step


@torch.no_grad()
def denoise(model: Bagel, jobs: list[ImageJob], settings: SamplerSettings, special: SpecialTokens,
            trace: Trace | None = None, compile: str = "off",
            compile_backend: str | Callable = "inductor") -> list[Tensor]:
    """Euler integration for a batch of same-size images; returns their final latent tokens.
    `compile` (COMPILE_MODES) runs each step's velocity compiled; `compile_backend`: tests only."""
    check_compile_mode(compile, model.device)
    step = denoise_step(model, jobs, settings, special, compiled=compile != "off")
    velocity = _step_velocity if compile == "off" else compiled_velocity(compile, compile_backend)
    x = torch.stack([j.noise for j in jobs]).to(model.device, torch.float32)  # [B, n, d]
    timesteps, dts = timestep_schedule(settings.num_timesteps, settings.timestep_shift)
    for i, (t, dt) in enumerate(zip(timesteps.tolist(), dts.tolist())):
        guided = guidance_active(t, settings.cfg_interval)
        if compile == "cudagraphs":
            torch.compiler.cudagraph_mark_step_begin()  # the previous step's outputs may be overwritten
        # t as a tensor: one graph serves every timestep
        v = velocity(step, x, torch.tensor([t], device=model.device), guided)
        if compile == "cudagraphs":
            v = v.clone()  # a CUDA graph's output lives in its pool until the next replay
        if trace is not None:
            for b in range(len(jobs)):
                trace(i, t, b, v[b])
        x = x - v * dt
        if (hook := STEP_HOOK.get()) is not None:
            hook()
    return list(x)


# ----------------------------------------------------------------------------- text-to-image


def text_to_image_jobs(loaded: LoadedBagel, prompts: list[str], seeds: list[int],
                       settings: SamplerSettings) -> list[ImageJob]:
    model, tok, c = loaded.model, loaded.tokenizer, loaded.config
    c.validate_image_size(settings.width, settings.height)
    grid = (settings.height // c.latent_downsample, settings.width // c.latent_downsample)
    jobs = []
    for prompt, seed in zip(prompts, seeds):
        ids = tok.encode(prompt)
        cache = SequenceCache.for_model(model, capacity=len(ids) + 2)
        prefill_text(model, cache, ids, tok.special)
        jobs.append(ImageJob(
            cond=Branch(cache, cache.length, cache.rope),
            text_uncond=Branch(cache, 0, 0),  # its own empty context at RoPE 0 (not the prompt removed)
            img_uncond=SAME_AS_COND,  # no images in the context: identical to cond
            noise=initial_noise(seed, grid[0] * grid[1], c.patch_latent_dim),
            grid=grid,
        ))
    return jobs


def generate_images(loaded: LoadedBagel, prompts: list[str], seeds: list[int], settings: SamplerSettings,
                    trace: Trace | None = None, compile: str = "off",
                    compile_backend: str | Callable = "inductor") -> list[Image.Image]:
    """`compile`: how each step runs (COMPILE_MODES); the images do not depend on it beyond rounding."""
    jobs = text_to_image_jobs(loaded, prompts, seeds, settings)
    latents = denoise(loaded.model, jobs, settings, loaded.tokenizer.special, trace, compile, compile_backend)
    return [loaded.codec.tokens_to_image(z, settings.height, settings.width) for z in latents]


# ----------------------------------------------------------------------------- editing


@dataclass
class EditSource:
    """A source image prepared for editing: its resized size, clean VAE tokens and ViT patches."""

    width: int
    height: int
    vae_tokens: Tensor
    grid: tuple[int, int]
    vit_patches: Tensor
    vit_grid: tuple[int, int]


def prepare_edit_source(loaded: LoadedBagel, image: Image.Image, seed: int, position: int = 0,
                        vae_transform: ImageTransformConfig | None = None,
                        vit_transform: ImageTransformConfig | None = None) -> EditSource:
    """One input image: resized by the VAE rule (the model's, unless a benchmark's is given), its
    posterior sampled from its own generator (`position` = its place among the request's inputs, so
    several inputs draw independently; position 0 is the single-image case), ViT patches."""
    c = loaded.config
    src = resize(as_rgb(image), vae_transform or c.vae_transform)
    latent = loaded.codec.encode(to_tensor(src)[None], generator=posterior_generator(seed + position))[0]
    tokens = loaded.codec.to_tokens(latent.float())
    grid = (src.height // c.latent_downsample, src.width // c.latent_downsample)
    patches, vit_grid = vit_inputs(src, vit_transform or c.vit_transform, c.vit.patch_size)
    return EditSource(src.width, src.height, tokens, grid, patches, vit_grid)


def edit_jobs(loaded: LoadedBagel, sources: list[EditSource | list[EditSource]], instructions: list[str],
              seeds: list[int]) -> list[ImageJob]:
    """Context per request: every input image (clean VAE copy, then ViT copy) in order, then the
    instruction. Text-uncond = all images, no instruction; image-uncond = the instruction alone (as
    BAGEL's inferencer builds its cfg contexts). The output takes the last input's size."""
    model, tok, c = loaded.model, loaded.tokenizer, loaded.config
    jobs = []
    for srcs, instruction, seed in zip(sources, instructions, seeds):
        srcs = srcs if isinstance(srcs, list) else [srcs]
        ids = tok.encode(instruction)
        capacity = sum(s.vae_tokens.shape[0] + s.vit_patches.shape[0] + 4 for s in srcs) + len(ids) + 2
        cache = SequenceCache.for_model(model, capacity=capacity)
        for src in srcs:
            prefill_vae_image(model, cache, src.vae_tokens, src.grid, tok.special)
            prefill_vit_image(model, cache, src.vit_patches, src.vit_grid, tok.special)
        text_uncond = Branch(cache, cache.length, cache.rope)  # images, no instruction
        prefill_text(model, cache, ids, tok.special)
        img_cache = SequenceCache.for_model(model, capacity=len(ids) + 2)
        prefill_text(model, img_cache, ids, tok.special)  # instruction alone, from RoPE 0
        grid = srcs[-1].grid
        jobs.append(ImageJob(
            cond=Branch(cache, cache.length, cache.rope),
            text_uncond=text_uncond,
            img_uncond=Branch(img_cache, img_cache.length, img_cache.rope),
            noise=initial_noise(seed, grid[0] * grid[1], c.patch_latent_dim),
            grid=grid,
        ))
    return jobs


def edit_images(loaded: LoadedBagel, images: list[Image.Image | list[Image.Image]], instructions: list[str],
                seeds: list[int], settings: SamplerSettings, trace: Trace | None = None,
                vae_transform: ImageTransformConfig | None = None,
                vit_transform: ImageTransformConfig | None = None, compile: str = "off",
                compile_backend: str | Callable = "inductor") -> list[Image.Image]:
    """Edit each image (or each list of input images, the one to edit last); requests are grouped by
    their output size (a batch shares one size). `vae_transform` / `vit_transform` replace the
    model's own resize rules for the inputs (benchmarks fix them: the suite specs' [generation.extra]).
    `compile`: as in `generate_images`."""
    sources = [
        [prepare_edit_source(loaded, im, s, k, vae_transform, vit_transform)
         for k, im in enumerate(ims if isinstance(ims, list | tuple) else [ims])]
        for ims, s in zip(images, seeds)
    ]
    out: list[Image.Image | None] = [None] * len(images)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, srcs in enumerate(sources):
        groups.setdefault((srcs[-1].width, srcs[-1].height), []).append(i)
    for (w, h), idx in groups.items():
        jobs = edit_jobs(loaded, [sources[i] for i in idx], [instructions[i] for i in idx], [seeds[i] for i in idx])
        group_trace = None if trace is None else (lambda s, t, i, v, idx=idx: trace(s, t, idx[i], v))
        latents = denoise(loaded.model, jobs, settings, loaded.tokenizer.special, group_trace, compile,
                          compile_backend)
        for i, z in zip(idx, latents):
            out[i] = loaded.codec.tokens_to_image(z, h, w)
    return out  # type: ignore[return-value]
