"""Tiny random Mask2Former and CLIP configurations for the judge tests: nothing is downloaded."""

from __future__ import annotations

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
