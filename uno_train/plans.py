"""Sequence plans -> packed batches (BAGEL's `sequence_plan` + `PackedDataset.pack_sequence`).

An `Example` is a list of items — text, ViT image, VAE image — each with its loss and CFG-dropout
flags. Packing tokenises the text, VAE-encodes the images (sampling the posterior, as BAGEL does),
applies condition dropout for classifier-free guidance, and lays everything out with
`PackedBuilder` (positions, routing, masks, CE labels).

Condition dropout (as ByteDance-Seed/Bagel@056b5fd data/dataset_base.py `PackedDataset.pack_sequence`): a
text item with `enable_cfg` disappears with probability `text` (RoPE does not advance); a ViT image or a
clean VAE image with `enable_cfg` is dropped with probability `vit` / `vae` (RoPE still advances by one).
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
    term: str = "ce"  # which loss term its next-token CE belongs to (e.g. "uno_caption")
    name: str | None = None
    sees: tuple[str, ...] | None = None  # names of earlier splits it may attend to (None: all visible)


@dataclass
class VitItem:
    image: Image.Image
    enable_cfg: bool = False
    name: str | None = None
    sees: tuple[str, ...] | None = None
    side: bool = False  # through the ViT only, never in the sequence (e.g. a regression target)


@dataclass
class VaeItem:
    image: Image.Image
    noisy: bool  # the image to generate (flow-matching loss) or a clean condition
    enable_cfg: bool = False
    mode: str | None = None  # attention mode override (default: noise if noisy else full)
    name: str | None = None
    sees: tuple[str, ...] | None = None


@dataclass
class QueryItem:
    """`count` learned-embedding slots (e.g. UNO metaqueries), routed to the und expert."""

    count: int
    name: str | None = None
    sees: tuple[str, ...] | None = None


@dataclass
class SkipItem:
    """Advance RoPE without tokens (e.g. after a noisy image that later tokens read)."""

    count: int = 1


@dataclass
class NewSample:
    """Start a new, isolated sample inside the same example (nothing crosses samples)."""


Item = TextItem | VitItem | VaeItem | QueryItem | SkipItem | NewSample


@dataclass
class Example:
    items: list[Item]
    kind: str = ""  # e.g. "t2i", "caption": for logging only
    index: int = 0  # global example index: seeds every random draw of this example
    meta: dict = field(default_factory=dict)  # e.g. {"captions": [...]} re-captions of the target image


@dataclass(frozen=True)
class DropoutProbs:
    text: float = 0.1
    vit: float = 0.3
    vae: float = 0.3


@dataclass
class Packed:
    batch: PackedBatch
    x0: Tensor  # clean latent tokens of every VAE image, in packing order
    eps: Tensor  # the flow-matching noise drawn for those tokens (used for noisy images only)
    noisy_images: int
    kinds: list[str] = field(default_factory=list)
    ce_terms: list[str] = field(default_factory=list)  # loss term of each CE position
    named_splits: list[dict[str, tuple[int, int]]] = field(default_factory=list)  # per sample: name -> (start, len) in the sequence

    def ce_mask(self, term: str) -> Tensor:
        return torch.tensor([t == term for t in self.ce_terms], dtype=torch.bool)

    def count(self, term: str) -> int:
        return sum(t == term for t in self.ce_terms)


def example_generators(seed: int, index: int) -> tuple[np.random.Generator, torch.Generator]:
    """Every random draw of an example comes from these, keyed by (seed, global index) only, so a
    global batch gives the same numbers on 1 rank or N ranks, in any micro-batch split."""
    # SeedSequence takes non-negative words only; the trainer's stand-in for an all-bad micro-batch has index -1.
    key = np.random.SeedSequence([seed % 2**64, index % 2**64])
    g = torch.Generator().manual_seed(int(key.generate_state(1, np.uint64)[0] % (2**63)))
    return np.random.default_rng(key), g


def encode_images(loaded: LoadedBagel, images: list[Image.Image], generators: list[torch.Generator]) -> list[Tensor]:
    """VAE-encode images (same-size groups batched) and sample each posterior with its own
    generator, into latent patch tokens."""
    out: list[Tensor | None] = [None] * len(images)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, im in enumerate(images):
        groups.setdefault(im.size, []).append(i)
    codec = loaded.codec
    for idx in groups.values():
        mean, std = codec.posterior(torch.stack([to_tensor(images[i]) for i in idx]))
        for j, i in enumerate(idx):
            noise = torch.randn(mean[j].shape, generator=generators[i]).to(mean.device, mean.dtype)
            out[i] = codec.to_tokens(codec.scale(mean[j] + std[j] * noise).float())
    return out  # type: ignore[return-value]


def _stand_in(ex: Example, side: int) -> Example:
    """Add one noisy latent token (a side x side black image) to the stand-in, so its zeroed loss also
    reaches the generation expert: under UNO the text path is frozen, and a loss that reaches no
    trainable weight cannot be back-propagated."""
    return Example([*ex.items, VaeItem(Image.new("RGB", (side, side)), noisy=True)], ex.kind, ex.index, ex.meta)


def pack(loaded: LoadedBagel, examples: list[Example], seed: int, timestep_shift: float = 1.0,
         dropout: DropoutProbs = DropoutProbs()) -> Packed:
    """Pack examples into one sequence: dropout, VAE encoding, flow times and noise per example."""
    from uno_train.objectives import sample_timesteps

    cfg, tok = loaded.config, loaded.tokenizer
    builder = PackedBuilder.for_model(loaded.model, tok.special)
    plans = []
    for ex in examples:
        if ex.kind == "empty":  # the trainer's zero-weight stand-in for an all-bad micro-batch
            ex = _stand_in(ex, cfg.latent_downsample)
        rng, gen = example_generators(seed, ex.index)
        items = []
        for item in ex.items:  # dropout decisions first, so encoding skips dropped images
            if isinstance(item, TextItem) and item.enable_cfg and rng.random() < dropout.text:
                continue
            if isinstance(item, VitItem) and item.enable_cfg and rng.random() < dropout.vit:
                item = "skip"
            elif isinstance(item, VaeItem) and not item.noisy and item.enable_cfg and rng.random() < dropout.vae:
                item = "skip"
            items.append(item)
        plans.append((ex, items, gen))
    vae = [(it, gen) for _, items, gen in plans for it in items if isinstance(it, VaeItem)]
    tokens = iter(encode_images(loaded, [it.image for it, _ in vae], [g for _, g in vae]) if vae else [])
    x0, eps, noisy, ce_terms = [], [], 0, []
    names: dict[str, int] = {}  # split names of the current sample

    def sees(item) -> set[int] | None:
        return None if item.sees is None else {names[n] for n in item.sees if n in names}  # a dropped split is simply not seen

    def named(item, index: int) -> None:
        if item.name:
            names[item.name] = index

    for _, items, gen in plans:
        builder.start_sample()
        names.clear()
        for item in items:
            if isinstance(item, str):
                builder.skip_positions(1)
            elif isinstance(item, NewSample):
                builder.start_sample()
                names.clear()
            elif isinstance(item, SkipItem):
                builder.skip_positions(item.count)
            elif isinstance(item, TextItem):
                before = builder.num_ce
                named(item, builder.add_text(tok.encode(item.text), loss=item.loss, sees=sees(item), name=item.name))
                ce_terms += [item.term] * (builder.num_ce - before)
            elif isinstance(item, VitItem):
                patches, grid = vit_inputs(item.image, cfg.vit_transform, cfg.vit.patch_size)
                if item.side:
                    builder.add_side_vit_image(patches, grid)
                else:
                    named(item, builder.add_vit_image(patches, grid, sees=sees(item), name=item.name))
            elif isinstance(item, QueryItem):
                named(item, builder.add_embeddings(item.count, sees=sees(item), name=item.name))
            else:
                z = next(tokens)
                grid = (item.image.height // cfg.latent_downsample, item.image.width // cfg.latent_downsample)
                t = float(sample_timesteps(1, timestep_shift, gen)[0]) if item.noisy else 0.0
                named(item, builder.add_vae_image(z, grid, noisy=item.noisy, t=t, mode=item.mode, sees=sees(item),
                                                  name=item.name))
                x0.append(z)
                eps.append(torch.randn(z.shape, generator=gen))
                noisy += int(item.noisy)
    dim = cfg.patch_latent_dim
    batch = builder.build()
    return Packed(batch, torch.cat(x0) if x0 else torch.zeros(0, dim), torch.cat(eps) if eps else torch.zeros(0, dim),
                  noisy, [ex.kind for ex, _, _ in plans], ce_terms, builder.named_ranges())
