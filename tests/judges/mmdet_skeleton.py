"""mmdet 2.x's Mask2Former (Swin backbone) module tree, transcribed attribute for attribute.

Its only job is to list the keys and shapes of an mmdet checkpoint the way torch names them, as an
independent check of the hand-written rule table in `uno_bench.judges.mmdet_convert`. Each class
below mirrors one mmdet / mmcv class: same attribute names, same child order, same parameter and
persistent-buffer shapes; modules without parameters (dropouts, activations, positional encodings,
nn.Identity input projections, the fusion head, the losses) are left out as they add no keys.

Sources (mmdet 2.x branch, mmcv-full 1.x):
  mmdet/models/detectors/maskformer.py            MaskFormer: backbone, panoptic_head, panoptic_fusion_head
  mmdet/models/backbones/swin.py                  SwinTransformer, SwinBlockSequence, SwinBlock,
                                                  ShiftWindowMSA, WindowMSA
  mmdet/models/utils/transformer.py               PatchEmbed, PatchMerging, DetrTransformerEncoder,
                                                  DetrTransformerDecoder (post_norm)
  mmdet/models/plugins/msdeformattn_pixel_decoder.py  MSDeformAttnPixelDecoder
  mmdet/models/dense_heads/mask2former_head.py    Mask2FormerHead
  mmcv/cnn/bricks/transformer.py                  BaseTransformerLayer, FFN, MultiheadAttention
  mmcv/cnn/bricks/conv_module.py                  ConvModule (conv, then the norm named "gn")
  mmcv/ops/multi_scale_deform_attn.py             MultiScaleDeformableAttention
"""

from __future__ import annotations

import torch
from torch import nn

from uno_bench.judges.mmdet_convert import Mask2FormerArch


class FFN(nn.Module):  # mmcv: layers = Sequential(Sequential(Linear, act, Dropout), Linear, Dropout)
    def __init__(self, dims: int, hidden: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Sequential(nn.Linear(dims, hidden), nn.ReLU(), nn.Dropout()),
                                    nn.Linear(hidden, dims), nn.Dropout())


class WindowMSA(nn.Module):
    def __init__(self, dims: int, heads: int, window: int):
        super().__init__()
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", torch.zeros(window**2, window**2, dtype=torch.long))
        self.qkv = nn.Linear(dims, 3 * dims, bias=True)
        self.proj = nn.Linear(dims, dims)


class ShiftWindowMSA(nn.Module):
    def __init__(self, dims: int, heads: int, window: int):
        super().__init__()
        self.w_msa = WindowMSA(dims, heads, window)


class SwinBlock(nn.Module):
    def __init__(self, dims: int, heads: int, window: int, mlp_ratio: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dims)
        self.attn = ShiftWindowMSA(dims, heads, window)
        self.norm2 = nn.LayerNorm(dims)
        self.ffn = FFN(dims, mlp_ratio * dims)


class PatchMerging(nn.Module):  # sampler = nn.Unfold (no parameters), norm over 4C, reduction without bias
    def __init__(self, dims: int):
        super().__init__()
        self.sampler = nn.Unfold(kernel_size=2, stride=2)
        self.norm = nn.LayerNorm(4 * dims)
        self.reduction = nn.Linear(4 * dims, 2 * dims, bias=False)


class SwinBlockSequence(nn.Module):
    def __init__(self, dims: int, heads: int, depth: int, window: int, mlp_ratio: int, downsample: bool):
        super().__init__()
        self.blocks = nn.ModuleList(SwinBlock(dims, heads, window, mlp_ratio) for _ in range(depth))
        self.downsample = PatchMerging(dims) if downsample else None


class PatchEmbed(nn.Module):
    def __init__(self, dims: int, patch: int):
        super().__init__()
        self.projection = nn.Conv2d(3, dims, kernel_size=patch, stride=patch)
        self.norm = nn.LayerNorm(dims)


class SwinTransformer(nn.Module):
    def __init__(self, a: Mask2FormerArch):
        super().__init__()
        self.patch_embed = PatchEmbed(a.embed_dim, a.patch_size)
        dims = a.stage_dims()
        last = len(a.depths) - 1
        self.stages = nn.ModuleList(
            SwinBlockSequence(dims[i], a.num_heads[i], a.depths[i], a.window_size, a.mlp_ratio, i < last)
            for i in range(len(a.depths))
        )
        for i, dim in enumerate(dims):  # out_indices = (0, 1, 2, 3): norm0..norm3, added after the stages
            self.add_module(f"norm{i}", nn.LayerNorm(dim))


class ConvModule(nn.Module):  # conv, then the GroupNorm registered under its abbreviation "gn"
    def __init__(self, cin: int, cout: int, kernel: int, bias: bool):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=bias)
        self.gn = nn.GroupNorm(32, cout)


class MultiScaleDeformableAttention(nn.Module):
    def __init__(self, dims: int, heads: int, levels: int, points: int):
        super().__init__()
        self.sampling_offsets = nn.Linear(dims, heads * levels * points * 2)
        self.attention_weights = nn.Linear(dims, heads * levels * points)
        self.value_proj = nn.Linear(dims, dims)
        self.output_proj = nn.Linear(dims, dims)


class MultiheadAttention(nn.Module):  # mmcv wrapper: the torch module sits at `.attn`
    def __init__(self, dims: int, heads: int):
        super().__init__()
        self.attn = nn.MultiheadAttention(dims, heads)


class EncoderLayer(nn.Module):  # BaseTransformerLayer, operation_order (self_attn, norm, ffn, norm)
    def __init__(self, a: Mask2FormerArch):
        super().__init__()
        self.attentions = nn.ModuleList(
            [MultiScaleDeformableAttention(a.hidden_dim, a.num_attention_heads, a.num_levels, a.num_points)])
        self.ffns = nn.ModuleList([FFN(a.hidden_dim, a.encoder_ffn_dim)])
        self.norms = nn.ModuleList(nn.LayerNorm(a.hidden_dim) for _ in range(2))


class DecoderLayer(nn.Module):  # DetrTransformerDecoderLayer: (cross_attn, norm, self_attn, norm, ffn, norm)
    def __init__(self, a: Mask2FormerArch):
        super().__init__()
        self.attentions = nn.ModuleList(MultiheadAttention(a.hidden_dim, a.num_attention_heads) for _ in range(2))
        self.ffns = nn.ModuleList([FFN(a.hidden_dim, a.decoder_ffn_dim)])
        self.norms = nn.ModuleList(nn.LayerNorm(a.hidden_dim) for _ in range(3))


class DetrTransformerEncoder(nn.Module):  # post-norm layers: no post_norm module
    def __init__(self, a: Mask2FormerArch):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(a) for _ in range(a.encoder_layers))


class DetrTransformerDecoder(nn.Module):
    def __init__(self, a: Mask2FormerArch):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(a) for _ in range(a.decoder_layers))
        self.post_norm = nn.LayerNorm(a.hidden_dim)


class MSDeformAttnPixelDecoder(nn.Module):
    def __init__(self, a: Mask2FormerArch):
        super().__init__()
        dims, h = a.stage_dims(), a.hidden_dim
        n = len(dims)
        # input_convs from the coarsest level down; bias=True
        self.input_convs = nn.ModuleList(ConvModule(dims[i], h, 1, True) for i in range(n - 1, n - a.num_levels - 1, -1))
        self.encoder = DetrTransformerEncoder(a)
        self.level_encoding = nn.Embedding(a.num_levels, h)
        # FPN levels below the encoder's, bias = (norm_cfg is None) = False
        self.lateral_convs = nn.ModuleList(ConvModule(dims[i], h, 1, False) for i in range(n - a.num_levels - 1, -1, -1))
        self.output_convs = nn.ModuleList(ConvModule(h, h, 3, False) for _ in range(n - a.num_levels))
        self.mask_feature = nn.Conv2d(h, h, kernel_size=1)


class Mask2FormerHead(nn.Module):
    def __init__(self, a: Mask2FormerArch):
        super().__init__()
        h = a.hidden_dim
        self.pixel_decoder = MSDeformAttnPixelDecoder(a)
        self.transformer_decoder = DetrTransformerDecoder(a)
        self.query_embed = nn.Embedding(a.num_queries, h)
        self.query_feat = nn.Embedding(a.num_queries, h)
        self.level_embed = nn.Embedding(a.num_levels, h)
        self.cls_embed = nn.Linear(h, a.num_classes + 1)
        self.mask_embed = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h))


class MaskFormer(nn.Module):
    def __init__(self, a: Mask2FormerArch):
        super().__init__()
        self.backbone = SwinTransformer(a)
        self.panoptic_head = Mask2FormerHead(a)


def checkpoint_shapes(arch: Mask2FormerArch) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of `MaskFormer(arch).state_dict()`, built on the meta device (no memory)."""
    with torch.device("meta"):
        model = MaskFormer(arch)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def random_checkpoint(arch: Mask2FormerArch, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict of this layout with random values and mmdet's own relative position index."""
    from uno_bench.judges.mmdet_convert import mmdet_relative_position_index

    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in checkpoint_shapes(arch).items():
        if key.endswith("relative_position_index"):
            out[key] = mmdet_relative_position_index(arch.window_size)
        else:
            out[key] = torch.randn(shape, generator=gen) * 0.1
    return out
