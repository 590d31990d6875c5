"""mmdet 2.x Mask2Former checkpoints -> transformers: key coverage, each non-trivial rule against the
operation mmdet performs, and an exact round trip through the converter on a random tiny model.

mmdet itself is too heavy for CI (mmcv-full must be compiled); scripts/check_mmdet_converter.py is
the end-to-end comparison against it (run on random weights: results/mmdet-parity/).
"""

# ruff: noqa: F811 - the fixtures imported from tiny_judges are used as test arguments

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmdet_skeleton import checkpoint_shapes, random_checkpoint
from tiny_judges import TINY_ARCH, TINY_CLASSES, tiny_m2f, tiny_m2f_folder, tiny_mmdet_pth  # noqa: F401 (fixtures)

from uno_bench.errors import UnoError
from uno_bench.judges import mmdet_convert as mc
from uno_bench.judges.mask2former import load_transformers_folder
from uno_bench.judges.weights import load_torch_file

SWIN_S = mc.SWIN_S_COCO_INSTANCE


def test_rule_table_lists_exactly_the_keys_of_mmdets_module_tree():
    for arch in (SWIN_S, TINY_ARCH):
        assert mc.mmdet_key_shapes(arch) == checkpoint_shapes(arch)
    keys = mc.mmdet_key_shapes(SWIN_S)
    # backbone 4 + 24 blocks x 14 + 3 downsamples x 3 + 4 out norms x 2 = 357; pixel decoder 12 + 1 +
    # 6 layers x 16 + 8 = 117; decoder 9 layers x 18 + post norm 2 + queries 2 + level 1 + mask MLP 6 + cls 2 = 175
    assert len(keys) == 649
    # Spot checks against shapes fixed by the Swin-S config (embed 96, depths 2-2-18-2, 80 classes).
    assert keys["backbone.stages.2.blocks.17.attn.w_msa.qkv.weight"] == (1152, 384)
    assert keys["backbone.stages.3.blocks.1.attn.w_msa.relative_position_bias_table"] == (169, 24)
    assert keys["panoptic_head.pixel_decoder.input_convs.0.conv.weight"] == (256, 768, 1, 1)
    assert keys["panoptic_head.pixel_decoder.encoder.layers.5.attentions.0.sampling_offsets.weight"] == (192, 256)
    assert keys["panoptic_head.transformer_decoder.layers.8.attentions.1.attn.in_proj_weight"] == (768, 256)
    assert keys["panoptic_head.cls_embed.weight"] == (81, 256)


def _hub_shapes(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """The model's tensors under the names save_pretrained writes (the hub layout)."""
    state = dict(model.state_dict())
    try:
        from transformers.core_model_loading import revert_weight_conversion
    except ImportError:  # transformers 4.x: module names are the hub names
        return {k: tuple(v.shape) for k, v in state.items()}
    return {k: tuple(v.shape) for k, v in revert_weight_conversion(model, state).items()}


def test_every_swin_s_checkpoint_key_lands_on_a_transformers_tensor_of_its_shape():
    from transformers import Mask2FormerForUniversalSegmentation

    with torch.device("meta"):
        model = Mask2FormerForUniversalSegmentation(mc.hub_config(SWIN_S))
        fake = {k: torch.empty(s) for k, s in checkpoint_shapes(SWIN_S).items()}
    converted = {k: tuple(v.shape) for k, v in mc.mmdet_to_hub(fake, SWIN_S).items()}
    target = {k: s for k, s in _hub_shapes(model).items() if not k.endswith(("swin.layernorm.weight", "swin.layernorm.bias"))}
    assert converted == target
    assert model.config.backbone_config.depths == [2, 2, 18, 2] and model.config.num_labels == 80


def test_mmdet_and_swin_relative_position_indices_agree():
    for window in (2, 3, 7, 12):
        assert torch.equal(mc.mmdet_relative_position_index(window), mc.swin_relative_position_index(window))


def test_patch_merging_reorder_matches_mmdets_unfold():
    """mmdet's PatchMerging (nn.Unfold 2x2, LayerNorm, Linear) == transformers' with converted weights."""
    from transformers.models.swin.modeling_swin import SwinPatchMerging

    gen = torch.Generator().manual_seed(0)
    dim, height, width = 6, 4, 6
    x = torch.randn(2, height * width, dim, generator=gen)
    norm = torch.nn.LayerNorm(4 * dim)
    reduction = torch.nn.Linear(4 * dim, 2 * dim, bias=False)
    with torch.no_grad():
        for p in (*norm.parameters(), reduction.weight):
            p.copy_(torch.randn(p.shape, generator=gen))
    # mmdet: (B, L, C) -> (B, C, H, W) -> Unfold -> (B, 4C, L') -> (B, L', 4C) -> norm -> reduction
    unfolded = torch.nn.Unfold(kernel_size=2, stride=2)(x.view(2, height, width, dim).permute(0, 3, 1, 2))
    expected = reduction(norm(unfolded.transpose(1, 2)))
    merge = SwinPatchMerging(dim)
    with torch.no_grad():
        merge.norm.weight.copy_(mc.unfold_to_concat_vector(norm.weight))
        merge.norm.bias.copy_(mc.unfold_to_concat_vector(norm.bias))
        merge.reduction.weight.copy_(mc.unfold_to_concat_matrix(reduction.weight))
    torch.testing.assert_close(merge(x, (height, width)), expected)
    assert torch.equal(mc.concat_to_unfold_matrix(mc.unfold_to_concat_matrix(reduction.weight)), reduction.weight)


def test_qkv_split_gives_the_queries_keys_values_mmdet_computes():
    """WindowMSA: qkv(x).reshape(B, N, 3, heads, head_dim) -> q, k, v; transformers: three Linears."""
    gen = torch.Generator().manual_seed(1)
    dim, heads = 12, 3
    qkv = torch.nn.Linear(dim, 3 * dim)
    with torch.no_grad():
        qkv.weight.copy_(torch.randn(qkv.weight.shape, generator=gen))
        qkv.bias.copy_(torch.randn(qkv.bias.shape, generator=gen))
    x = torch.randn(5, 7, dim, generator=gen)
    mm = qkv(x).reshape(5, 7, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
    for part, w, b in zip(mm, qkv.weight.chunk(3), qkv.bias.chunk(3)):
        hf = torch.nn.functional.linear(x, w, b).view(5, 7, heads, dim // heads).transpose(1, 2)
        torch.testing.assert_close(hf, part)


def test_decoder_self_attention_split_matches_torch_multihead_attention():
    """mmdet's self attention is nn.MultiheadAttention with query_pos added to q and k only."""
    from transformers.models.mask2former.modeling_mask2former import Mask2FormerAttention

    gen = torch.Generator().manual_seed(2)
    dim, heads, queries = 16, 4, 5
    mha = torch.nn.MultiheadAttention(dim, heads).eval()
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    x = torch.randn(queries, 2, dim, generator=gen)  # (queries, batch, dim), as both libraries pass it
    pos = torch.randn(queries, 2, dim, generator=gen)
    expected = mha(x + pos, x + pos, x)[0]
    hf = Mask2FormerAttention(dim, heads).eval()
    with torch.no_grad():
        for proj, w, b in zip((hf.q_proj, hf.k_proj, hf.v_proj), mha.in_proj_weight.chunk(3), mha.in_proj_bias.chunk(3)):
            proj.weight.copy_(w)
            proj.bias.copy_(b)
        hf.out_proj.weight.copy_(mha.out_proj.weight)
        hf.out_proj.bias.copy_(mha.out_proj.bias)
    torch.testing.assert_close(hf(x, position_embeddings=pos)[0], expected)


def test_round_trip_through_the_mmdet_key_space_is_exact(tiny_m2f, tiny_m2f_folder, tiny_mmdet_pth, tmp_path):
    """transformers -> mmdet keys (inverse rules) -> .pth -> converter -> transformers: same tensors, same outputs."""
    from safetensors.torch import load_file

    hub = load_file(str(tiny_m2f_folder / "model.safetensors"))
    state, names = mc.read_mmdet_checkpoint(tiny_mmdet_pth)
    assert names == TINY_CLASSES
    assert mc.infer_arch(state) == TINY_ARCH
    back = mc.mmdet_to_hub(state, TINY_ARCH)
    hub_only = ("swin.layernorm.weight", "swin.layernorm.bias")
    assert set(back) == {k for k in hub if not k.endswith(hub_only)}
    for key, tensor in back.items():
        assert torch.equal(tensor, hub[key]), key

    folder = mc.convert_checkpoint(tiny_mmdet_pth, tmp_path / "converted")
    assert mc.conversion_info(folder)["arch"]["depths"] == [2, 2, 2, 2]
    loaded = load_transformers_folder(folder)
    original = dict(tiny_m2f.state_dict())
    for key, tensor in loaded.state_dict().items():
        if "swin.layernorm" not in key:
            assert torch.equal(tensor, original[key]), key
    assert loaded.config.id2label[1] == "dog"
    pixels = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = tiny_m2f(pixel_values=pixels), loaded(pixel_values=pixels)
    assert torch.equal(a.class_queries_logits, b.class_queries_logits)
    assert torch.equal(a.masks_queries_logits, b.masks_queries_logits)


def test_skeleton_checkpoint_converts_and_loads(tmp_path):
    """A checkpoint laid out by the transcribed mmdet module tree loads into transformers strictly."""
    state = random_checkpoint(TINY_ARCH, seed=5)
    path = tmp_path / "skeleton.pth"
    torch.save({"state_dict": state}, path)
    model = load_transformers_folder(mc.convert_checkpoint(path, tmp_path / "out"))
    assert torch.equal(model.class_predictor.weight, state["panoptic_head.cls_embed.weight"])
    assert model.config.id2label[0] == "class_0"  # no CLASSES in meta


def _state() -> dict[str, torch.Tensor]:
    return random_checkpoint(TINY_ARCH, seed=4)


def test_unmapped_missing_and_misshapen_keys_are_refused():
    state = _state()
    with pytest.raises(UnoError, match="keys no conversion rule knows .*: panoptic_head.extra.weight"):
        mc.mmdet_to_hub({**state, "panoptic_head.extra.weight": torch.zeros(1)}, TINY_ARCH)
    gone = {k: v for k, v in state.items() if k != "panoptic_head.query_feat.weight"}
    with pytest.raises(UnoError, match="keys missing: panoptic_head.query_feat.weight"):
        mc.mmdet_to_hub(gone, TINY_ARCH)
    bad = {**state, "panoptic_head.cls_embed.bias": torch.zeros(7)}
    with pytest.raises(UnoError, match=r"wrong shape: panoptic_head.cls_embed.bias \(7,\) \(expected \(6,\)\)"):
        mc.mmdet_to_hub(bad, TINY_ARCH)
    index = "backbone.stages.0.blocks.0.attn.w_msa.relative_position_index"
    with pytest.raises(UnoError, match="not the standard Swin relative position index"):
        mc.mmdet_to_hub({**state, index: state[index].flip(0)}, TINY_ARCH)


def test_mmdet_3x_checkpoints_are_named_as_such():
    state = {"panoptic_head.transformer_decoder.layers.0.self_attn.attn.in_proj_weight": torch.zeros(3, 1)}
    with pytest.raises(UnoError, match="mmdet 3.x checkpoint.*743b7d99"):
        mc.infer_arch(state, "x.pth")
    with pytest.raises(UnoError, match="not an mmdet Mask2Former checkpoint with a Swin backbone"):
        mc.infer_arch({"backbone.conv1.weight": torch.zeros(1)}, "resnet.pth")


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_checkpoints_load_without_running_pickled_code(tmp_path):
    path = tmp_path / "meta.pth"
    torch.save({"meta": {"seed": np.int64(3), "hist": np.array([1.0])[0]}, "state_dict": {"w": torch.ones(2)}},
               path, _use_new_zipfile_serialization=False)
    assert torch.equal(load_torch_file(path)["state_dict"]["w"], torch.ones(2))
    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "meta": {"f": np.random.default_rng}}, evil)
    with pytest.raises(UnoError, match="refusing to load"):
        load_torch_file(evil)
    script = tmp_path / "script.pt"
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(script))
    with pytest.raises(UnoError, match="TorchScript archive"):
        load_torch_file(script)
