"""`uno-train pretrain --preset tiny-shapes` at 1% of the shipped recipe: the recipe still trains
(the loss falls) and its output is a BAGEL folder that uno-bench loads, samples from, edits with and
captions with."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from uno_bench.models.bagel import checkpoint, sampler
from uno_bench.models.bagel.understand import describe
from uno_bench.models.settings import SamplerSettings


@pytest.mark.slow
def test_the_recipe_at_one_percent_trains_and_loads(tmp_path, uno_env):
    out = tmp_path / "tiny-shapes"
    r = subprocess.run([sys.executable, "-m", "uno_train", "pretrain", "--preset", "tiny-shapes", "--scale", "0.01",
                        "--steps", "40", "--out", str(out), "--threads", "2"],
                       capture_output=True, text=True, env=uno_env, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 2 and losses[-1] < 0.9 * losses[0]  # 40 steps, logged at 20 and 40
    recipe = json.loads((out / "recipe.json").read_text())
    assert recipe["preset"] == "tiny-shapes" and recipe["train"]["steps"] == 40
    assert recipe["source"]["edit_fraction"] > 0  # the recipe trains editing too
    assert recipe["vit_pretrain_heldout"]["step"] == 40 and (out / "vit" / "vit.safetensors").exists()
    words = recipe["caption_exact_match_heldout"]["word_accuracy"]
    assert set(words) == {"count", "color", "shape", "position"}
    loaded = checkpoint.load(out, dtype=torch.float32)
    assert loaded.config.latent_patch_size == 2 and loaded.tokenizer.vocab_size == loaded.config.llm.vocab_size
    settings = SamplerSettings(num_timesteps=3, width=64, height=64)
    [image] = sampler.generate_images(loaded, ["a photo of a red circle"], [0], settings)
    assert image.size == (64, 64)
    edit_settings = SamplerSettings(num_timesteps=3, cfg_img_scale=1.5, cfg_renorm_type="text_channel")
    [edited] = sampler.edit_images(loaded, [image], ["make the red circle blue"], [0], edit_settings)
    assert edited.size == (64, 64)
    [caption] = describe(loaded, [image], "", max_new_tokens=8)
    from uno_bench.shapes.edits import edit_vocabulary

    assert isinstance(caption, str) and set(caption.split()) <= set(edit_vocabulary())


def test_an_init_tensor_the_model_lacks_is_refused_before_training(tmp_path):
    """`pretrain(init=...)` (a pre-trained ViT, say) names tensors that do not fit instead of ignoring them."""
    from uno_train.presets import tiny_shapes
    from uno_train.pretrain import pretrain

    with pytest.raises(ValueError, match="does not have"):
        pretrain(tiny_shapes(scale=0.001), tmp_path / "run", log=lambda *_: None,
                 init={"vit_model.no_such_layer.weight": torch.zeros(2)})
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing trained
