"""OpenMMLab mmdet 2.x Mask2Former (Swin backbone) checkpoints -> transformers' Mask2Former.

GenEval's detector is mmdet's `mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco` (COCO instance
segmentation, 80 classes). mmdet cannot be installed without compiling mmcv, so uno runs the same
network through `transformers.Mask2FormerForUniversalSegmentation` and converts the checkpoint's
keys. The target is the key layout that `save_pretrained` writes and `from_pretrained` reads in every
transformers version (the "hub" layout of facebook/mask2former-* checkpoints).

Mapping rules, mmdet key -> transformers key (i, j: Swin stage and block; l: layer; k: level):

Backbone, mmdet `SwinTransformer` (`backbone.`) -> `model.pixel_level_module.encoder.`
  R1  patch_embed.projection.*                -> embeddings.patch_embeddings.projection.*
  R2  patch_embed.norm.*                      -> embeddings.norm.*
  R3  stages.i.blocks.j.norm1.* / norm2.*     -> encoder.layers.i.blocks.j.layernorm_before.* / layernorm_after.*
  R4  ...blocks.j.attn.w_msa.qkv.{weight,bias} -> split in three along the output rows, in the order
      q, k, v (WindowMSA reshapes the 3C outputs as (3, heads, head_dim)) ->
      attention.self.query.* / attention.self.key.* / attention.self.value.*
  R5  ...blocks.j.attn.w_msa.proj.*           -> attention.output.dense.*
  R6  ...blocks.j.attn.w_msa.relative_position_bias_table -> attention.self.relative_position_bias_table
      (same ((2w-1)^2, heads) table; both index it with the standard Swin relative index)
  R7  ...blocks.j.attn.w_msa.relative_position_index: a buffer fixed by the window size. Checked to
      equal the index transformers computes itself, then dropped.
  R8  ...blocks.j.ffn.layers.0.0.* / ffn.layers.1.* -> intermediate.dense.* / output.dense.*
  R9  stages.i.downsample.reduction.weight and downsample.norm.*: mmdet's PatchMerging gathers each
      2x2 patch with nn.Unfold, giving features in channel-major order (c*4 + 2*dy + dx); transformers
      concatenates the four patches (q*C + c, q = (dy,dx) = (0,0), (1,0), (0,1), (1,1)). The
      reduction's input columns and the norm's entries are permuted from the first order to the
      second (the inverse of mmdet's own `swin_converter`, which goes the other way).
  R10 norm{i}.*                               -> hidden_states_norms.stage{i+1}.*
Pixel decoder, mmdet `MSDeformAttnPixelDecoder` (`panoptic_head.pixel_decoder.`) -> `model.pixel_level_module.decoder.`
  R11 input_convs.k.conv.* / input_convs.k.gn.* -> input_projections.k.0.* / input_projections.k.1.*
      (k = 0 is the coarsest, stride-32 level in both)
  R12 level_encoding.weight                   -> level_embed
  R13 encoder.layers.l.attentions.0.{sampling_offsets,attention_weights,value_proj,output_proj}.*
      -> encoder.layers.l.self_attn.{same}.* (same (heads, levels, points, xy) output layout)
  R14 encoder.layers.l.norms.0.* / norms.1.*  -> self_attn_layer_norm.* / final_layer_norm.*
      (operation order self_attn, norm, ffn, norm)
  R15 encoder.layers.l.ffns.0.layers.0.0.* / ffns.0.layers.1.* -> fc1.* / fc2.*
  R16 lateral_convs.0.conv.weight / .gn.*     -> adapter_1.0.weight / adapter_1.1.*
      output_convs.0.conv.weight / .gn.*      -> layer_1.0.weight / layer_1.1.*   (both convs bias-free)
  R17 mask_feature.*                          -> mask_projection.*
Transformer decoder, mmdet `Mask2FormerHead` (`panoptic_head.`) -> `model.transformer_module.`
  R18 transformer_decoder.layers.l.attentions.0.attn.* (cross attention, an nn.MultiheadAttention)
      -> decoder.layers.l.cross_attn.* (an nn.MultiheadAttention too: same tensors)
  R19 transformer_decoder.layers.l.attentions.1.attn.in_proj_{weight,bias} (self attention) -> split
      in three along the rows, q, k, v -> self_attn.q_proj.* / k_proj.* / v_proj.*;
      attentions.1.attn.out_proj.* -> self_attn.out_proj.*
  R20 transformer_decoder.layers.l.norms.0/1/2.* -> cross_attn_layer_norm / self_attn_layer_norm /
      final_layer_norm (operation order cross_attn, norm, self_attn, norm, ffn, norm)
  R21 transformer_decoder.layers.l.ffns.0.layers.0.0.* / ffns.0.layers.1.* -> fc1.* / fc2.*
  R22 transformer_decoder.post_norm.*         -> decoder.layernorm.* (applied before every prediction)
  R23 query_feat.weight (content) / query_embed.weight (position) / level_embed.weight
      -> queries_features.weight / queries_embedder.weight / level_embed.weight
  R24 mask_embed.0/2/4.* (Linear, ReLU, Linear, ReLU, Linear) -> decoder.mask_predictor.mask_embedder.0/1/2.0.*
  R25 cls_embed.*                             -> class_predictor.* (top level; the last of the
      num_classes + 1 outputs is "no object" in both)
Transformers-only tensors, absent from mmdet checkpoints:
  H1  criterion.empty_weight: the training loss's class weights (ones, 0.1 for "no object", as the
      mmdet config's class_weight). Written so that loading reports nothing missing; unused at test time.
  H2  model.pixel_level_module.encoder.swin.layernorm.* (transformers >= 5 only): SwinModel's final norm,
      which SwinBackbone never applies. Not written; the loader tolerates its absence.

Every checkpoint key must be consumed by exactly one rule and every rule must find its key with
the expected shape; anything else stops the conversion with the offending keys named.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError

# Bump when the produced tensors could change: cached conversions are keyed by it.
CONVERTER_VERSION = 1

OFFICIAL_CHECKPOINT = "mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco.pth"
# OpenMMLab's publish step names a checkpoint by the first 8 hex digits of its sha256; GenEval's
# download is mask2former_swin-s-p4-w7-224_lsj_8x2_50e_coco_20220504_001756-743b7d99.pth.
OFFICIAL_SHA256_PREFIX = "743b7d99"

SWIN = "model.pixel_level_module.encoder."
PIXEL = "model.pixel_level_module.decoder."
TRANSFORMER = "model.transformer_module."
EMPTY_WEIGHT = "criterion.empty_weight"
# Tensors a transformers model may hold that no mmdet checkpoint has (H1, H2) or that are derived
# from the window size (R7; persistent only in transformers 4.x).
HUB_ONLY_SUFFIXES = (EMPTY_WEIGHT, "swin.layernorm.weight", "swin.layernorm.bias", "relative_position_index")
NO_OBJECT_WEIGHT = 0.1


@dataclass(frozen=True)
class Mask2FormerArch:
    """The sizes that fix every tensor shape. Defaults: GenEval's Swin-S COCO instance model."""

    embed_dim: int = 96
    depths: tuple[int, ...] = (2, 2, 18, 2)
    num_heads: tuple[int, ...] = (3, 6, 12, 24)
    window_size: int = 7
    mlp_ratio: int = 4
    patch_size: int = 4
    hidden_dim: int = 256  # mmdet feat_channels = out_channels = decoder embed_dims
    num_attention_heads: int = 8  # deformable and decoder attention heads: not visible in any shape
    encoder_layers: int = 6
    encoder_ffn_dim: int = 1024
    decoder_layers: int = 9  # mmdet's transformer layers; transformers' config counts one more
    decoder_ffn_dim: int = 2048
    num_queries: int = 100
    num_classes: int = 80
    num_levels: int = 3  # fixed in transformers' Mask2Former
    num_points: int = 4  # fixed in transformers' Mask2Former

    def stage_dims(self) -> list[int]:
        return [self.embed_dim * 2**i for i in range(len(self.depths))]


SWIN_S_COCO_INSTANCE = Mask2FormerArch()


@dataclass(frozen=True)
class Rule:
    kind: str  # copy | split3 | unfold_matrix | unfold_vector | derived_index
    mmdet: str
    hub: tuple[str, ...]
    shape: tuple[int, ...]  # of the mmdet tensor


def _linear(mm: str, hub: str, out: int, inp: int, bias: bool = True) -> Iterator[Rule]:
    yield Rule("copy", f"{mm}.weight", (f"{hub}.weight",), (out, inp))
    if bias:
        yield Rule("copy", f"{mm}.bias", (f"{hub}.bias",), (out,))


def _norm(mm: str, hub: str, dim: int) -> Iterator[Rule]:
    yield Rule("copy", f"{mm}.weight", (f"{hub}.weight",), (dim,))
    yield Rule("copy", f"{mm}.bias", (f"{hub}.bias",), (dim,))


def rules(arch: Mask2FormerArch) -> list[Rule]:
    """Every key of an mmdet checkpoint of this architecture, with its shape and its rule."""
    return list(_backbone_rules(arch)) + list(_pixel_decoder_rules(arch)) + list(_decoder_rules(arch))


def _backbone_rules(a: Mask2FormerArch) -> Iterator[Rule]:
    p, e = a.patch_size, a.embed_dim
    yield Rule("copy", "backbone.patch_embed.projection.weight", (f"{SWIN}embeddings.patch_embeddings.projection.weight",),
               (e, 3, p, p))
    yield Rule("copy", "backbone.patch_embed.projection.bias", (f"{SWIN}embeddings.patch_embeddings.projection.bias",), (e,))
    yield from _norm("backbone.patch_embed.norm", f"{SWIN}embeddings.norm", e)
    table = (2 * a.window_size - 1) ** 2
    area = a.window_size**2
    dims = a.stage_dims()
    for i, (depth, heads, dim) in enumerate(zip(a.depths, a.num_heads, dims)):
        for j in range(depth):
            mm, hub = f"backbone.stages.{i}.blocks.{j}", f"{SWIN}encoder.layers.{i}.blocks.{j}"
            att = f"{hub}.attention"
            yield from _norm(f"{mm}.norm1", f"{hub}.layernorm_before", dim)
            yield Rule("split3", f"{mm}.attn.w_msa.qkv.weight",
                       (f"{att}.self.query.weight", f"{att}.self.key.weight", f"{att}.self.value.weight"), (3 * dim, dim))
            yield Rule("split3", f"{mm}.attn.w_msa.qkv.bias",
                       (f"{att}.self.query.bias", f"{att}.self.key.bias", f"{att}.self.value.bias"), (3 * dim,))
            yield from _linear(f"{mm}.attn.w_msa.proj", f"{att}.output.dense", dim, dim)
            yield Rule("copy", f"{mm}.attn.w_msa.relative_position_bias_table",
                       (f"{att}.self.relative_position_bias_table",), (table, heads))
            yield Rule("derived_index", f"{mm}.attn.w_msa.relative_position_index", (), (area, area))
            yield from _norm(f"{mm}.norm2", f"{hub}.layernorm_after", dim)
            yield from _linear(f"{mm}.ffn.layers.0.0", f"{hub}.intermediate.dense", a.mlp_ratio * dim, dim)
            yield from _linear(f"{mm}.ffn.layers.1", f"{hub}.output.dense", dim, a.mlp_ratio * dim)
        if i < len(a.depths) - 1:
            mm, hub = f"backbone.stages.{i}.downsample", f"{SWIN}encoder.layers.{i}.downsample"
            yield Rule("unfold_vector", f"{mm}.norm.weight", (f"{hub}.norm.weight",), (4 * dim,))
            yield Rule("unfold_vector", f"{mm}.norm.bias", (f"{hub}.norm.bias",), (4 * dim,))
            yield Rule("unfold_matrix", f"{mm}.reduction.weight", (f"{hub}.reduction.weight",), (2 * dim, 4 * dim))
    for i, dim in enumerate(dims):
        yield from _norm(f"backbone.norm{i}", f"{SWIN}hidden_states_norms.stage{i + 1}", dim)


def _pixel_decoder_rules(a: Mask2FormerArch) -> Iterator[Rule]:
    mm, hub, h = "panoptic_head.pixel_decoder", PIXEL.rstrip("."), a.hidden_dim
    dims = a.stage_dims()
    for k in range(a.num_levels):  # coarsest first
        cin = dims[len(dims) - 1 - k]
        yield Rule("copy", f"{mm}.input_convs.{k}.conv.weight", (f"{hub}.input_projections.{k}.0.weight",), (h, cin, 1, 1))
        yield Rule("copy", f"{mm}.input_convs.{k}.conv.bias", (f"{hub}.input_projections.{k}.0.bias",), (h,))
        yield from _norm(f"{mm}.input_convs.{k}.gn", f"{hub}.input_projections.{k}.1", h)
    yield Rule("copy", f"{mm}.level_encoding.weight", (f"{hub}.level_embed",), (a.num_levels, h))
    samples = a.num_attention_heads * a.num_levels * a.num_points
    for layer in range(a.encoder_layers):
        m, t = f"{mm}.encoder.layers.{layer}", f"{hub}.encoder.layers.{layer}"
        yield from _linear(f"{m}.attentions.0.sampling_offsets", f"{t}.self_attn.sampling_offsets", 2 * samples, h)
        yield from _linear(f"{m}.attentions.0.attention_weights", f"{t}.self_attn.attention_weights", samples, h)
        yield from _linear(f"{m}.attentions.0.value_proj", f"{t}.self_attn.value_proj", h, h)
        yield from _linear(f"{m}.attentions.0.output_proj", f"{t}.self_attn.output_proj", h, h)
        yield from _linear(f"{m}.ffns.0.layers.0.0", f"{t}.fc1", a.encoder_ffn_dim, h)
        yield from _linear(f"{m}.ffns.0.layers.1", f"{t}.fc2", h, a.encoder_ffn_dim)
        yield from _norm(f"{m}.norms.0", f"{t}.self_attn_layer_norm", h)
        yield from _norm(f"{m}.norms.1", f"{t}.final_layer_norm", h)
    # FPN levels finer than the encoder's (stride 4 only): convs without bias, then GroupNorm.
    yield Rule("copy", f"{mm}.lateral_convs.0.conv.weight", (f"{hub}.adapter_1.0.weight",), (h, dims[0], 1, 1))
    yield from _norm(f"{mm}.lateral_convs.0.gn", f"{hub}.adapter_1.1", h)
    yield Rule("copy", f"{mm}.output_convs.0.conv.weight", (f"{hub}.layer_1.0.weight",), (h, h, 3, 3))
    yield from _norm(f"{mm}.output_convs.0.gn", f"{hub}.layer_1.1", h)
    yield Rule("copy", f"{mm}.mask_feature.weight", (f"{hub}.mask_projection.weight",), (h, h, 1, 1))
    yield Rule("copy", f"{mm}.mask_feature.bias", (f"{hub}.mask_projection.bias",), (h,))


def _decoder_rules(a: Mask2FormerArch) -> Iterator[Rule]:
    mm, hub, h = "panoptic_head", TRANSFORMER.rstrip("."), a.hidden_dim
    for layer in range(a.decoder_layers):
        m, t = f"{mm}.transformer_decoder.layers.{layer}", f"{hub}.decoder.layers.{layer}"
        yield Rule("copy", f"{m}.attentions.0.attn.in_proj_weight", (f"{t}.cross_attn.in_proj_weight",), (3 * h, h))
        yield Rule("copy", f"{m}.attentions.0.attn.in_proj_bias", (f"{t}.cross_attn.in_proj_bias",), (3 * h,))
        yield from _linear(f"{m}.attentions.0.attn.out_proj", f"{t}.cross_attn.out_proj", h, h)
        sa = f"{t}.self_attn"
        yield Rule("split3", f"{m}.attentions.1.attn.in_proj_weight",
                   (f"{sa}.q_proj.weight", f"{sa}.k_proj.weight", f"{sa}.v_proj.weight"), (3 * h, h))
        yield Rule("split3", f"{m}.attentions.1.attn.in_proj_bias",
                   (f"{sa}.q_proj.bias", f"{sa}.k_proj.bias", f"{sa}.v_proj.bias"), (3 * h,))
        yield from _linear(f"{m}.attentions.1.attn.out_proj", f"{sa}.out_proj", h, h)
        yield from _linear(f"{m}.ffns.0.layers.0.0", f"{t}.fc1", a.decoder_ffn_dim, h)
        yield from _linear(f"{m}.ffns.0.layers.1", f"{t}.fc2", h, a.decoder_ffn_dim)
        yield from _norm(f"{m}.norms.0", f"{t}.cross_attn_layer_norm", h)
        yield from _norm(f"{m}.norms.1", f"{t}.self_attn_layer_norm", h)
        yield from _norm(f"{m}.norms.2", f"{t}.final_layer_norm", h)
    yield from _norm(f"{mm}.transformer_decoder.post_norm", f"{hub}.decoder.layernorm", h)
    yield Rule("copy", f"{mm}.query_embed.weight", (f"{hub}.queries_embedder.weight",), (a.num_queries, h))
    yield Rule("copy", f"{mm}.query_feat.weight", (f"{hub}.queries_features.weight",), (a.num_queries, h))
    yield Rule("copy", f"{mm}.level_embed.weight", (f"{hub}.level_embed.weight",), (a.num_levels, h))
    for index, layer in enumerate((0, 2, 4)):
        yield from _linear(f"{mm}.mask_embed.{layer}", f"{hub}.decoder.mask_predictor.mask_embedder.{index}.0", h, h)
    yield from _linear(f"{mm}.cls_embed", "class_predictor", a.num_classes + 1, h)


def mmdet_key_shapes(arch: Mask2FormerArch = SWIN_S_COCO_INSTANCE) -> dict[str, tuple[int, ...]]:
    """The complete key list of an mmdet checkpoint of `arch`, with shapes."""
    return {r.mmdet: r.shape for r in rules(arch)}


# ------------------------------------------------------------------------------------ transforms

# Unfold position (2*dy + dx) of each patch in transformers' concatenation order (dy,dx) =
# (0,0), (1,0), (0,1), (1,1); the permutation is its own inverse.
_UNFOLD_OF_CONCAT = (0, 2, 1, 3)


def unfold_to_concat_matrix(weight: Any) -> Any:
    out, inp = weight.shape
    return weight.reshape(out, inp // 4, 4)[:, :, list(_UNFOLD_OF_CONCAT)].transpose(1, 2).reshape(out, inp)


def concat_to_unfold_matrix(weight: Any) -> Any:
    out, inp = weight.shape
    return weight.reshape(out, 4, inp // 4)[:, list(_UNFOLD_OF_CONCAT), :].transpose(1, 2).reshape(out, inp)


def unfold_to_concat_vector(vec: Any) -> Any:
    return unfold_to_concat_matrix(vec.reshape(1, -1)).reshape(-1)


def concat_to_unfold_vector(vec: Any) -> Any:
    return concat_to_unfold_matrix(vec.reshape(1, -1)).reshape(-1)


def swin_relative_position_index(window: int) -> Any:
    """The standard Swin relative position index (the one transformers computes)."""
    import torch

    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[:, :, 0] * (2 * window - 1) + rel[:, :, 1]


def mmdet_relative_position_index(window: int) -> Any:
    """The index as mmdet's WindowMSA builds it (its own faster construction)."""
    import torch

    seq1 = torch.arange(0, (2 * window - 1) * window, 2 * window - 1)
    seq2 = torch.arange(0, window, 1)
    coords = (seq1[:, None] + seq2[None, :]).reshape(1, -1)
    return (coords + coords.T).flip(1).contiguous()


# ------------------------------------------------------------------------------------ conversion


def _fail_keys(what: str, keys: Sequence[str], limit: int = 8) -> None:
    shown = ", ".join(sorted(keys)[:limit]) + (f", ... ({len(keys)} in all)" if len(keys) > limit else "")
    raise UnoError(f"{what}: {shown}")


def _check(state: Mapping[str, Any], expected: Mapping[str, tuple[int, ...]], source: str) -> None:
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        _fail_keys(f"{source}: keys no conversion rule knows (not a Mask2Former Swin checkpoint of this layout?)",
                   unexpected)
    missing = [k for k in expected if k not in state]
    if missing:
        _fail_keys(f"{source}: keys missing", missing)
    wrong = [f"{k} {tuple(state[k].shape)} (expected {expected[k]})" for k in expected
             if tuple(state[k].shape) != tuple(expected[k])]
    if wrong:
        _fail_keys(f"{source}: tensors of the wrong shape", wrong)


def empty_weight(num_classes: int) -> Any:
    import torch

    weight = torch.ones(num_classes + 1)
    weight[-1] = NO_OBJECT_WEIGHT
    return weight


def mmdet_to_hub(state: Mapping[str, Any], arch: Mask2FormerArch, source: str = "checkpoint") -> dict[str, Any]:
    """Convert an mmdet state dict to transformers' hub layout, refusing any key it cannot place."""
    import torch

    plan = rules(arch)
    _check(state, {r.mmdet: r.shape for r in plan}, source)
    out: dict[str, Any] = {}
    for rule in plan:
        tensor = state[rule.mmdet]
        if rule.kind == "copy":
            out[rule.hub[0]] = tensor
        elif rule.kind == "split3":
            # clone: the three parts must not share storage (safetensors refuses shared tensors)
            out.update(zip(rule.hub, (part.clone() for part in tensor.chunk(3, dim=0))))
        elif rule.kind == "unfold_matrix":
            out[rule.hub[0]] = unfold_to_concat_matrix(tensor)
        elif rule.kind == "unfold_vector":
            out[rule.hub[0]] = unfold_to_concat_vector(tensor)
        elif rule.kind == "derived_index":
            # Meta tensors (shape-only checks) carry no values to compare.
            if not tensor.is_meta and not torch.equal(tensor.long(), swin_relative_position_index(arch.window_size)):
                raise UnoError(f"{source}: {rule.mmdet} is not the standard Swin relative position index")
        else:  # pragma: no cover - the rule table only uses the kinds above
            raise AssertionError(rule.kind)
    out[EMPTY_WEIGHT] = empty_weight(arch.num_classes).to(device=next(iter(state.values())).device)
    return {k: v.contiguous() for k, v in out.items()}


def hub_to_mmdet(hub: Mapping[str, Any], arch: Mask2FormerArch) -> dict[str, Any]:
    """The inverse: a transformers (hub layout) state dict in mmdet's key space, as mmdet saves it."""
    plan = rules(arch)
    wanted = {k for rule in plan for k in rule.hub}
    unexpected = [k for k in hub if k not in wanted and not k.endswith(HUB_ONLY_SUFFIXES)]
    if unexpected:
        _fail_keys("transformers state dict: keys without an mmdet counterpart", unexpected)
    missing = [k for k in wanted if k not in hub]
    if missing:
        _fail_keys("transformers state dict: keys missing", missing)
    out: dict[str, Any] = {}
    for rule in plan:
        parts = [hub[k] for k in rule.hub]
        if rule.kind == "copy":
            out[rule.mmdet] = parts[0]
        elif rule.kind == "split3":
            import torch

            out[rule.mmdet] = torch.cat(parts, dim=0)
        elif rule.kind == "unfold_matrix":
            out[rule.mmdet] = concat_to_unfold_matrix(parts[0])
        elif rule.kind == "unfold_vector":
            out[rule.mmdet] = concat_to_unfold_vector(parts[0])
        elif rule.kind == "derived_index":
            out[rule.mmdet] = mmdet_relative_position_index(arch.window_size)
    return {k: v.contiguous() for k, v in out.items()}


def _count(state: Mapping[str, Any], prefix: str) -> int:
    """How many numbered children `prefix.<n>.` has."""
    found = {int(k[len(prefix):].split(".", 1)[0]) for k in state if k.startswith(prefix)}
    return max(found) + 1 if found else 0


def infer_arch(state: Mapping[str, Any], source: str = "checkpoint") -> Mask2FormerArch:
    """Read the sizes off the tensor shapes (attention heads excepted: 8, as every mmdet config has)."""
    if any(k.startswith("panoptic_head.") and (".self_attn." in k or ".cross_attn." in k) for k in state):
        raise UnoError(
            f"{source} is an mmdet 3.x checkpoint (e.g. mask2former_swin-s-p4-w7-224_8xb2-lsj-50e_coco_"
            "20220504_001756-c9d0c4f2.pth, which an early GenEval download script fetched). GenEval's scorer "
            f"runs mmdet 2.x, which needs the 2.x file ...-{OFFICIAL_SHA256_PREFIX}.pth (mmdet 2.x cannot "
            "load the 3.x keys either: it warns and keeps random weights)"
        )
    try:
        proj = state["backbone.patch_embed.projection.weight"]
        embed, patch = int(proj.shape[0]), int(proj.shape[-1])
        depths = []
        while (n := _count(state, f"backbone.stages.{len(depths)}.blocks.")) > 0:
            depths.append(n)
        tables = [state[f"backbone.stages.{i}.blocks.0.attn.w_msa.relative_position_bias_table"] for i in range(len(depths))]
        window = (int(round(tables[0].shape[0] ** 0.5)) + 1) // 2
        mlp = state["backbone.stages.0.blocks.0.ffn.layers.0.0.weight"].shape[0] // embed
        queries, hidden = state["panoptic_head.query_feat.weight"].shape
        enc = "panoptic_head.pixel_decoder.encoder.layers."
        dec = "panoptic_head.transformer_decoder.layers."
        return Mask2FormerArch(
            embed_dim=embed, depths=tuple(depths), num_heads=tuple(int(t.shape[1]) for t in tables),
            window_size=window, mlp_ratio=int(mlp), patch_size=patch, hidden_dim=int(hidden),
            encoder_layers=_count(state, enc), encoder_ffn_dim=int(state[f"{enc}0.ffns.0.layers.0.0.weight"].shape[0]),
            decoder_layers=_count(state, dec), decoder_ffn_dim=int(state[f"{dec}0.ffns.0.layers.0.0.weight"].shape[0]),
            num_queries=int(queries), num_classes=int(state["panoptic_head.cls_embed.weight"].shape[0]) - 1,
        )
    except (KeyError, IndexError) as exc:
        raise UnoError(f"{source}: not an mmdet Mask2Former checkpoint with a Swin backbone (no {exc})") from None


def hub_config(arch: Mask2FormerArch, class_names: Sequence[str] | None = None) -> Any:
    """transformers' Mask2FormerConfig for `arch` (mmdet config values where transformers has a choice)."""
    from transformers import Mask2FormerConfig, SwinConfig

    names = list(class_names) if class_names and len(class_names) == arch.num_classes else [
        f"class_{i}" for i in range(arch.num_classes)]
    backbone = SwinConfig(
        embed_dim=arch.embed_dim, depths=list(arch.depths), num_heads=list(arch.num_heads),
        window_size=arch.window_size, mlp_ratio=float(arch.mlp_ratio), patch_size=arch.patch_size,
        qkv_bias=True, hidden_act="gelu", layer_norm_eps=1e-5, use_absolute_embeddings=False, drop_path_rate=0.0,
        out_features=[f"stage{i + 1}" for i in range(len(arch.depths))],
    )
    return Mask2FormerConfig(
        backbone_config=backbone, feature_size=arch.hidden_dim, mask_feature_size=arch.hidden_dim,
        hidden_dim=arch.hidden_dim, encoder_feedforward_dim=arch.encoder_ffn_dim, dim_feedforward=arch.decoder_ffn_dim,
        encoder_layers=arch.encoder_layers, decoder_layers=arch.decoder_layers + 1,
        num_attention_heads=arch.num_attention_heads, num_queries=arch.num_queries, pre_norm=False,
        enforce_input_projection=False, common_stride=4, feature_strides=[4, 8, 16, 32],
        no_object_weight=NO_OBJECT_WEIGHT,
        id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)},
    )


def read_mmdet_checkpoint(path: str | Path) -> tuple[dict[str, Any], list[str] | None]:
    """(state_dict, class names from the checkpoint's meta if it has them), loaded safely."""
    from uno_bench.judges.weights import load_torch_file

    raw = load_torch_file(path)
    if not isinstance(raw, dict):
        raise UnoError(f"{path}: not a checkpoint dict")
    state = raw.get("state_dict", raw)
    meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
    classes = meta.get("CLASSES")
    names = [str(c) for c in classes] if isinstance(classes, (list, tuple)) else None
    return dict(state), names


def convert_checkpoint(src: str | Path, dst: str | Path, sha256: str | None = None) -> Path:
    """Convert an mmdet .pth into a transformers folder (config.json, model.safetensors, conversion.json).

    Written to a temporary folder beside `dst` and moved into place, so an interrupted conversion
    never leaves a half-written folder that a later run would trust.
    """
    from safetensors.torch import save_file

    from uno_bench.judges.weights import sha256_file

    src, dst = Path(src), Path(dst)
    state, names = read_mmdet_checkpoint(src)
    arch = infer_arch(state, str(src))
    hub = mmdet_to_hub(state, arch, str(src))
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        hub_config(arch, names).save_pretrained(tmp)
        save_file({k: v.float() if v.is_floating_point() else v for k, v in hub.items()},
                  str(tmp / "model.safetensors"), metadata={"format": "pt"})
        info = {"source": src.name, "source_sha256": sha256 or sha256_file(src),
                "converter_version": CONVERTER_VERSION, "arch": asdict(arch)}
        (tmp / "conversion.json").write_text(json.dumps(info, indent=1))
        done = conversion_info(dst) if dst.is_dir() else None
        if done and done.get("source_sha256") == info["source_sha256"]:
            return dst  # another process (a second rank, say) finished the same conversion first
        if dst.exists():
            shutil.rmtree(dst)  # an older or broken conversion
        tmp.rename(dst)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dst


def conversion_info(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / "conversion.json"
    return json.loads(path.read_text()) if path.is_file() else None
