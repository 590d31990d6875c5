"""Packed sequences: many samples, each a list of splits (text, ViT image, VAE image, learned
embeddings), laid out in one 1-D token sequence with RoPE positions, expert routing and attention
visibility — BAGEL's `PackedDataset.pack_sequence` conventions (ByteDance-Seed/Bagel@056b5fd
data/dataset_base.py).

Visibility is data, not code in the layers:
- a split's *mode* says how its own tokens see each other (`causal` or `full`) and whether later
  splits may see it (`noise` = full inside, invisible to everything after it);
- a split may also carry `sees`: the explicit set of earlier splits it may attend to (None = all
  visible ones). UNO's caption tokens use this to see the noisy image but not the prompt.
New modes are added with `register_attention_mode`, never by touching the layers.

Nothing crosses sample boundaries. The visibility is read either as one dense mask per sample
(`sample_attention_mask`) or at split granularity for the whole sequence (`split_visibility`); which
attention implementation reads it is `Bagel.forward`'s `attention` choice (attention.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from uno_bench.models.bagel.attention import SplitVisibility
from uno_bench.models.bagel.model import Bagel, grid_position_ids


@dataclass(frozen=True)
class ModeRule:
    within: Literal["causal", "full"]
    visible_to_later: bool


ATTENTION_MODES: dict[str, ModeRule] = {
    "causal": ModeRule("causal", True),  # text
    "full": ModeRule("full", True),  # ViT images, clean VAE images
    "noise": ModeRule("full", False),  # the image being generated: later tokens see its clean copy
}


def register_attention_mode(name: str, rule: ModeRule) -> None:
    if name in ATTENTION_MODES:
        raise ValueError(f"attention mode {name!r} already exists")
    ATTENTION_MODES[name] = rule


@dataclass(frozen=True)
class SplitSpec:
    start: int  # offset inside its sample
    length: int
    mode: str
    sees: frozenset[int] | None = None  # indices of earlier splits (in the same sample) it may see


def sample_attention_mask(splits: list[SplitSpec], device: torch.device | None = None) -> Tensor:
    """Dense boolean mask [l, l] (True = query row may attend key column) for one sample."""
    total = sum(s.length for s in splits)
    mask = torch.zeros(total, total, dtype=torch.bool, device=device)
    for qi, q in enumerate(splits):
        rows = slice(q.start, q.start + q.length)
        for ki in range(qi):
            k = splits[ki]
            if ATTENTION_MODES[k.mode].visible_to_later and (q.sees is None or ki in q.sees):
                mask[rows, k.start : k.start + k.length] = True
        if ATTENTION_MODES[q.mode].within == "causal":
            mask[rows, rows] = torch.ones(q.length, q.length, dtype=torch.bool, device=device).tril()
        else:
            mask[rows, rows] = True
    return mask


def split_visibility(samples: list[list[SplitSpec]], device: torch.device | None = None) -> SplitVisibility:
    """The same visibility as `sample_attention_mask` for every sample of a packed sequence, kept at
    split granularity (FlexAttention's mask function reads it; no [L, L] mask is stored)."""
    count = sum(len(s) for s in samples)
    causal = torch.zeros(count, dtype=torch.bool)
    sees = torch.zeros(count, count, dtype=torch.bool)
    token_split: list[Tensor] = []
    first = 0  # id of the sample's first split
    for splits in samples:
        sample_split = torch.empty(sum(s.length for s in splits), dtype=torch.long)
        for qi, q in enumerate(splits):
            sample_split[q.start : q.start + q.length] = first + qi
            causal[first + qi] = ATTENTION_MODES[q.mode].within == "causal"
            for ki in range(qi):
                if ATTENTION_MODES[splits[ki].mode].visible_to_later and (q.sees is None or ki in q.sees):
                    sees[first + qi, first + ki] = True
        token_split.append(sample_split)
        first += len(splits)
    ids = torch.cat(token_split) if token_split else torch.zeros(0, dtype=torch.long)
    return SplitVisibility(ids.to(device), causal.to(device), sees.to(device))


@dataclass(frozen=True)
class SpecialTokens:
    bos: int  # <|im_start|>
    eos: int  # <|im_end|>
    start_of_image: int  # <|vision_start|>
    end_of_image: int  # <|vision_end|>


@dataclass
class PackedBatch:
    """Index tensors describing one packed sequence (cf. the dict of upstream `PackedDataset.to_tensor`)."""

    sample_lens: list[int]
    splits: list[list[SplitSpec]]
    position_ids: Tensor
    text_ids: Tensor
    text_indexes: Tensor
    ce_indexes: Tensor  # sequence positions whose next token is supervised
    ce_labels: Tensor
    vit_patches: Tensor | None
    vit_position_ids: Tensor | None
    vit_indexes: Tensor
    vit_seqlens: list[int]
    vae_tokens: Tensor | None  # clean x0 patch tokens of every VAE image, [n, p*p*z]
    vae_indexes: Tensor
    latent_position_ids: Tensor | None
    vae_timesteps: Tensor  # per VAE token: flow time t (0 for clean conditioning images)
    vae_noisy: Tensor  # per VAE token: bool, belongs to a noisy (to-be-denoised) image
    vae_image_lens: list[int]
    mse_indexes: Tensor  # sequence positions of noisy latents that carry the flow loss
    embed_indexes: Tensor  # slots for learned embeddings (e.g. UNO metaqueries)
    split_names: list[dict[str, int]] = field(default_factory=list)  # per sample: name -> split index
    # Side images: through the ViT (and connector) only, never placed in the sequence (e.g. UNO's
    # regression targets: features of the clean image that no token may see).
    side_vit_patches: Tensor | None = None
    side_vit_position_ids: Tensor | None = None
    side_vit_seqlens: list[int] = field(default_factory=list)
    side_vit_grids: list[tuple[int, int]] = field(default_factory=list)

    @property
    def sequence_length(self) -> int:
        return sum(self.sample_lens)

    def attention_masks(self, device: torch.device | None = None) -> list[Tensor]:
        return [sample_attention_mask(s, device) for s in self.splits]

    def split_visibility(self, device: torch.device | None = None) -> SplitVisibility:
        return split_visibility(self.splits, device)

    def to(self, device: torch.device) -> PackedBatch:
        moved = {}
        for name, value in self.__dict__.items():
            moved[name] = value.to(device) if isinstance(value, Tensor) else value
        return PackedBatch(**moved)


class PackedBuilder:
    """Build a PackedBatch sample by sample. Positions follow BAGEL: text advances RoPE by one per
    token; every token of an image block (markers included) shares one position; a clean image
    advances the position by one afterwards, a noisy image does not."""

    def __init__(self, special: SpecialTokens, vit_patch: int = 14, vit_max_per_side: int = 70,
                 latent_stride: int = 16, latent_max_per_side: int = 64):
        self.special = special
        self.vit_patch, self.vit_max = vit_patch, vit_max_per_side
        self.latent_stride, self.latent_max = latent_stride, latent_max_per_side
        self._pos: list[int] = []
        self._text_ids: list[int] = []
        self._text_idx: list[int] = []
        self._ce_idx: list[int] = []
        self._ce_labels: list[int] = []
        self._vit_patches: list[Tensor] = []
        self._vit_pos: list[Tensor] = []
        self._vit_idx: list[int] = []
        self._vit_seqlens: list[int] = []
        self._vae_tokens: list[Tensor] = []
        self._vae_idx: list[int] = []
        self._lat_pos: list[Tensor] = []
        self._vae_t: list[float] = []
        self._vae_noisy: list[bool] = []
        self._vae_lens: list[int] = []
        self._mse_idx: list[int] = []
        self._embed_idx: list[int] = []
        self._side: list[tuple[Tensor, tuple[int, int]]] = []
        self.sample_lens: list[int] = []
        self.splits: list[list[SplitSpec]] = []
        self.split_names: list[dict[str, int]] = []
        self._rope = 0

    @classmethod
    def for_model(cls, model: Bagel, special: SpecialTokens) -> PackedBuilder:
        c = model.config
        return cls(special, c.vit.patch_size, c.vit_max_num_patch_per_side, c.latent_downsample, c.max_latent_size)

    # -- bookkeeping
    @property
    def _cursor(self) -> int:
        return len(self._pos)

    @property
    def num_ce(self) -> int:
        return len(self._ce_idx)

    def named_ranges(self) -> list[dict[str, tuple[int, int]]]:
        """Per sample: split name -> (start, length) in the packed sequence."""
        out, offset = [], 0
        for splits, names, length in zip(self.splits, self.split_names, self.sample_lens):
            out.append({n: (offset + splits[i].start, splits[i].length) for n, i in names.items()})
            offset += length
        return out

    def start_sample(self) -> None:
        self.sample_lens.append(0)
        self.splits.append([])
        self.split_names.append({})
        self._rope = 0

    def _open_split(self, length: int, mode: str, sees: set[int] | None, name: str | None) -> int:
        if not self.sample_lens:
            self.start_sample()
        if mode not in ATTENTION_MODES:
            raise ValueError(f"unknown attention mode {mode!r}")
        spec = SplitSpec(self.sample_lens[-1], length, mode, frozenset(sees) if sees is not None else None)
        self.splits[-1].append(spec)
        self.sample_lens[-1] += length
        index = len(self.splits[-1]) - 1
        if name:
            self.split_names[-1][name] = index
        return index

    def _add_text_token(self, token: int, position: int) -> int:
        idx = self._cursor
        self._text_ids.append(token)
        self._text_idx.append(idx)
        self._pos.append(position)
        return idx

    def skip_positions(self, count: int = 1) -> None:
        """Advance RoPE without adding tokens: a condition image dropped for CFG still advances
        the position by one (upstream `pack_sequence`); a dropped text segment does not (don't call this)."""
        self._rope += count

    # -- splits
    def add_text(self, ids: list[int], *, loss: bool = False, mode: str = "causal",
                 sees: set[int] | None = None, eos_label: int | None = None, name: str | None = None,
                 advance_rope: bool = True) -> int:
        """`<|im_start|> ids <|im_end|>`. With loss, each position predicts the next token;
        `eos_label` optionally supervises the token after `<|im_end|>` (e.g. `<|vision_start|>`)."""
        tokens = [self.special.bos, *ids, self.special.eos]
        split = self._open_split(len(tokens), mode, sees, name)
        positions = [self._add_text_token(tok, self._rope + i) for i, tok in enumerate(tokens)]
        if loss:
            for pos, label in zip(positions[:-1], tokens[1:]):
                self._ce_idx.append(pos)
                self._ce_labels.append(label)
            if eos_label is not None:
                self._ce_idx.append(positions[-1])
                self._ce_labels.append(eos_label)
        if advance_rope:
            self._rope += len(tokens)
        return split

    def add_vit_image(self, patches: Tensor, grid_hw: tuple[int, int], *, mode: str = "full",
                      sees: set[int] | None = None, name: str | None = None) -> int:
        n = patches.shape[0]
        if n != grid_hw[0] * grid_hw[1]:
            raise ValueError("ViT patch count does not match its grid")
        split = self._open_split(n + 2, mode, sees, name)
        self._add_text_token(self.special.start_of_image, self._rope)
        start = self._cursor
        self._vit_idx.extend(range(start, start + n))
        self._pos.extend([self._rope] * n)
        self._vit_patches.append(patches)
        self._vit_pos.append(grid_position_ids(grid_hw[0] * self.vit_patch, grid_hw[1] * self.vit_patch,
                                               self.vit_patch, self.vit_max))
        self._vit_seqlens.append(n)
        self._add_text_token(self.special.end_of_image, self._rope)
        self._rope += 1
        return split

    def add_vae_image(self, tokens: Tensor, grid_hw: tuple[int, int], *, noisy: bool, t: float = 0.0,
                      loss: bool | None = None, mode: str | None = None, sees: set[int] | None = None,
                      name: str | None = None) -> int:
        """A VAE image block. `tokens` are the clean x0 patch tokens; a noisy image gets its x_t
        from the trainer/sampler at forward time (t is its flow time; clean images use t = 0)."""
        n = tokens.shape[0]
        if n != grid_hw[0] * grid_hw[1]:
            raise ValueError("latent token count does not match its grid")
        loss = noisy if loss is None else loss
        mode = mode or ("noise" if noisy else "full")
        split = self._open_split(n + 2, mode, sees, name)
        self._add_text_token(self.special.start_of_image, self._rope)
        start = self._cursor
        self._vae_idx.extend(range(start, start + n))
        self._pos.extend([self._rope] * n)
        if loss:
            self._mse_idx.extend(range(start, start + n))
        self._vae_tokens.append(tokens)
        s = self.latent_stride
        self._lat_pos.append(grid_position_ids(grid_hw[0] * s, grid_hw[1] * s, s, self.latent_max))
        self._vae_t.extend([t if noisy else 0.0] * n)
        self._vae_noisy.extend([noisy] * n)
        self._vae_lens.append(n)
        self._add_text_token(self.special.end_of_image, self._rope)
        if not noisy:  # after a noisy image the position does not advance (its clean copy follows)
            self._rope += 1
        return split

    def add_embeddings(self, count: int, *, mode: str = "full", sees: set[int] | None = None,
                       name: str | None = None) -> int:
        """`<|vision_start|>` + `count` learned-embedding slots + `<|vision_end|>`, one position,
        routed to the und expert (an image-shaped block without an image: UNO's metaqueries)."""
        split = self._open_split(count + 2, mode, sees, name)
        self._add_text_token(self.special.start_of_image, self._rope)
        start = self._cursor
        self._embed_idx.extend(range(start, start + count))
        self._pos.extend([self._rope] * count)
        self._add_text_token(self.special.end_of_image, self._rope)
        self._rope += 1
        return split

    def add_side_vit_image(self, patches: Tensor, grid_hw: tuple[int, int]) -> int:
        """An image for the ViT alone (not in the sequence); returns its index among side images."""
        self._side.append((patches, grid_hw))
        return len(self._side) - 1

    def build(self) -> PackedBatch:
        long = lambda xs: torch.tensor(xs, dtype=torch.long)  # noqa: E731
        return PackedBatch(
            sample_lens=list(self.sample_lens),
            splits=[list(s) for s in self.splits],
            position_ids=long(self._pos),
            text_ids=long(self._text_ids),
            text_indexes=long(self._text_idx),
            ce_indexes=long(self._ce_idx),
            ce_labels=long(self._ce_labels),
            vit_patches=torch.cat(self._vit_patches) if self._vit_patches else None,
            vit_position_ids=torch.cat(self._vit_pos) if self._vit_pos else None,
            vit_indexes=long(self._vit_idx),
            vit_seqlens=list(self._vit_seqlens),
            vae_tokens=torch.cat(self._vae_tokens) if self._vae_tokens else None,
            vae_indexes=long(self._vae_idx),
            latent_position_ids=torch.cat(self._lat_pos) if self._lat_pos else None,
            vae_timesteps=torch.tensor(self._vae_t, dtype=torch.float32),
            vae_noisy=torch.tensor(self._vae_noisy, dtype=torch.bool),
            vae_image_lens=list(self._vae_lens),
            mse_indexes=long(self._mse_idx),
            embed_indexes=long(self._embed_idx),
            split_names=[dict(n) for n in self.split_names],
            side_vit_patches=torch.cat([p for p, _ in self._side]) if self._side else None,
            side_vit_position_ids=torch.cat([grid_position_ids(g[0] * self.vit_patch, g[1] * self.vit_patch,
                                                               self.vit_patch, self.vit_max) for _, g in self._side])
            if self._side else None,
            side_vit_seqlens=[p.shape[0] for p, _ in self._side],
            side_vit_grids=[g for _, g in self._side],
        )


def forward_packed(model: Bagel, batch: PackedBatch, latents: Tensor | None = None,
                   timesteps: Tensor | None = None, embeddings: Tensor | None = None,
                   checkpoint_layers: bool = False, attention: str = "auto") -> Tensor:
    """Final hidden states [L, hidden] of a packed batch (see `Bagel.forward`)."""
    return model(batch.to(model.device), latents, timesteps, embeddings, checkpoint_layers,
                 attention=attention).hidden
