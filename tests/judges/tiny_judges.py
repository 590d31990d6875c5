"""Tiny random Mask2Former and CLIP judges for the judge tests, built from configs: nothing is
downloaded. Test modules import the fixtures they use from here (a conftest.py in this folder would
shadow tests/conftest.py for the other test folders' `from conftest import ...`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from uno_bench.judges import mmdet_convert

TINY_CLASSES = ["cat", "dog", "cup", "car", "tie"]
# 8 attention heads like the real model (the converter assumes mmdet's 8); every Swin stage has a
# shifted block; two decoder layers so both attention-mask levels are used.
TINY_ARCH = mmdet_convert.Mask2FormerArch(
    embed_dim=16, depths=(2, 2, 2, 2), num_heads=(1, 2, 2, 4), hidden_dim=32, encoder_layers=1,
    encoder_ffn_dim=64, decoder_layers=2, decoder_ffn_dim=64, num_queries=6, num_classes=len(TINY_CLASSES),
)

TINY_CLIP = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def randomize(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter random (transformers' init leaves many at zero or one, which hides mix-ups).

    Small biases keep the masks from saturating, so a structured image gets partial masks.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * (0.01 if name.endswith("bias") else 0.1))
    return model


@pytest.fixture(scope="session")
def tiny_m2f():
    from transformers import Mask2FormerForUniversalSegmentation

    torch.manual_seed(0)
    model = Mask2FormerForUniversalSegmentation(mmdet_convert.hub_config(TINY_ARCH, TINY_CLASSES))
    return randomize(model, seed=1).eval()


@pytest.fixture(scope="session")
def tiny_m2f_folder(tiny_m2f, tmp_path_factory) -> Path:
    """The tiny model saved by transformers (hub key layout)."""
    folder = tmp_path_factory.mktemp("m2f") / "tiny-mask2former"
    tiny_m2f.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_mmdet_pth(tiny_m2f_folder, tmp_path_factory) -> Path:
    """The same weights as an OpenMMLab-style checkpoint: legacy torch.save format, numpy in meta."""
    from safetensors.torch import load_file

    hub = load_file(str(tiny_m2f_folder / "model.safetensors"))
    state = mmdet_convert.hub_to_mmdet(hub, TINY_ARCH)
    path = tmp_path_factory.mktemp("mmdet") / "tiny_mask2former.pth"
    meta = {"CLASSES": tuple(TINY_CLASSES), "seed": np.int64(0), "best_score": np.float64(0.5), "config": "..."}
    torch.save({"meta": meta, "state_dict": state}, path, _use_new_zipfile_serialization=False)
    return path




@pytest.fixture(scope="session")
def tiny_clip_name(tmp_path_factory) -> str:
    """A tiny CLIP architecture registered with open_clip under its own name."""
    import open_clip

    path = tmp_path_factory.mktemp("clipcfg") / "uno-tiny-clip.json"
    path.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(path)
    return "uno-tiny-clip"


@pytest.fixture(scope="session")
def tiny_clip_weights(tiny_clip_name, tmp_path_factory) -> Path:
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.create_model(tiny_clip_name, force_quick_gelu=True)
    path = tmp_path_factory.mktemp("clipw") / "open_clip_model.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path
