"""SigLIP NaViT encoder (the understanding path), with the official key layout
`vit_model.vision_model.{embeddings,encoder.layers.N,post_layernorm}`.

Native aspect ratio: images of different sizes are packed into one token list; each image attends
only to itself. The patch embed is a Linear over (p, q, c)-ordered pixels (the released checkpoint
stores the converted Conv2d this way, [hidden, p*p*3]); the learned position table is indexed
row * max_patches_per_side + col.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from uno_bench.models.bagel.config import ViTConfig


class SiglipEmbeddings(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.patch_embedding = nn.Linear(cfg.num_channels * cfg.patch_size**2, cfg.hidden_size)
        self.position_embedding = nn.Embedding(cfg.num_positions, cfg.hidden_size)

    def forward(self, patches: Tensor, position_ids: Tensor) -> Tensor:
        w = self.patch_embedding.weight
        return self.patch_embedding(patches.to(w.dtype)) + self.position_embedding(position_ids)


class SiglipAttention(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.heads = cfg.num_attention_heads
        self.q_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.k_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.v_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.out_proj = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, x: Tensor, seqlens: list[int]) -> Tensor:
        n, d = x.shape
        split = lambda t: t.view(n, self.heads, d // self.heads).transpose(0, 1)  # noqa: E731
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        outs = []
        for qi, ki, vi in zip(q.split(seqlens, 1), k.split(seqlens, 1), v.split(seqlens, 1)):
            outs.append(F.scaled_dot_product_attention(qi, ki, vi))  # full attention within one image
        out = torch.cat(outs, dim=1).transpose(0, 1).reshape(n, d)
        return self.out_proj(out)


class SiglipMLP(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.fc1 = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.fc2 = nn.Linear(cfg.intermediate_size, cfg.hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class SiglipEncoderLayer(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.self_attn = SiglipAttention(cfg)
        self.layer_norm2 = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.mlp = SiglipMLP(cfg)

    def forward(self, x: Tensor, seqlens: list[int]) -> Tensor:
        x = x + self.self_attn(self.layer_norm1(x), seqlens)
        return x + self.mlp(self.layer_norm2(x))


class SiglipEncoder(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.layers = nn.ModuleList(SiglipEncoderLayer(cfg) for _ in range(cfg.num_hidden_layers))


class SiglipVisionTransformer(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.embeddings = SiglipEmbeddings(cfg)
        self.encoder = SiglipEncoder(cfg)
        self.post_layernorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)


class SiglipVisionModel(nn.Module):
    def __init__(self, cfg: ViTConfig):
        super().__init__()
        self.cfg = cfg
        self.vision_model = SiglipVisionTransformer(cfg)

    def init_extra(self, std: float) -> None:
        nn.init.normal_(self.vision_model.embeddings.position_embedding.weight, std=std)

    def forward(self, patches: Tensor, position_ids: Tensor, seqlens: list[int]) -> Tensor:
        vm = self.vision_model
        x = vm.embeddings(patches, position_ids)
        for layer in vm.encoder.layers:
            x = layer(x, seqlens)
        return vm.post_layernorm(x)


def patchify(image: Tensor, patch: int) -> Tensor:
    """[C, H, W] -> [(H/p)*(W/p), p*p*C] in (h, w, p, q, c) order (channel fastest)."""
    c, h, w = image.shape
    x = image.reshape(c, h // patch, patch, w // patch, patch)
    return torch.einsum("chpwq->hwpqc", x).reshape(-1, patch * patch * c)


def conv_patch_weight_to_linear(weight: Tensor) -> Tensor:
    """A SigLIP Conv2d patch embed [out, c, p, q] -> the Linear layout BAGEL stores, [out, p*q*c]."""
    return weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1)
