"""The fast sampler against the plain reference path, and the schedule / CFG formulas."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from uno_bench.models.bagel import reference, sampler
from uno_bench.models.settings import SamplerSettings

T2I = SamplerSettings(num_timesteps=6, timestep_shift=3.0, cfg_text_scale=4.0, cfg_interval=(0.4, 1.0),
                      width=32, height=32)
EDIT = SamplerSettings(num_timesteps=5, cfg_text_scale=4.0, cfg_img_scale=2.0, cfg_interval=(0.0, 1.0),
                       cfg_renorm_type="text_channel", width=32, height=32)


def _pixels(im: Image.Image) -> np.ndarray:
    return np.asarray(im, dtype=np.int16)


def _collect(store):
    return lambda step, t, i, v: store.__setitem__((step, i), v.detach().clone())


def test_schedule_is_the_shifted_linspace():
    t, dt = sampler.timestep_schedule(50, 3.0)
    grid = torch.linspace(1, 0, 50)
    shifted = 3.0 * grid / (1 + 2.0 * grid)
    assert len(t) == 49  # 50 points = 49 network evaluations
    assert torch.allclose(t, shifted[:-1]) and torch.allclose(dt, shifted[:-1] - shifted[1:])
    assert float(t[0]) == 1.0 and float(dt.sum()) == pytest.approx(1.0)


@pytest.mark.parametrize("renorm", ["global", "channel", "text_channel"])
def test_fast_equals_reference_t2i(tiny_loaded, renorm):
    settings = T2I.with_overrides(cfg_renorm_type=renorm, cfg_img_scale=1.5 if renorm == "global" else 1.0)
    fast, ref = {}, {}
    prompts, seeds = ["a photo of a red circle", "two blue squares and a green triangle above"], [11, 12]
    images = sampler.generate_images(tiny_loaded, prompts, seeds, settings, trace=_collect(fast))
    for i, (p, s) in enumerate(zip(prompts, seeds)):
        ref_trace = {}
        im = reference.reference_generate(tiny_loaded, p, s, settings, trace=_collect(ref_trace))
        for (step, _), v in ref_trace.items():
            ref[(step, i)] = v
        assert np.abs(_pixels(im) - _pixels(images[i])).max() <= 1
    assert set(fast) == set(ref) and len(ref) == 2 * (settings.num_timesteps - 1)
    assert max((fast[k] - ref[k]).abs().max().item() for k in ref) < 1e-5


def test_fast_equals_reference_edit(tiny_loaded):
    srcs = [Image.new("RGB", (40, 32), (200, 40, 40)), Image.new("RGB", (32, 48), (40, 40, 200))]
    instructions, seeds = ["make it blue", "add a red circle to the left"], [5, 6]
    fast = {}
    edited = sampler.edit_images(tiny_loaded, srcs, instructions, seeds, EDIT, trace=_collect(fast))
    for i in range(2):
        ref = {}
        im = reference.reference_edit(tiny_loaded, srcs[i], instructions[i], seeds[i], EDIT, trace=_collect(ref))
        assert im.size == edited[i].size == srcs[i].size
        assert max((fast[(s, i)] - ref[(s, 0)]).abs().max().item() for s, _ in ref) < 1e-5
        assert np.abs(_pixels(im) - _pixels(edited[i])).max() <= 1


def test_image_does_not_depend_on_its_batch(tiny_loaded):
    prompts = ["a red circle", "three yellow squares on the left of a black triangle", "a pink circle"]
    seeds = [1, 2, 3]
    batched = sampler.generate_images(tiny_loaded, prompts, seeds, T2I)
    alone = sampler.generate_images(tiny_loaded, prompts[1:2], seeds[1:2], T2I)
    assert np.array_equal(_pixels(batched[1]), _pixels(alone[0]))
    # a different seed gives a different image
    other = sampler.generate_images(tiny_loaded, prompts[1:2], [99], T2I)
    assert not np.array_equal(_pixels(other[0]), _pixels(alone[0]))


def test_official_pooled_global_renorm_couples_batched_images(tiny_loaded):
    settings = T2I.with_overrides(cfg_interval=(0.0, 1.0))
    pooled = settings.with_overrides(official_batch_global_renorm=True)
    a = {}
    sampler.generate_images(tiny_loaded, ["a red circle", "a blue square"], [1, 2], pooled, trace=_collect(a))
    b = {}
    sampler.generate_images(tiny_loaded, ["a red circle"], [1], pooled, trace=_collect(b))
    per_image = {}
    sampler.generate_images(tiny_loaded, ["a red circle"], [1], settings, trace=_collect(per_image))
    # alone, pooled == per image; in a batch, the pooled norm mixes the two images
    assert torch.allclose(b[(0, 0)], per_image[(0, 0)], atol=1e-6)
    assert not torch.allclose(a[(0, 0)], b[(0, 0)], atol=1e-6)


def test_cfg_combine_formulas():
    torch.manual_seed(0)
    v_c, v_t, v_i = (torch.randn(2, 5, 4) for _ in range(3))
    # no text guidance: conditional velocity only (upstream gates image guidance too)
    assert torch.equal(sampler.cfg_combine(v_c, v_t, v_i, 1.0, 2.0, "global", 0.0), v_c)
    out = sampler.cfg_combine(v_c, v_t, None, 4.0, 1.0, "global", 1.0)  # renorm_min 1 disables renorm
    assert torch.allclose(out, v_t + 4 * (v_c - v_t))
    g = sampler.cfg_combine(v_c, v_t, v_i, 4.0, 2.0, "global", 0.0)
    raw = v_i + 2 * (v_t + 4 * (v_c - v_t) - v_i)
    for b in range(2):
        scale = min(1.0, float(v_c[b].norm() / raw[b].norm()))
        assert torch.allclose(g[b], raw[b] * scale, atol=1e-6)
    tc = sampler.cfg_combine(v_c, v_t, v_i, 4.0, 2.0, "text_channel", 0.0)
    vt = v_t + 4 * (v_c - v_t)
    vt = vt * (v_c.norm(dim=-1, keepdim=True) / vt.norm(dim=-1, keepdim=True)).clamp(max=1.0)
    assert torch.allclose(tc, v_i + 2 * (vt - v_i), atol=1e-6)


def test_cfg_interval_is_strict_at_the_lower_bound(tiny_loaded):
    assert not sampler.guidance_active(0.4, (0.4, 1.0))
    assert sampler.guidance_active(1.0, (0.4, 1.0)) and sampler.guidance_active(0.41, (0.4, 1.0))
    assert sampler.guidance_active(1e-9, (0.0, 1.0)) and not sampler.guidance_active(0.0, (0.0, 1.0))
    # end to end: an interval that excludes every step equals running without guidance
    t, _ = sampler.timestep_schedule(T2I.num_timesteps, T2I.timestep_shift)
    off = sampler.generate_images(tiny_loaded, ["a red circle"], [3], T2I.with_overrides(cfg_interval=(1.0, 1.0)))
    none = sampler.generate_images(tiny_loaded, ["a red circle"], [3], T2I.with_overrides(cfg_text_scale=1.0))
    on = sampler.generate_images(tiny_loaded, ["a red circle"], [3], T2I.with_overrides(cfg_interval=(float(t[-1]), 1.0)))
    assert np.array_equal(_pixels(off[0]), _pixels(none[0]))
    assert not np.array_equal(_pixels(on[0]), _pixels(none[0]))


# ----------------------------------------------------------------------------- compiled step
# On the CPU the tests compile with aot_eager (dynamo + AOT autograd, no code generation): inductor's
# C++ code generation of even the tiny decoder takes minutes on the shared test machine.


@pytest.fixture()
def counting_backend():
    """aot_eager that counts the graphs it is given (one per compile or recompile)."""
    from torch._dynamo.backends.debugging import aot_eager

    torch._dynamo.reset()
    graphs: list[int] = []

    def backend(gm, example_inputs):
        graphs.append(len(gm.graph.nodes))
        return aot_eager(gm, example_inputs)

    backend.graphs = graphs
    yield backend
    torch._dynamo.reset()


def test_compiled_step_equals_eager_one_graph_for_all_steps(tiny_loaded, counting_backend):
    settings = T2I.with_overrides(num_timesteps=16, cfg_interval=(0.0, 1.0))  # every step guided
    prompts, seeds = ["a photo of a red circle", "two blue squares"], [11, 12]
    eager, compiled = {}, {}
    want = sampler.generate_images(tiny_loaded, prompts, seeds, settings, trace=_collect(eager))
    with torch._dynamo.config.patch(error_on_recompile=True):
        got = sampler.generate_images(tiny_loaded, prompts, seeds, settings, trace=_collect(compiled),
                                      compile="default", compile_backend=counting_backend)
    assert len(counting_backend.graphs) == 1  # 15 steps, one compile, no recompile
    assert set(compiled) == set(eager) and len(eager) == 2 * 15
    assert max((compiled[k] - eager[k]).abs().max().item() for k in eager) < 1e-5
    assert all(np.abs(_pixels(a) - _pixels(b)).max() <= 1 for a, b in zip(want, got))


def test_compiled_step_one_graph_per_guidance_state_reused_across_calls(tiny_loaded, counting_backend):
    settings = T2I.with_overrides(num_timesteps=20)  # guided only while t > 0.4: two row counts
    run = lambda prompt, seed: sampler.generate_images(  # noqa: E731
        tiny_loaded, [prompt], [seed], settings, compile="default", compile_backend=counting_backend)
    run("a red circle", 1)
    assert len(counting_backend.graphs) == 2
    # another prompt length (the context is padded to a multiple of 64) and seed: no new graph
    eager, compiled = {}, {}
    prompt = "three yellow squares on the left of a black triangle"
    sampler.generate_images(tiny_loaded, [prompt], [2], settings, trace=_collect(eager))
    sampler.generate_images(tiny_loaded, [prompt], [2], settings, trace=_collect(compiled), compile="default",
                            compile_backend=counting_backend)
    assert len(counting_backend.graphs) == 2
    assert max((compiled[k] - eager[k]).abs().max().item() for k in eager) < 1e-5


def test_compiled_step_equals_eager_edit(tiny_loaded, counting_backend):
    srcs = [Image.new("RGB", (40, 32), (200, 40, 40)), Image.new("RGB", (40, 32), (40, 40, 200))]
    instructions, seeds = ["make it blue", "add a red circle to the left"], [5, 6]
    eager, compiled = {}, {}
    sampler.edit_images(tiny_loaded, srcs, instructions, seeds, EDIT, trace=_collect(eager))
    sampler.edit_images(tiny_loaded, srcs, instructions, seeds, EDIT, trace=_collect(compiled), compile="default",
                        compile_backend=counting_backend)
    assert len(counting_backend.graphs) == 1  # three CFG branches per image, every step
    assert max((compiled[k] - eager[k]).abs().max().item() for k in eager) < 1e-5


def test_compile_modes_are_checked(tiny_loaded):
    with pytest.raises(ValueError, match="cudagraphs needs a CUDA device"):
        sampler.generate_images(tiny_loaded, ["a red circle"], [1], T2I, compile="cudagraphs")
    with pytest.raises(ValueError, match="compile mode must be one of"):
        sampler.generate_images(tiny_loaded, ["a red circle"], [1], T2I, compile="max-autotune")
