"""Configuration of a BAGEL model, read from (and written to) the official checkpoint folder.

The official release has no single self-describing config: `llm_config.json` (Qwen2) and
`vit_config.json` (SigLIP) are read, then the official loaders override fields in code
(qk_norm, untied head, MoT layers, max_latent_size 64, one ViT layer dropped). The FLUX VAE config
is hard-coded. We apply the same overrides, so an official folder loads unchanged. Our own
checkpoints add `vae_config.json` and `bagel_config.json` (absent = the official values).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError


@dataclass(frozen=True)
class LLMConfig:
    vocab_size: int = 152064
    hidden_size: int = 3584
    intermediate_size: int = 18944
    num_hidden_layers: int = 28
    num_attention_heads: int = 28
    num_key_value_heads: int = 4
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0
    max_position_embeddings: int = 32768
    # Set in code after reading llm_config.json by every official loader (ByteDance-Seed/Bagel@056b5fd app.py,
    # eval/gen/gen_images_mp.py): always on for BAGEL.
    qk_norm: bool = True
    tie_word_embeddings: bool = False
    layer_module: str = "Qwen2MoTDecoderLayer"

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


@dataclass(frozen=True)
class ViTConfig:
    hidden_size: int = 1152
    intermediate_size: int = 4304
    num_hidden_layers: int = 26  # layers *used*: vit_config.json says 27, loaders drop the last
    num_attention_heads: int = 16
    patch_size: int = 14
    image_size: int = 980
    num_channels: int = 3
    layer_norm_eps: float = 1e-6
    hidden_act: str = "gelu_pytorch_tanh"

    @property
    def num_positions(self) -> int:
        return (self.image_size // self.patch_size) ** 2


@dataclass(frozen=True)
class VAEConfig:
    """FLUX AutoEncoder parameters (BAGEL's `load_ae` hard-codes these)."""

    resolution: int = 256
    in_channels: int = 3
    ch: int = 128
    out_ch: int = 3
    ch_mult: tuple[int, ...] = (1, 2, 4, 4)
    num_res_blocks: int = 2
    z_channels: int = 16
    scale_factor: float = 0.3611
    shift_factor: float = 0.1159
    norm_num_groups: int = 32
    # BAGEL samples the posterior when encoding (FLUX's posterior std is tiny next to its latents'
    # spread). A small autoencoder trained with a weak KL can have the opposite balance, and sampling
    # then buries the image in noise; such a model encodes with the posterior mean instead.
    sample_posterior: bool = True

    @property
    def downsample(self) -> int:
        return 2 ** (len(self.ch_mult) - 1)


@dataclass(frozen=True)
class ImageTransformConfig:
    """Resize rule of BAGEL's ImageTransform: long side <= max, short side >= min, multiple of stride."""

    max_size: int
    min_size: int
    stride: int
    max_pixels: int = 14 * 14 * 9 * 1024


@dataclass(frozen=True)
class BagelConfig:
    llm: LLMConfig = field(default_factory=LLMConfig)
    vit: ViTConfig = field(default_factory=ViTConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    latent_patch_size: int = 2
    max_latent_size: int = 64  # class default upstream is 32; every official loader passes 64
    vit_max_num_patch_per_side: int = 70
    connector_act: str = "gelu_pytorch_tanh"
    interpolate_pos: bool = False
    timestep_shift: float = 1.0  # training forward only; samplers take their own shift
    visual_gen: bool = True
    visual_und: bool = True
    # Inference image transforms (inferencer / app): VAE (1024, 512, 16), ViT (980, 224, 14).
    vae_transform: ImageTransformConfig = ImageTransformConfig(1024, 512, 16)
    vit_transform: ImageTransformConfig = ImageTransformConfig(980, 224, 14)

    @property
    def latent_channels(self) -> int:
        return self.vae.z_channels

    @property
    def patch_latent_dim(self) -> int:
        return self.latent_patch_size**2 * self.vae.z_channels

    @property
    def latent_downsample(self) -> int:
        return self.vae.downsample * self.latent_patch_size

    def validate_image_size(self, width: int, height: int) -> None:
        step = self.latent_downsample
        if width % step or height % step:
            raise UnoError(f"image size {width}x{height} must be a multiple of {step} on both sides")
        if max(width, height) // step > self.max_latent_size:
            limit = self.max_latent_size * step
            raise UnoError(f"image size {width}x{height} exceeds this model's maximum side of {limit} px")


# ----------------------------------------------------------------------------- named configs

BAGEL_7B = BagelConfig()

# A small model of exactly the same architecture, for tests and random checkpoints.
TINY = BagelConfig(
    llm=LLMConfig(
        vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, rope_theta=10_000.0,
    ),
    vit=ViTConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        patch_size=4, image_size=64,
    ),
    vae=VAEConfig(resolution=64, ch=8, ch_mult=(1, 2), num_res_blocks=1, z_channels=4, norm_num_groups=4),
    max_latent_size=16,
    vit_max_num_patch_per_side=16,
    vae_transform=ImageTransformConfig(64, 32, 4),
    vit_transform=ImageTransformConfig(64, 32, 4),
)

NAMED_CONFIGS: dict[str, BagelConfig] = {"tiny": TINY, "bagel-7b": BAGEL_7B}


def named_config(name: str) -> BagelConfig:
    if name not in NAMED_CONFIGS:
        raise UnoError(f"unknown model config '{name}' (known: {', '.join(NAMED_CONFIGS)})")
    return NAMED_CONFIGS[name]


# ----------------------------------------------------------------------------- folder I/O

LLM_CONFIG_FILE = "llm_config.json"
VIT_CONFIG_FILE = "vit_config.json"
VAE_CONFIG_FILE = "vae_config.json"  # uno extension; absent in the official release
BAGEL_CONFIG_FILE = "bagel_config.json"  # uno extension; absent in the official release


def _pick(cls, raw: dict[str, Any], renames: dict[str, str] | None = None) -> dict[str, Any]:
    renames = renames or {}
    names = {f.name for f in fields(cls)}
    out = {}
    for key, value in raw.items():
        key = renames.get(key, key)
        if key in names:
            out[key] = tuple(value) if isinstance(value, list) else value
    return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UnoError(f"{path.name} is missing from {path.parent}") from None
    except json.JSONDecodeError as exc:
        raise UnoError(f"{path} is not valid JSON: {exc}") from None


def read_config(folder: Path) -> BagelConfig:
    """Build the config the official loaders would build from this folder."""
    folder = Path(folder)
    llm_raw = _read_json(folder / LLM_CONFIG_FILE)
    # Official overrides: qk_norm on, untied head, MoT layers.
    llm = replace(LLMConfig(**_pick(LLMConfig, llm_raw)), qk_norm=True, tie_word_embeddings=False,
                  layer_module="Qwen2MoTDecoderLayer")
    vit_raw = _read_json(folder / VIT_CONFIG_FILE)
    vit_raw = vit_raw.get("vision_config", vit_raw)
    vit = ViTConfig(**_pick(ViTConfig, vit_raw))
    vit = replace(vit, num_hidden_layers=vit.num_hidden_layers - 1)  # official: num_hidden_layers -= 1
    vae = VAEConfig()
    if (folder / VAE_CONFIG_FILE).exists():
        vae = VAEConfig(**_pick(VAEConfig, _read_json(folder / VAE_CONFIG_FILE)))
    extra: dict[str, Any] = {}
    if (folder / BAGEL_CONFIG_FILE).exists():
        raw = _read_json(folder / BAGEL_CONFIG_FILE)
        extra = _pick(BagelConfig, raw)
        for key in ("vae_transform", "vit_transform"):
            if key in raw:
                extra[key] = ImageTransformConfig(**raw[key])
        extra.pop("llm", None), extra.pop("vit", None), extra.pop("vae", None)
    return BagelConfig(llm=llm, vit=vit, vae=vae, **extra)


def write_config(config: BagelConfig, folder: Path) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    llm = asdict(config.llm)
    llm.update(model_type="qwen2", architectures=["Qwen2ForCausalLM"], hidden_act="silu")
    (folder / LLM_CONFIG_FILE).write_text(json.dumps(llm, indent=2) + "\n")
    vit = asdict(config.vit)
    vit["num_hidden_layers"] = config.vit.num_hidden_layers + 1  # stored as upstream: one more than used
    vit["model_type"] = "siglip_vision_model"
    (folder / VIT_CONFIG_FILE).write_text(json.dumps(vit, indent=2) + "\n")
    if config.vae != VAEConfig():
        (folder / VAE_CONFIG_FILE).write_text(json.dumps(asdict(config.vae), indent=2) + "\n")
    top = {k: v for k, v in asdict(config).items() if k not in ("llm", "vit", "vae")}
    (folder / BAGEL_CONFIG_FILE).write_text(json.dumps(top, indent=2) + "\n")
