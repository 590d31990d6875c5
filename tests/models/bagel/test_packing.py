"""Packed sequences: attention visibility, RoPE positions, routing and CE labels."""

from __future__ import annotations

import torch

from uno_bench.models.bagel.packing import (
    ATTENTION_MODES,
    ModeRule,
    PackedBuilder,
    SpecialTokens,
    SplitSpec,
    register_attention_mode,
    sample_attention_mask,
)

SPECIAL = SpecialTokens(bos=0, eos=1, start_of_image=2, end_of_image=3)


def _builder() -> PackedBuilder:
    return PackedBuilder(SPECIAL, vit_patch=4, vit_max_per_side=16, latent_stride=4, latent_max_per_side=16)


def _block(mask: torch.Tensor, rows: tuple[int, int], cols: tuple[int, int]) -> torch.Tensor:
    return mask[rows[0]:rows[1], cols[0]:cols[1]]


def test_causal_full_noise_visibility():
    # text(3) | noisy image(4) | clean image(4) | text(2)
    splits = [SplitSpec(0, 3, "causal"), SplitSpec(3, 4, "noise"), SplitSpec(7, 4, "full"), SplitSpec(11, 2, "causal")]
    m = sample_attention_mask(splits)
    assert torch.equal(_block(m, (0, 3), (0, 3)), torch.ones(3, 3, dtype=torch.bool).tril())  # causal text
    assert not _block(m, (0, 3), (3, 13)).any()  # nothing sees the future
    assert _block(m, (3, 7), (0, 7)).all()  # noise block: prefix + itself, bidirectional
    assert _block(m, (7, 11), (0, 3)).all() and _block(m, (7, 11), (7, 11)).all()  # full block
    # a noise block is invisible to every later token
    assert not _block(m, (7, 13), (3, 7)).any()
    assert _block(m, (11, 13), (7, 11)).all()
    assert torch.equal(_block(m, (11, 13), (11, 13)), torch.ones(2, 2, dtype=torch.bool).tril())


def test_explicit_visibility_and_new_modes():
    # UNO-style: caption sees the noisy image but not the prompt
    splits = [SplitSpec(0, 3, "causal"), SplitSpec(3, 4, "full"), SplitSpec(7, 3, "causal", frozenset({1}))]
    m = sample_attention_mask(splits)
    assert not _block(m, (7, 10), (0, 3)).any()
    assert _block(m, (7, 10), (3, 7)).all()
    assert "uno_test_hidden" not in ATTENTION_MODES
    register_attention_mode("uno_test_hidden", ModeRule("causal", False))
    try:
        m2 = sample_attention_mask([SplitSpec(0, 2, "uno_test_hidden"), SplitSpec(2, 2, "causal")])
        assert not _block(m2, (2, 4), (0, 2)).any()
        assert torch.equal(_block(m2, (0, 2), (0, 2)), torch.ones(2, 2, dtype=torch.bool).tril())
    finally:
        del ATTENTION_MODES["uno_test_hidden"]


def test_rope_routing_and_labels():
    b = _builder()
    b.start_sample()
    b.add_text([10, 11], loss=True, eos_label=SPECIAL.start_of_image)  # 4 tokens, rope 0..3
    b.add_vae_image(torch.zeros(4, 16), (2, 2), noisy=True, t=0.5)  # 6 tokens at rope 4, no advance
    b.add_vae_image(torch.zeros(4, 16), (2, 2), noisy=False)  # clean copy at rope 4, then 5
    b.add_vit_image(torch.zeros(4, 48), (2, 2))  # rope 5, then 6
    b.add_text([12])  # rope 6..8
    b.start_sample()
    b.add_text([13])  # second sample restarts at 0
    batch = b.build()
    assert batch.sample_lens == [4 + 6 + 6 + 6 + 3, 3]
    assert batch.position_ids.tolist() == [0, 1, 2, 3] + [4] * 6 + [4] * 6 + [5] * 6 + [6, 7, 8] + [0, 1, 2]
    assert batch.ce_indexes.tolist() == [0, 1, 2, 3]
    assert batch.ce_labels.tolist() == [10, 11, SPECIAL.eos, SPECIAL.start_of_image]
    assert batch.vae_indexes.tolist() == [5, 6, 7, 8, 11, 12, 13, 14]  # markers stay text (und expert)
    assert batch.mse_indexes.tolist() == [5, 6, 7, 8]
    assert batch.vae_timesteps.tolist() == [0.5] * 4 + [0.0] * 4
    assert batch.latent_position_ids.tolist() == [0, 1, 16, 17] * 2  # row * max + col
    assert batch.vit_position_ids.tolist() == [0, 1, 16, 17]
    assert batch.text_ids[batch.text_indexes.argsort()].tolist()[:5] == [0, 10, 11, 1, 2]
    masks = batch.attention_masks()
    assert [m.shape[0] for m in masks] == batch.sample_lens
    # the clean copy and later tokens cannot see the noisy block
    assert not masks[0][10:, 4:10].any() and masks[0][10:16, 0:4].all()


def test_dropped_condition_image_still_advances_rope():
    b = _builder()
    b.start_sample()
    b.skip_positions(1)  # a ViT image dropped for CFG
    b.add_text([6])
    assert b.build().position_ids.tolist() == [1, 2, 3]
