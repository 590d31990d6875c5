"""The interface of question-answering judges (VLMs): image(s) + text query -> raw output.

A backend (`openai`, `hf`, `mplug`, `replay`) implements `VLMBackend`: `ask(queries)` returns one
`Answer` per `Query`, in order, or raises `JudgeUnavailableError` (transport failure after its own
retries; nothing about this query was learned). Protocol-level parsing and retries belong to the
suites, which see only raw outputs. Where a protocol scores the first generated token (GenEval 2's
Soft-TIFA), the query lists candidate strings and the answer carries, per candidate and in order,
the probability of that candidate's *first token* (duplicates kept: the official scorer sums them).

`Query.key_material()` is what identifies a query independently of the judge: images by pixel hash
(`judges.base.image_sha256`), the text, the order of parts, candidates, max_tokens and the protocol
attempt number (a retried query is a different cache entry, so a re-run replays every attempt).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges.base import image_sha256


class JudgeUnavailableError(UnoError):
    """The judge could not be reached or answered garbage at the transport level (after retries).

    Transient by nature: never cached, and the image is recorded unscored and judged again on the
    next pass. `fields` are kept in the unscored record (calls and retries made).
    """

    def __init__(self, message: str, calls: int = 0, retries: int = 0):
        super().__init__(message)
        self.record_fields = {"judge_stats": {"calls": calls, "retries": retries}}


@dataclass(frozen=True, eq=False)
class ImageInput:
    """One image of a query: the decoded picture, and the file bytes when a protocol sends those."""

    image: Image.Image
    data: bytes | None = None  # original file bytes (UniGenBench's Gemini path sends them unchanged)
    mime: str = "image/png"

    @cached_property
    def sha256(self) -> str:
        return image_sha256(self.image)

    def encoded(self, encoding: str) -> tuple[str, bytes]:
        """(mime, bytes) as sent: 'original' file bytes, or re-encoded 'png' / 'jpeg95' (JPEG q95)."""
        if encoding == "original" and self.data is not None:
            return self.mime, self.data
        buffer = io.BytesIO()
        if encoding == "jpeg95":
            self.image.convert("RGB").save(buffer, format="JPEG", quality=95)
            return "image/jpeg", buffer.getvalue()
        self.image.save(buffer, format="PNG")
        return "image/png", buffer.getvalue()

    def data_url(self, encoding: str) -> str:
        mime, data = self.encoded(encoding)
        return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


@dataclass(frozen=True)
class Query:
    text: str
    images: tuple[ImageInput, ...] = ()
    image_first: bool = True  # order of the parts in the one user message
    candidates: tuple[str, ...] = ()  # first-token probabilities wanted for these strings
    max_tokens: int = 1
    attempt: int = 0  # protocol retry number (0 = first try)
    # Explicit interleaving of the message, when a protocol puts text between images (KRIS-Bench:
    # "This is the original image:" <image> ...): text strings and image indices, in order. When set
    # it is the whole message (`text` is then only a label) and `image_first` is ignored.
    parts: tuple[str | int, ...] = ()

    def key_material(self) -> dict[str, Any]:
        material = {
            "images": [img.sha256 for img in self.images],
            "text": self.text,
            "image_first": self.image_first,
            "candidates": list(self.candidates),
            "max_tokens": self.max_tokens,
            "attempt": self.attempt,
        }
        if self.parts:  # only then: keys of queries without parts stay what they were
            material["parts"] = list(self.parts)
        return material

    def content(self) -> list[tuple[str, str | int]]:
        """The message in order: ("text", str) and ("image", index into `images`) entries."""
        if self.parts:
            return [("image", p) if isinstance(p, int) else ("text", p) for p in self.parts]
        images: list[tuple[str, str | int]] = [("image", i) for i in range(len(self.images))]
        text: list[tuple[str, str | int]] = [("text", self.text)]
        return images + text if self.image_first else text + images

    def key(self) -> str:
        """Judge-independent key (replay recordings); the cache adds the judge identity."""
        return canonical_sha256(self.key_material())


@dataclass
class Answer:
    text: str | None  # the raw reply (None: the endpoint returned no content)
    candidate_probs: list[float] | None = None  # per query candidate, first-token probability
    top_token: str | None = None  # the most likely first token, decoded
    meta: dict[str, Any] = field(default_factory=dict)  # finish reason, tokens outside top-k, ...
    calls: int = 0  # requests made for this answer (retries included); 0 when it came from the cache
    retries: int = 0
    cached: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "candidate_probs": self.candidate_probs, "top_token": self.top_token,
                "meta": self.meta}

    @classmethod
    def from_json(cls, obj: dict[str, Any], cached: bool = False) -> Answer:
        return cls(obj.get("text"), obj.get("candidate_probs"), obj.get("top_token"), dict(obj.get("meta") or {}),
                   cached=cached)


@runtime_checkable
class VLMBackend(Protocol):
    concurrency: int  # requests it may have in flight at once (a local model: 1)
    batch_size: int  # queries per `ask` call it handles well
    cacheable: bool  # False for replay (answers are already on disk)

    def identity(self) -> dict[str, Any]:
        """Backend, model id and revision, endpoint, decoding parameters: never a credential."""
        ...

    def ask(self, queries: list[Query]) -> list[Answer]: ...


def canonical_sha256(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_role(name: str, role: str) -> None:
    if role != "vlm":
        raise UnoError(f"judge '{name}' answers questions about images; it cannot serve as a {role}")


def parse_options(options: dict[str, str], allowed: dict[str, tuple[type, Any]], name: str) -> dict[str, Any]:
    """Typed backend options from `--judge-option` strings: `allowed` maps key -> (type, default).

    Unknown keys are refused with the list of known ones; an empty value means None (unset)."""
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UnoError(
            f"judge '{name}' takes no option(s) {', '.join(unknown)} (it takes: {', '.join(sorted(allowed))})"
        )
    out = {key: default for key, (_, default) in allowed.items()}
    for key, raw in options.items():
        kind = allowed[key][0]
        if raw == "":
            out[key] = None
            continue
        try:
            if kind is bool:
                if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(raw)
                out[key] = raw.lower() in ("1", "true", "yes")
            else:
                out[key] = kind(raw)
        except ValueError:
            raise UnoError(f"judge '{name}': option {key}={raw!r} is not a {kind.__name__}") from None
    return out
