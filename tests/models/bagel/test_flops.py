"""The sampler's FLOP count (flops.py) against counts done by hand."""

from __future__ import annotations

from uno_bench.models.bagel.config import named_config
from uno_bench.models.bagel.flops import bf16_peak_tflops, branch_step_flops, image_flops
from uno_bench.models.settings import SamplerSettings


def test_branch_step_of_the_tiny_config_by_hand():
    # tiny: hidden 64, MLP 128, 2 layers, 4 q heads / 2 kv heads of 16, latent patch dim 2*2*4 = 16.
    # 4 latent tokens + 2 markers = 6 query tokens, 3 context tokens.
    q, k, v, o = 2 * 6 * 64 * 64, 2 * 6 * 64 * 32, 2 * 6 * 64 * 32, 2 * 6 * 64 * 64  # 147,456 together
    mlp = 3 * 2 * 6 * 64 * 128  # 294,912
    attention = 2 * (2 * 6 * 9 * 64)  # QK^T and PV over 3 + 6 keys, 4 heads x 16 = 64 wide: 13,824
    adapters = 2 * (2 * 4 * 16 * 64)  # vae2llm + llm2vae on the 4 latent tokens: 16,384
    expected = 2 * (q + k + v + o + mlp + attention) + adapters
    assert expected == 928_768
    assert branch_step_flops(named_config("tiny"), image_tokens=4, context=3) == expected


def test_bagel_7b_at_1024_is_about_6e13_per_branch_step():
    n, t = 4096, 4098  # 64 x 64 latent tokens at 1024^2, plus the two markers; empty context
    per_layer = 2 * t * 3584 * (2 * 3584 + 2 * 512) + 6 * t * 3584 * 18944 + 4 * t * t * 3584
    expected = 28 * per_layer + 4 * n * 64 * 3584
    assert branch_step_flops(named_config("bagel-7b"), n, 0) == expected
    assert 5.9e13 < expected < 6.1e13


def test_image_counts_the_active_branches_of_every_step():
    tiny = named_config("tiny")
    per = {k: branch_step_flops(tiny, 4, c) for k, c in (("cond", 3), ("text_uncond", 0), ("img_uncond", 2))}
    contexts = {"cond": 3, "text_uncond": 0, "img_uncond": 2}
    # 6 points, shift 1: steps at t = 1, .8, .6, .4, .2; guidance where 0.5 < t <= 1: the first three
    s = SamplerSettings(num_timesteps=6, timestep_shift=1.0, cfg_text_scale=4.0, cfg_img_scale=2.0,
                        cfg_interval=(0.5, 1.0))
    assert image_flops(tiny, s, 4, contexts, img_uncond_shared=True) == 5 * per["cond"] + 3 * per["text_uncond"]
    assert image_flops(tiny, s, 4, contexts, img_uncond_shared=False) == \
        5 * per["cond"] + 3 * per["text_uncond"] + 3 * per["img_uncond"]
    assert image_flops(tiny, s.with_overrides(cfg_text_scale=1.0), 4, contexts, False) == 5 * per["cond"]


def test_bf16_peaks_by_device_name():
    assert bf16_peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert bf16_peak_tflops("NVIDIA H200") == 989.0
    assert bf16_peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert bf16_peak_tflops("cpu") is None
