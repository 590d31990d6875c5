"""Random checkpoints in the official layout (tests, benchmarks, the pre-training starting point)."""

from __future__ import annotations

from pathlib import Path

import torch

from uno_bench.models.bagel import checkpoint
from uno_bench.models.bagel.config import BagelConfig, named_config
from uno_bench.models.bagel.model import Bagel
from uno_bench.models.bagel.tokenizer import BagelTokenizer, word_level_tokenizer
from uno_bench.models.bagel.vae import LatentCodec, build_autoencoder

# A small English vocabulary for random tiny checkpoints (the trained tiny model has its own).
DEMO_WORDS = (
    "a an the photo of and with on in left right above below to is are there one two three four "
    "red orange yellow green blue purple pink brown black white circle circles square squares "
    "triangle triangles make it turn remove add move object objects image picture"
).split()


def random_model(config: BagelConfig, seed: int = 0, zero_velocity_head: bool = False) -> tuple[Bagel, LatentCodec]:
    torch.manual_seed(seed)
    model = Bagel(config)
    model.init_weights(zero_velocity_head=zero_velocity_head)
    ae = build_autoencoder(config.vae)
    return model, LatentCodec(ae, config.vae, config.latent_patch_size)


def make_random_checkpoint(folder: Path, config: BagelConfig | str = "tiny", seed: int = 0,
                           tokenizer: BagelTokenizer | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write a randomly initialised model in exactly the official folder layout. The velocity
    head is random (not zero as in fresh training) so that sampling tests exercise real numbers."""
    config = named_config(config) if isinstance(config, str) else config
    tokenizer = tokenizer or word_level_tokenizer(list(DEMO_WORDS))
    if tokenizer.vocab_size > config.llm.vocab_size:
        raise ValueError("the tokenizer is larger than the model's vocabulary")
    model, codec = random_model(config, seed)
    return checkpoint.save(folder, model, tokenizer, codec, dtype=dtype)
