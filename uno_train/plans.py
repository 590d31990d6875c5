"""Sequence plans -> packed batches (BAGEL's `sequence_plan` + `PackedDataset.pack_sequence`).

An `Example` is a list of items — text, ViT image, VAE image — each with its loss and CFG-dropout
flags. Packing tokenises the text, VAE-encodes the images (sampling the posterior, as BAGEL does),
applies condition dropout for classifier-free guidance, and lays everything out with
`PackedBuilder` (positions, routing, masks, CE labels).

Condition dropout (bagel.md §3.3): a text item with `enable_cfg` disappears with probability
`text` (RoPE does not advance); a ViT image or a clean VAE image with `enable_cfg` is dropped with
probability `vit` / `vae` (RoPE still advances by one).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from uno_bench.models.bagel.checkpoint import LoadedBagel
from uno_bench.models.bagel.packing import PackedBatch, PackedBuilder
from uno_bench.models.bagel.transforms import to_tensor, vit_inputs


@dataclass
class TextItem:
    text: str
    loss: bool = False
    enable_cfg: bool = False


@dataclass
class VitItem:
    image: Image.Image
    enable_cfg: bool = False


@dataclass
class VaeItem:
    image: Image.Image
    noisy: bool  # the image to generate (flow-matching loss) or a clean condition
    enable_cfg: bool = False


Item = TextItem | VitItem | VaeItem


@dataclass
class Example:
    items: list[Item]
    kind: str = ""  # e.g. "t2i", "caption": for logging only


@dataclass(frozen=True)
class DropoutProbs:
    text: float = 0.1
    vit: float = 0.3
    vae: float = 0.3


@dataclass
class Packed:
    batch: PackedBatch
    x0: Tensor  # clean latent tokens of every VAE image, in packing order
    noisy_images: int
    kinds: list[str] = field(default_factory=list)


def encode_images(loaded: LoadedBagel, images: list[Image.Image], generator: torch.Generator) -> list[Tensor]:
    """VAE-encode images (same-size groups batched) into latent patch tokens."""
    out: list[Tensor | None] = [None] * len(images)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, im in enumerate(images):
        groups.setdefault(im.size, []).append(i)
    for idx in groups.values():
        pixels = torch.stack([to_tensor(images[i]) for i in idx])
        latents = loaded.codec.encode(pixels, generator=generator)
        for i, z in zip(idx, latents):
            out[i] = loaded.codec.to_tokens(z.float())
    return out  # type: ignore[return-value]


def pack(loaded: LoadedBagel, examples: list[Example], rng: np.random.Generator, generator: torch.Generator,
         timesteps: Tensor | None = None, dropout: DropoutProbs = DropoutProbs()) -> Packed:
    """Pack examples into one sequence. `timesteps` gives one flow time per noisy image (in order)."""
    cfg, tok = loaded.config, loaded.tokenizer
    builder = PackedBuilder.for_model(loaded.model, tok.special)
    kept: list[tuple[Example, list[Item]]] = []
    for ex in examples:  # dropout decisions first, so encoding skips dropped images
        items = []
        for item in ex.items:
            if isinstance(item, TextItem) and item.enable_cfg and rng.random() < dropout.text:
                continue
            if isinstance(item, VitItem) and item.enable_cfg and rng.random() < dropout.vit:
                item = "skip"
            elif isinstance(item, VaeItem) and not item.noisy and item.enable_cfg and rng.random() < dropout.vae:
                item = "skip"
            items.append(item)
        kept.append((ex, items))
    vae_images = [it.image for _, items in kept for it in items if isinstance(it, VaeItem)]
    tokens = iter(encode_images(loaded, vae_images, generator)) if vae_images else iter(())
    x0, noisy = [], 0
    for _, items in kept:
        builder.start_sample()
        for item in items:
            if item == "skip":
                builder.skip_positions(1)
            elif isinstance(item, TextItem):
                builder.add_text(tok.encode(item.text), loss=item.loss)
            elif isinstance(item, VitItem):
                patches, grid = vit_inputs(item.image, cfg.vit_transform, cfg.vit.patch_size)
                builder.add_vit_image(patches, grid)
            else:
                z = next(tokens)
                grid = (item.image.height // cfg.latent_downsample, item.image.width // cfg.latent_downsample)
                t = float(timesteps[noisy]) if (item.noisy and timesteps is not None) else 0.0
                builder.add_vae_image(z, grid, noisy=item.noisy, t=t)
                x0.append(z)
                noisy += int(item.noisy)
    batch = builder.build()
    return Packed(batch, torch.cat(x0) if x0 else torch.zeros(0, cfg.patch_latent_dim), noisy,
                  [ex.kind for ex, _ in kept])


def count_noisy(examples: list[Example]) -> int:
    return sum(isinstance(it, VaeItem) and it.noisy for ex in examples for it in ex.items)
