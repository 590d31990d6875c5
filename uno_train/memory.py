"""`uno-train post-train --plan`: a per-GPU memory plan, computed without reading a single weight.

The model is built on the meta device (shapes only) from a config name (`bagel-7b`, `tiny`) or a
checkpoint folder's config files, frozen exactly as the trainer freezes it (`uno_train.freeze`, UNO's
`UnoConfig.freeze`), and counted. What each line assumes:

- **Weights**: the trainer loads every weight in fp32 (`checkpoint.load(..., dtype=float32)`), and
  `precision=bf16` is autocast: matmuls run in bf16, the stored weights stay fp32 and *are* the
  master copy — there is no separate bf16 copy and no extra master copy. 4 bytes per parameter,
  trained or frozen.
- **Gradients**: one fp32 gradient per trainable parameter (frozen parameters have
  `requires_grad=False`: none).
- **Optimizer**: AdamW keeps 2 fp32 states (exp_avg, exp_avg_sq) per trainable parameter; frozen
  parameters are not given to the optimizer, so they have no state. (Were bf16 weights trained, a
  fp32 master copy would add 4 more bytes per trainable parameter; the trainer does not do that.)
- **EMA**: one fp32 copy of every trainable parameter (`TrainConfig.ema_decay`), sharded like the
  parameters it follows.
- **FSDP2** (`--fsdp`): the model's weights, gradients, optimizer states and EMA are divided by the
  world size; on top, all-gather buffers hold the full weights of up to 2 decoder layers at a time
  (the one computing and the one prefetched). The UNO extras (metaqueries + head) and the VAE live
  outside the sharded model: replicated on every rank.
- **Activations** per micro-batch, per decoder layer: tokens x hidden x C bytes, with C = 80 under
  bf16 autocast and C = 144 under fp32 — a count of the tensors a MoT layer saves for backward
  (the SwiGLU MLP's gate, up, silu and product at intermediate/hidden = 5.3 dominate: 4 x 5.3 x 2 =
  42 bytes; norms run in fp32; no attention matrix is stored — SDPA's flash/efficient kernels).
  Without checkpointing every layer keeps its activations: layers x tokens x hidden x C. With
  activation checkpointing a layer keeps only its fp32 input (tokens x hidden x 4 bytes) and one layer
  at a time is recomputed: layers x tokens x hidden x 4 + tokens x hidden x C. Plus the CE logits
  (caption tokens x vocab x 4 bytes, fp32). The frozen ViT runs without building a graph (its
  inputs need no gradient), so it adds only a transient. Tokens of one UNO image at resolution R:
  prompt + (R/16)^2 noisy latents + caption + (R/14/pool)^2 metaqueries (+ 2 image markers, 1 skip).
  An estimate: to be calibrated against peak memory on a GPU.
- Not counted: the CUDA context and allocator fragmentation (budget ~2-4 GiB), NCCL buffers.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from uno_bench.errors import UnoError
from uno_bench.models.bagel.config import NAMED_CONFIGS, BagelConfig, read_config

GIB = 1024**3
FP32 = 4
ACT_BYTES = {"bf16": 80, "fp32": 144}  # C: bytes per token per hidden unit per decoder layer (see above)
ADAMW_STATES = 2
PROMPT_TOKENS = 32  # a GenEval-style prompt with its BOS/EOS; caption tokens likewise
CAPTION_TOKENS = 32


@dataclass
class MemoryPlan:
    model: str
    world_size: int
    fsdp: bool
    precision: str
    activation_checkpointing: bool
    micro_batch: int
    resolution: int
    gpu_memory_gib: float
    params_trainable: int
    params_frozen: int
    params_extra: int  # UNO metaqueries + head: trainable, outside the sharded model
    params_vae: int  # frozen, outside the sharded model
    tokens_per_micro_batch: int
    bytes: dict[str, float] = field(default_factory=dict)  # per GPU

    @property
    def total(self) -> float:
        return sum(self.bytes.values())

    @property
    def fits(self) -> bool:
        return self.total <= self.gpu_memory_gib * GIB

    def to_dict(self) -> dict:
        return {**asdict(self), "total_bytes": self.total, "fits": self.fits}


def plan_config(ckpt: str) -> tuple[str, BagelConfig]:
    """A config name (`bagel-7b`, `tiny`) or a checkpoint folder (its config files are read, no weights)."""
    if ckpt in NAMED_CONFIGS:
        return ckpt, NAMED_CONFIGS[ckpt]
    path = Path(ckpt).expanduser()
    if path.is_dir():
        return str(path), read_config(path)
    raise UnoError(f"--plan needs a model config name ({', '.join(NAMED_CONFIGS)}) or a checkpoint folder; "
                   f"{ckpt!r} is neither (a Hub id is not downloaded for a plan)")


def default_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def uno_tokens(cfg: BagelConfig, resolution: int, pool: int, proxies: tuple[str, ...]) -> int:
    """Sequence tokens of one UNO sample at `resolution` x `resolution` pixels (see the module doc)."""
    latents = (resolution // cfg.latent_downsample) ** 2
    tokens = PROMPT_TOKENS + latents + 2 + 1  # prompt, noisy latents, start/end markers, RoPE skip
    if "captioning" in proxies:
        tokens += CAPTION_TOKENS
    if "regression" in proxies:
        tokens += math.ceil(resolution / cfg.vit.patch_size / pool) ** 2
    return tokens


def count_parameters(cfg: BagelConfig, freeze: tuple[str, ...], uno=None) -> tuple[int, int, int, int]:
    """(trainable, frozen, UNO extras, VAE) parameter counts of the model built on the meta device."""
    from uno_bench.models.bagel.model import Bagel
    from uno_bench.models.bagel.vae import build_autoencoder
    from uno_train.freeze import freeze as apply_freeze

    with torch.device("meta"):
        model = Bagel(cfg)
        vae = build_autoencoder(cfg.vae)
    apply_freeze(model, list(freeze))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    extra = 0
    if uno is not None:
        from uno_train.uno import UnoObjective

        with torch.device("meta"):
            extra = sum(p.numel() for p in UnoObjective(uno, model).parameters().values())
    return trainable, frozen, extra, sum(p.numel() for p in vae.parameters())


def plan(ckpt: str, uno, world_size: int, fsdp: bool, precision: str, activation_checkpointing: bool,
         micro_batch: int, resolution: int | None = None, gpu_memory_gib: float = 80.0, ema: bool = True) -> MemoryPlan:
    if precision not in ACT_BYTES:
        raise UnoError(f"unknown precision {precision!r} (fp32 | bf16)")
    if world_size < 1 or micro_batch < 1:
        raise UnoError("--world-size and the micro-batch must be at least 1")
    name, cfg = plan_config(ckpt)
    if resolution is None:  # what post_train renders shapes images at
        resolution = min(cfg.vae_transform.max_size, 512)
    if resolution < cfg.latent_downsample:
        raise UnoError(f"--resolution must be at least {cfg.latent_downsample} px")
    trainable, frozen, extra, vae = count_parameters(cfg, tuple(uno.freeze), uno)
    shards = world_size if fsdp else 1
    llm = cfg.llm
    tokens = micro_batch * uno_tokens(cfg, resolution, uno.metaquery_pool, tuple(uno.proxies))
    th = tokens * llm.hidden_size
    if activation_checkpointing:
        act = llm.num_hidden_layers * th * FP32 + th * ACT_BYTES[precision]
    else:
        act = llm.num_hidden_layers * th * ACT_BYTES[precision]
    b: dict[str, float] = {
        "weights": (trainable + frozen) * FP32 / shards + (extra + vae) * FP32,
        "gradients": trainable * FP32 / shards + extra * FP32,
        "optimizer": ADAMW_STATES * FP32 * (trainable / shards + extra),
        "ema": (trainable / shards + extra) * FP32 if ema else 0.0,
    }
    if fsdp and world_size > 1:
        layer = sum(p.numel() for p in _one_layer(cfg))
        b["fsdp_buffers"] = 2 * layer * FP32
    b["activations"] = act
    b["logits"] = (micro_batch * CAPTION_TOKENS * llm.vocab_size * FP32) if "captioning" in uno.proxies else 0.0
    return MemoryPlan(name, world_size, fsdp, precision, activation_checkpointing, micro_batch, resolution,
                      gpu_memory_gib, trainable, frozen, extra, vae, tokens, b)


def _one_layer(cfg: BagelConfig):
    from uno_bench.models.bagel.model import MoTDecoderLayer

    with torch.device("meta"):
        return list(MoTDecoderLayer(cfg.llm, 0).parameters())


def _gib(x: float) -> str:
    return f"{x / GIB:8.2f} GiB"


def render(p: MemoryPlan) -> str:
    shard = f"FSDP over {p.world_size} ranks" if p.fsdp else "no sharding (every rank holds everything)"
    rows = [
        f"memory plan: {p.model}, {p.world_size} GPU(s), {shard}",
        f"  precision {p.precision} ({'bf16 autocast over fp32 weights' if p.precision == 'bf16' else 'fp32'}), "
        f"activation checkpointing {'on' if p.activation_checkpointing else 'off'}, "
        f"micro-batch {p.micro_batch} image(s) at {p.resolution}x{p.resolution} = {p.tokens_per_micro_batch} tokens",
        f"parameters: {p.params_trainable:,} trainable + {p.params_frozen:,} frozen (model); "
        f"{p.params_extra:,} UNO extras (trainable, replicated); {p.params_vae:,} VAE (frozen, replicated)",
        "per GPU:",
        f"  weights      {_gib(p.bytes['weights'])}  fp32, all parameters{', model sharded' if p.fsdp else ''}",
        f"  gradients    {_gib(p.bytes['gradients'])}  fp32, trainable only",
        f"  optimizer    {_gib(p.bytes['optimizer'])}  AdamW: 2 fp32 states per trainable parameter "
        "(fp32 weights are the master copy: no extra one)",
        f"  EMA          {_gib(p.bytes['ema'])}  fp32 copy of the trainable parameters",
    ]
    if "fsdp_buffers" in p.bytes:
        rows.append(f"  FSDP buffers {_gib(p.bytes['fsdp_buffers'])}  2 decoder layers gathered in full")
    c = ACT_BYTES[p.precision]
    formula = (f"layers x tokens x hidden x 4 B (checkpointed inputs) + tokens x hidden x {c} B (one layer recomputed)"
               if p.activation_checkpointing else f"layers x tokens x hidden x {c} B")
    rows += [
        f"  activations  {_gib(p.bytes['activations'])}  {formula}",
        f"  logits       {_gib(p.bytes['logits'])}  caption tokens x vocab x 4 B",
        f"  total        {_gib(p.total)}  of {p.gpu_memory_gib:g} GiB: "
        + ("fits" if p.fits else "DOES NOT FIT") + " (CUDA context and fragmentation not counted: keep ~2-4 GiB)",
    ]
    return "\n".join(rows)
