"""Tokenizer: Qwen2's BPE for the official model (`tokenizer.json` in the checkpoint folder, else
transformers' Qwen2 tokenizer built from `vocab.json` + `merges.txt`, as BAGEL's own code builds it),
or any `tokenizers` JSON (the tiny model's word-level vocabulary), plus BAGEL's four special tokens.

BAGEL's `add_special_tokens` only adds the four tokens when missing; the Qwen2.5 vocabulary has
all of them (ids 151644, 151645, 151652, 151653), so nothing is added and the vocabulary keeps
its size. No chat template is used: text segments are wrapped in `<|im_start|> ... <|im_end|>`.
"""

from __future__ import annotations

from pathlib import Path

from uno_bench.errors import UnoError
from uno_bench.models.bagel.packing import SpecialTokens

SPECIAL_TOKEN_STRINGS = ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>")
TOKENIZER_FILE = "tokenizer.json"


class BagelTokenizer:
    def __init__(self, backend):  # a `tokenizers.Tokenizer`
        self.backend = backend
        missing = [t for t in SPECIAL_TOKEN_STRINGS if backend.token_to_id(t) is None]
        if missing:
            backend.add_special_tokens(missing)  # upstream semantics: add only what is missing
        ids = [backend.token_to_id(t) for t in SPECIAL_TOKEN_STRINGS]
        self.special = SpecialTokens(*ids)

    @classmethod
    def from_folder(cls, folder: Path) -> BagelTokenizer:
        from tokenizers import Tokenizer

        path = Path(folder) / TOKENIZER_FILE
        if path.exists():
            return cls(Tokenizer.from_file(str(path)))
        vocab, merges = Path(folder) / "vocab.json", Path(folder) / "merges.txt"
        if vocab.exists() and merges.exists():
            return cls(qwen2_backend(Path(folder)))
        raise UnoError(f"no tokenizer in {folder}: expected {TOKENIZER_FILE} (or vocab.json + merges.txt)")

    def save(self, folder: Path) -> None:
        self.backend.save(str(Path(folder) / TOKENIZER_FILE))

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        return self.backend.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.backend.decode(ids, skip_special_tokens=False)

    def decode_reply(self, ids: list[int]) -> str:
        """What BAGEL's chat returns: the text between `<|im_start|>` and the first `<|im_end|>`."""
        s = self.special
        if ids and ids[0] == s.bos:
            ids = ids[1:]
        if s.eos in ids:
            ids = ids[: ids.index(s.eos)]
        return self.decode(ids)


def qwen2_backend(folder: Path):
    """The `tokenizers` backend of transformers' Qwen2 tokenizer built from vocab.json + merges.txt,
    as BAGEL builds it (`Qwen2Tokenizer.from_pretrained`): NFC normalisation, Qwen2's split regex
    (digits one by one, a space kept apart from a following digit), byte-level BPE. Not GPT-2's
    pre-tokenisation, which merges "12" and " 1" and skips NFC."""
    import transformers

    # transformers 4.x: the fast class converts the slow one (same normaliser and regex); 5.x: one class.
    cls = getattr(transformers, "Qwen2TokenizerFast", None) or transformers.Qwen2Tokenizer
    try:
        tok = cls.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise UnoError(f"{folder}: cannot build the Qwen2 tokenizer from vocab.json + merges.txt ({exc})") from None
    return tok.backend_tokenizer


def word_level_tokenizer(words: list[str]) -> BagelTokenizer:
    """A word-level vocabulary (the tiny model's): specials first, then `<unk>`, then the words."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers

    vocab = {tok: i for i, tok in enumerate([*SPECIAL_TOKEN_STRINGS, "<unk>"])}
    for w in words:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)  # joins words with spaces
    tok.add_special_tokens(list(SPECIAL_TOKEN_STRINGS))
    return BagelTokenizer(tok)
