"""FLOP count of the sampler's denoising steps: the yardstick for achieved TFLOP/s (bench_sampler.py).

One *branch-step* = one CFG branch of one image through the MoT decoder at one timestep: a query
block of T = N + 2 tokens (N latent tokens between the two image markers) attending to itself and
its cached context of C tokens. Counted, with a multiply-add = 2 FLOPs, per decoder layer:

    projections  2 T h (H d + 2 KV d + H d)     q, k, v, o (the expert each token is routed to;
                                                 both experts have the same shapes)
    MLP          2 T h I x 3                     SwiGLU gate, up, down
    attention    2 T (C + T) H d x 2             Q K^T and P V, every query over context + block

times L layers, plus the latent adapters 2 N p h x 2 (vae2llm in, llm2vae out; p = patch latent
dim). Not counted: norms, RoPE, softmax, activations, the timestep embedder (one vector per step),
CFG arithmetic, the context prefill (once per image, not per step) and the VAE decode.

A sampled image costs the sum, over the N_t - 1 steps, of its active branches: cond always;
text-uncond where guidance is active (cfg_interval); img-uncond too when image guidance is on and
its context is not the cond one (text-to-image reuses cond's velocity there).
"""

from __future__ import annotations

from uno_bench.models.bagel.config import BagelConfig
from uno_bench.models.bagel.sampler import guidance_active, timestep_schedule
from uno_bench.models.settings import SamplerSettings


def branch_step_flops(config: BagelConfig, image_tokens: int, context: int) -> int:
    """FLOPs of one branch-step at `image_tokens` latent tokens over `context` cached tokens."""
    llm = config.llm
    h, d, inter = llm.hidden_size, llm.head_dim, llm.intermediate_size
    heads, kv = llm.num_attention_heads, llm.num_key_value_heads
    t = image_tokens + 2  # the block's start/end-of-image markers
    projections = 2 * t * h * (2 * heads * d + 2 * kv * d)
    mlp = 3 * 2 * t * h * inter
    attention = 2 * 2 * t * (context + t) * heads * d
    adapters = 2 * 2 * image_tokens * config.patch_latent_dim * h
    return llm.num_hidden_layers * (projections + mlp + attention) + adapters


def image_flops(config: BagelConfig, settings: SamplerSettings, image_tokens: int, contexts: dict[str, int],
                img_uncond_shared: bool) -> int:
    """FLOPs of sampling one image: `contexts` holds the cached length of each branch (cond,
    text_uncond, img_uncond); `img_uncond_shared`: its velocity is cond's (text-to-image)."""
    use_text = settings.cfg_text_scale > 1.0
    use_img = use_text and settings.cfg_img_scale > 1.0 and not img_uncond_shared
    per_branch = {k: branch_step_flops(config, image_tokens, c) for k, c in contexts.items()}
    total = 0
    for t in timestep_schedule(settings.num_timesteps, settings.timestep_shift)[0].tolist():
        total += per_branch["cond"]
        if guidance_active(t, settings.cfg_interval):
            total += per_branch["text_uncond"] if use_text else 0
            total += per_branch["img_uncond"] if use_img else 0
    return total


# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's data sheets, TFLOP/s, by device name.
BF16_PEAK_TFLOPS = (("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("A100", 312.0))


def bf16_peak_tflops(device_name: str) -> float | None:
    """The data-sheet bf16 peak of a CUDA device named `device_name`, or None when unknown."""
    for key, peak in BF16_PEAK_TFLOPS:
        if key in device_name:
            return peak
    return None
