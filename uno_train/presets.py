"""Named training recipes. `tiny-shapes` builds the embedded default model from scratch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from uno_bench.models.bagel.config import BagelConfig, ImageTransformConfig, LLMConfig, VAEConfig, ViTConfig
from uno_train.plans import DropoutProbs
from uno_train.trainer import TrainConfig
from uno_train.vae_train import VAETrainConfig
from uno_train.vit_pretrain import ViTPretrainConfig

IMAGE_SIZE = 64  # the shapes world's native size: the analytic judges are exact there (docs/shapes.md)


def tiny_shapes_config(vocab_size: int) -> BagelConfig:
    """BAGEL's architecture at toy scale: MoT decoder, SigLIP NaViT, KL autoencoder, 2x2 latent patches.
    64x64 images -> 16x16x8 latents (4x downsampling) -> 8x8 = 64 tokens of 32 dims."""
    return BagelConfig(
        llm=LLMConfig(vocab_size=vocab_size, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=2, rope_theta=10_000.0, max_position_embeddings=512),
        vit=ViTConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                      patch_size=8, image_size=IMAGE_SIZE),
        # Encodes with the posterior mean: measured on the trained autoencoder, the posterior std
        # (0.82 on average) exceeds the spread of the means (0.50), so sampling, as BAGEL does with
        # FLUX, would bury the image in noise (docs/tiny_model.md).
        vae=VAEConfig(resolution=IMAGE_SIZE, ch=16, ch_mult=(1, 2, 2), num_res_blocks=1, z_channels=8,
                      norm_num_groups=8, sample_posterior=False),
        latent_patch_size=2,
        max_latent_size=IMAGE_SIZE // 8,
        vit_max_num_patch_per_side=IMAGE_SIZE // 8,
        vae_transform=ImageTransformConfig(IMAGE_SIZE, 32, 8),
        vit_transform=ImageTransformConfig(IMAGE_SIZE, 32, 8),
    )


@dataclass
class Preset:
    name: str
    description: str
    vae: VAETrainConfig
    train: TrainConfig
    image_size: int = IMAGE_SIZE
    seed: int = 0
    source: dict = field(default_factory=dict)
    model_config: Callable[[int], BagelConfig] = tiny_shapes_config  # vocabulary size -> architecture
    vit: ViTPretrainConfig | None = None  # the image encoder's own pre-training phase, before the model's


def tiny_shapes(scale: float = 1.0) -> Preset:
    """`scale` shortens every phase (CI runs the recipe at a small fraction to prove it still trains).

    Version 3: version 2 with a pre-training phase for the image encoder (which shapes a scene
    holds; 4,000 steps) before the joint training.

    Version 2 (docs/tiny_model.md has the probes behind each choice): objects twice the area of
    version 1's; lr 3e-3 on the generation side and 1e-3 on the understanding side; batch 32 with
    more steps; a short warm-up and a constant rate, annealed by an EMA with warm-up; instruction
    edits in the mix."""
    steps = max(4, int(STEPS * scale))
    return Preset(
        name="tiny-shapes",
        description="the embedded default: a tiny BAGEL trained from scratch on the shapes world (world v2)",
        vae=VAETrainConfig(steps=max(4, int(1000 * scale)), batch_size=16, lr=2e-3, kl_weight=1e-6, log_every=100),
        vit=ViTPretrainConfig(steps=max(4, int(4000 * scale)), batch_size=32, lr=2e-3,
                              eval_every=max(10, int(500 * scale)), eval_scenes=max(16, int(400 * scale))),
        train=TrainConfig(
            # constant after warm-up, annealed by the EMA: a run stopped at step k equals a run of k steps
            steps=steps, batch_size=32, lr=1e-3, min_lr=1e-3, warmup_steps=max(1, int(50 * scale)),
            schedule="constant", betas=(0.9, 0.95), eps=1e-8, weight_decay=0.0, grad_clip=1.0,
            ema_decay=0.999, ema_warmup=True, gen_lr_scale=3.0, timestep_shift=1.0,
            weights={"ce": 1.0, "mse": 1.0}, dropout=DropoutProbs(text=0.1, vit=0.1, vae=0.1),
            save_every=max(2, min(250, steps // 6)), keep_checkpoints=3, log_every=20,
        ),
        source=dict(t2i_fraction=0.6, prompt_fraction=0.5, edit_fraction=0.3),
    )


STEPS = 10_000


PRESETS = {"tiny-shapes": tiny_shapes}
