"""The BAGEL model: a Qwen2 Mixture-of-Transformers decoder with an understanding (und) and a
generation (gen) expert, plus the embedders that put text, ViT and VAE tokens into one sequence.

Read top to bottom: norms and RoPE -> expert routing -> one MoT decoder layer -> the language model
-> small embedders (timestep, 2-D sin-cos tables, connector) -> `Bagel`, which owns them all.
Module and parameter names reproduce the official checkpoint keys (the flat keys of `ema.safetensors` in
ByteDance-Seed/BAGEL-7B-MoT on Hugging Face, i.e. the module tree of ByteDance-Seed/Bagel `modeling/bagel/`).

Attention itself is not done here: every layer hands its (q, k, v) to an `Attention` callable
that knows the visibility rules (a packed training mask, a KV cache, ...). New visibility rules
therefore never touch the layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from uno_bench.models.bagel.config import BagelConfig, LLMConfig

# (layer index, q [N, H, D], k [N, KV, D], v [N, KV, D]) -> attention output [N, H, D]
Attention = Callable[[int, Tensor, Tensor, Tensor], Tensor]


class RMSNorm(nn.Module):
    """Qwen2's RMSNorm: normalise in fp32, scale in the input dtype."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rope_cos_sin(position_ids: Tensor, head_dim: int, theta: float, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Qwen2 rotary tables for 1-D positions; BAGEL gives every token of an image one position."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=position_ids.device).float() / head_dim))
    freqs = position_ids.float()[:, None] * inv_freq[None, :]
    emb = torch.cat([freqs, freqs], dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x: [N, heads, head_dim]; cos/sin: [N, head_dim]."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos[:, None, :] + rotated * sin[:, None, :]


# ----------------------------------------------------------------------------- expert routing


@dataclass
class Routing:
    """Which tokens go through which expert. Hard routing by modality, no learned router:
    text, special tokens and ViT tokens -> und; every VAE latent (noisy or clean) -> gen."""

    und: Tensor | None  # token indices for the und expert (None: no token)
    gen: Tensor | None  # token indices for the gen expert (None: no token)

    @staticmethod
    def from_gen_indices(num_tokens: int, gen: Tensor | None, device: torch.device) -> Routing:
        if gen is None or gen.numel() == 0:
            return Routing(und=torch.arange(num_tokens, device=device), gen=None)
        is_gen = torch.zeros(num_tokens, dtype=torch.bool, device=device)
        is_gen[gen] = True
        und = (~is_gen).nonzero().squeeze(1)
        return Routing(und=und if und.numel() else None, gen=gen)

    def apply(self, x: Tensor, und_fn: nn.Module, gen_fn: nn.Module) -> Tensor:
        if self.gen is None:
            return und_fn(x)
        if self.und is None:
            return gen_fn(x)
        y_und, y_gen = und_fn(x[self.und]), gen_fn(x[self.gen])
        out = y_und.new_empty((x.shape[0], *y_und.shape[1:]))
        out[self.und] = y_und
        out[self.gen] = y_gen.to(out.dtype)
        return out


@dataclass
class BlockRouting:
    """Routing for `rows` image blocks of `block_len` tokens laid out back to back, whose first and
    last tokens (the image markers) are und and the rest gen — every denoising step's layout.
    Same result as `Routing`, but slices views instead of gathering and scattering indices."""

    rows: int
    block_len: int

    def apply(self, x: Tensor, und_fn: nn.Module, gen_fn: nn.Module) -> Tensor:
        xb = x.view(self.rows, self.block_len, *x.shape[1:])
        mid = gen_fn(xb[:, 1:-1])
        ends = und_fn(xb[:, 0 :: self.block_len - 1])
        out = torch.cat([ends[:, :1], mid.to(ends.dtype), ends[:, 1:]], dim=1)
        return out.view(x.shape[0], *out.shape[2:])


# ----------------------------------------------------------------------------- decoder layer


class MLP(nn.Module):
    def __init__(self, hidden: int, intermediate: int):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, intermediate, bias=False)
        self.up_proj = nn.Linear(hidden, intermediate, bias=False)
        self.down_proj = nn.Linear(intermediate, hidden, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class MoTSelfAttention(nn.Module):
    """Projections of both experts (gen copies end in `_moe_gen`); the attention is shared."""

    def __init__(self, cfg: LLMConfig):
        super().__init__()
        h, d = cfg.hidden_size, cfg.head_dim
        q_dim, kv_dim = cfg.num_attention_heads * d, cfg.num_key_value_heads * d
        for suffix in ("", "_moe_gen"):
            setattr(self, f"q_proj{suffix}", nn.Linear(h, q_dim, bias=True))
            setattr(self, f"k_proj{suffix}", nn.Linear(h, kv_dim, bias=True))
            setattr(self, f"v_proj{suffix}", nn.Linear(h, kv_dim, bias=True))
            setattr(self, f"o_proj{suffix}", nn.Linear(q_dim, h, bias=False))
            norm = (lambda: RMSNorm(d, cfg.rms_norm_eps)) if cfg.qk_norm else nn.Identity
            setattr(self, f"q_norm{suffix}", norm())
            setattr(self, f"k_norm{suffix}", norm())


class MoTDecoderLayer(nn.Module):
    def __init__(self, cfg: LLMConfig, layer_idx: int):
        super().__init__()
        self.cfg, self.layer_idx = cfg, layer_idx
        self.self_attn = MoTSelfAttention(cfg)
        self.mlp = MLP(cfg.hidden_size, cfg.intermediate_size)
        self.mlp_moe_gen = MLP(cfg.hidden_size, cfg.intermediate_size)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.input_layernorm_moe_gen = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm_moe_gen = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor], route: Routing | BlockRouting,
                attend: Attention) -> Tensor:
        a, cfg = self.self_attn, self.cfg
        n, d = x.shape[0], cfg.head_dim
        h = route.apply(x, self.input_layernorm, self.input_layernorm_moe_gen)
        q = route.apply(h, a.q_proj, a.q_proj_moe_gen).view(n, cfg.num_attention_heads, d)
        k = route.apply(h, a.k_proj, a.k_proj_moe_gen).view(n, cfg.num_key_value_heads, d)
        v = route.apply(h, a.v_proj, a.v_proj_moe_gen).view(n, cfg.num_key_value_heads, d)
        q = route.apply(q, a.q_norm, a.q_norm_moe_gen)  # QK-RMSNorm per head, before RoPE
        k = route.apply(k, a.k_norm, a.k_norm_moe_gen)
        cos, sin = rope
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        o = attend(self.layer_idx, q, k, v).reshape(n, cfg.num_attention_heads * d)
        x = x + route.apply(o, a.o_proj, a.o_proj_moe_gen)
        h = route.apply(x, self.post_attention_layernorm, self.post_attention_layernorm_moe_gen)
        return x + route.apply(h, self.mlp, self.mlp_moe_gen)


class Qwen2MoTModel(nn.Module):
    def __init__(self, cfg: LLMConfig):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList(MoTDecoderLayer(cfg, i) for i in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.norm_moe_gen = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x: Tensor, position_ids: Tensor, route: Routing | BlockRouting, attend: Attention,
                checkpoint_layers: bool = False) -> Tensor:
        rope = rope_cos_sin(position_ids, self.cfg.head_dim, self.cfg.rope_theta, x.dtype)
        for layer in self.layers:
            if checkpoint_layers and torch.is_grad_enabled():
                x = torch.utils.checkpoint.checkpoint(layer, x, rope, route, attend, use_reentrant=False)
            else:
                x = layer(x, rope, route, attend)
        return route.apply(x, self.norm, self.norm_moe_gen)


class Qwen2MoTForCausalLM(nn.Module):
    def __init__(self, cfg: LLMConfig):
        super().__init__()
        self.model = Qwen2MoTModel(cfg)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)  # untied in BAGEL


# ----------------------------------------------------------------------------- small embedders


def timestep_frequencies(t: Tensor, dim: int = 256, max_period: float = 10000.0) -> Tensor:
    """DiT sinusoid of the flow time t in [0, 1] (BAGEL does not scale t by 1000); cos first."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden: int, frequency_dim: int = 256):
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: Tensor) -> Tensor:
        freq = timestep_frequencies(t, self.frequency_dim)
        return self.mlp(freq.to(self.mlp[0].weight.dtype))


def sincos_2d_table(dim: int, grid: int) -> np.ndarray:
    """MAE/DiT 2-D sin-cos table, row index = row * grid + col. meshgrid(w, h) puts the *column*
    index in the first half of the channels and the row index in the second half."""

    def one_axis(d: int, pos: np.ndarray) -> np.ndarray:
        omega = 1.0 / 10000 ** (np.arange(d // 2, dtype=np.float64) / (d / 2.0))
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    cols, rows = np.meshgrid(np.arange(grid, dtype=np.float32), np.arange(grid, dtype=np.float32))
    return np.concatenate([one_axis(dim // 2, cols), one_axis(dim // 2, rows)], axis=1)


class PositionEmbedding(nn.Module):
    """A frozen 2-D sin-cos table, stored in the checkpoint as `pos_embed`."""

    def __init__(self, max_per_side: int, hidden: int):
        super().__init__()
        self.max_per_side, self.hidden = max_per_side, hidden
        self.pos_embed = nn.Parameter(torch.zeros(max_per_side**2, hidden), requires_grad=False)

    def reset_table(self) -> None:
        table = torch.from_numpy(sincos_2d_table(self.hidden, self.max_per_side)).float()
        with torch.no_grad():
            self.pos_embed.copy_(table)

    def forward(self, position_ids: Tensor) -> Tensor:
        return self.pos_embed[position_ids]


class MLPConnector(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, act: str):
        super().__init__()
        if act != "gelu_pytorch_tanh":
            raise ValueError(f"unsupported connector activation {act!r}")
        self.fc1 = nn.Linear(in_dim, out_dim)
        self.fc2 = nn.Linear(out_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


def grid_position_ids(height: int, width: int, patch: int, max_per_side: int, device=None) -> Tensor:
    """Flattened (row * max_per_side + col) ids of an image's patch grid ('extrapolate' scheme)."""
    rows = torch.arange(height // patch, device=device)
    cols = torch.arange(width // patch, device=device)
    return (rows[:, None] * max_per_side + cols[None, :]).flatten()


# ----------------------------------------------------------------------------- Bagel


@dataclass
class PackedOutput:
    hidden: Tensor  # final hidden states [L, hidden] (after the routed final norms)
    velocity: Tensor | None = None  # llm2vae at the requested positions
    logits: Tensor | None = None  # lm_head at the requested positions
    vit_features: Tensor | None = None  # SigLIP outputs of every ViT token (when requested)
    connector_features: Tensor | None = None  # connector outputs of every ViT token (when requested)
    side_vit_features: Tensor | None = None  # SigLIP outputs of the batch's side images
    side_connector_features: Tensor | None = None


class Bagel(nn.Module):
    def __init__(self, config: BagelConfig):
        super().__init__()
        from uno_bench.models.bagel.vit import SiglipVisionModel

        self.config = config
        hidden = config.llm.hidden_size
        self.language_model = Qwen2MoTForCausalLM(config.llm)
        if config.visual_und:
            self.vit_model = SiglipVisionModel(config.vit)
            self.connector = MLPConnector(config.vit.hidden_size, hidden, config.connector_act)
            self.vit_pos_embed = PositionEmbedding(config.vit_max_num_patch_per_side, hidden)
        if config.visual_gen:
            self.time_embedder = TimestepEmbedder(hidden)
            self.vae2llm = nn.Linear(config.patch_latent_dim, hidden)
            self.llm2vae = nn.Linear(hidden, config.patch_latent_dim)
            self.latent_pos_embed = PositionEmbedding(config.max_latent_size, hidden)

    # -- initialisation (only for models trained from scratch or random test checkpoints)
    def init_weights(self, std: float = 0.02, zero_velocity_head: bool = True) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=std)
            elif isinstance(module, (RMSNorm, nn.LayerNorm)):
                nn.init.ones_(module.weight)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, PositionEmbedding):
                module.reset_table()
        if self.config.visual_und:
            self.vit_model.init_extra(std)
        if self.config.visual_gen and zero_velocity_head:  # official: llm2vae starts at zero
            nn.init.zeros_(self.llm2vae.weight)
            nn.init.zeros_(self.llm2vae.bias)

    # -- embedding the three modalities
    def embed_text(self, ids: Tensor) -> Tensor:
        return self.language_model.model.embed_tokens(ids)

    def embed_vit(self, patches: Tensor, position_ids: Tensor, seqlens: list[int]) -> Tensor:
        """Raw (p, q, c) pixel patches of one or more images -> LLM-space ViT tokens."""
        x = self.vit_model(patches, position_ids, seqlens)
        return self.connector(x) + self.vit_pos_embed(position_ids).to(x.dtype)

    def embed_latents(self, x_t: Tensor, t: Tensor, position_ids: Tensor) -> Tensor:
        """64-d noisy (or clean, t=0) latent patch tokens -> LLM-space tokens; t per token or scalar."""
        t = t.reshape(-1).to(x_t.device)
        time = self.time_embedder(t)
        if time.shape[0] == 1:
            time = time.expand(x_t.shape[0], -1)
        w = self.vae2llm.weight
        return self.vae2llm(x_t.to(w.dtype)) + time + self.latent_pos_embed(position_ids).to(w.dtype)

    # -- the decoder and its heads
    def decode(self, x: Tensor, position_ids: Tensor, gen_indices: Tensor | None, attend: Attention,
               checkpoint_layers: bool = False, route: Routing | BlockRouting | None = None) -> Tensor:
        """Run the MoT decoder; tokens at `gen_indices` use the gen expert (or pass a prebuilt `route`)."""
        route = route or Routing.from_gen_indices(x.shape[0], gen_indices, x.device)
        return self.language_model.model(x, position_ids, route, attend, checkpoint_layers)

    def velocity(self, hidden: Tensor) -> Tensor:
        return self.llm2vae(hidden)

    def logits(self, hidden: Tensor) -> Tensor:
        return self.language_model.lm_head(hidden)

    def forward(self, batch, latents: Tensor | None = None, timesteps: Tensor | None = None,
                embeddings: Tensor | None = None, checkpoint_layers: bool = False,
                velocity_at: Tensor | None = None, logits_at: Tensor | None = None, ghost: bool = False,
                return_vit_features: bool = False, attention: str = "auto") -> PackedOutput:
        """The packed (training) forward over a `packing.PackedBatch`.

        `latents` are the VAE tokens to embed (x_t for noisy images, x0 for clean; default the
        batch's clean tokens), `timesteps` their per-token flow time (default the batch's),
        `embeddings` fill learned-embedding slots. Returns the final hidden states and, at the
        requested sequence positions, the velocity and the LM logits (and optionally the ViT and
        connector features of every ViT token). Everything runs inside `forward` so that FSDP2's
        hooks see it.

        `ghost=True` (distributed training) appends an isolated 3-token sample — a text token, a
        one-patch ViT image and a latent token — whose outputs enter the result times zero: every
        parameter then gets a (zero) gradient on every rank, so FSDP2's gradient reduce-scatters
        match even when a rank's batch lacks a modality. Real tokens are unaffected.

        `attention` picks the packed-attention implementation (`attention.KINDS`: per-sample,
        block-diagonal, flex; `auto` = the measured choice for the device); all compute the same."""

        device, dtype = self.device, self.dtype
        x = torch.zeros(batch.sequence_length, self.config.llm.hidden_size, device=device, dtype=dtype)
        x[batch.text_indexes] = self.embed_text(batch.text_ids)
        vit_feat = conn_feat = None
        if batch.vit_patches is not None:
            vit_feat = self.vit_model(batch.vit_patches, batch.vit_position_ids, batch.vit_seqlens)
            conn_feat = self.connector(vit_feat)
            x[batch.vit_indexes] = (conn_feat + self.vit_pos_embed(batch.vit_position_ids).to(conn_feat.dtype)).to(dtype)
        if batch.vae_tokens is not None:
            lat = batch.vae_tokens if latents is None else latents
            t = batch.vae_timesteps if timesteps is None else timesteps
            x[batch.vae_indexes] = self.embed_latents(lat, t, batch.latent_position_ids).to(dtype)
        if batch.embed_indexes.numel():
            if embeddings is None:
                raise ValueError("this packed batch has embedding slots but no embeddings were given")
            x[batch.embed_indexes] = embeddings.to(dtype)
        positions, gen = batch.position_ids, batch.vae_indexes
        n = x.shape[0]
        if ghost:
            x = torch.cat([x, self._ghost_tokens()])
            positions = torch.cat([positions, torch.tensor([0, 1, 2], device=device)])
            gen = torch.cat([gen, torch.tensor([n + 2], device=device)])
        attend = self._packed_attention(batch, attention, ghost)
        hidden = self.decode(x, positions, gen if gen.numel() else None, attend, checkpoint_layers)
        if ghost:
            g = hidden[n:]
            zero = (g.sum() + self.velocity(g).sum() + self.logits(g).float().sum()) * 0.0
            hidden = hidden[:n] + zero.to(hidden.dtype)
        velocity = self.velocity(hidden[velocity_at]) if velocity_at is not None else None
        logits = self.logits(hidden[logits_at]) if logits_at is not None else None
        out = PackedOutput(hidden, velocity, logits)
        if return_vit_features:
            out.vit_features, out.connector_features = vit_feat, conn_feat
        if getattr(batch, "side_vit_patches", None) is not None:
            out.side_vit_features = self.vit_model(batch.side_vit_patches, batch.side_vit_position_ids,
                                                   batch.side_vit_seqlens)
            out.side_connector_features = self.connector(out.side_vit_features)
        return out

    def _packed_attention(self, batch, kind: str, ghost: bool) -> Attention:
        """The `Attention` for a packed batch (plus the 3-token ghost sample, seen only by itself)."""
        from uno_bench.models.bagel import attention as att

        device = self.device
        kind = att.packed_attention_kind(kind, device)
        if kind == "flex":
            vis = batch.split_visibility(device)
            return att.FlexPackedAttention(vis.with_full_sample(3) if ghost else vis)
        sample_lens, masks = list(batch.sample_lens), batch.attention_masks(device)
        if ghost:
            sample_lens.append(3)
            masks.append(torch.ones(3, 3, dtype=torch.bool, device=device))
        if kind == "block-diagonal":
            return att.BlockDiagonalAttention(masks, device)
        return att.PackedMaskAttention(sample_lens, masks)

    def _ghost_tokens(self) -> Tensor:
        dev, cfg = self.device, self.config
        parts = [self.embed_text(torch.zeros(1, dtype=torch.long, device=dev))]
        if cfg.visual_und:
            patch = torch.zeros(1, 3 * cfg.vit.patch_size**2, device=dev)
            parts.append(self.embed_vit(patch, torch.zeros(1, dtype=torch.long, device=dev), [1]))
        else:
            parts.append(parts[0])
        if cfg.visual_gen:
            lat = torch.zeros(1, cfg.patch_latent_dim, device=dev)
            parts.append(self.embed_latents(lat, torch.zeros(1, device=dev), torch.zeros(1, dtype=torch.long, device=dev)))
        else:
            parts.append(parts[0])
        return torch.cat([p.to(self.dtype) for p in parts])

    @property
    def device(self) -> torch.device:
        return self.language_model.model.embed_tokens.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.language_model.model.embed_tokens.weight.dtype
