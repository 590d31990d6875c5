"""`hf` judge backend: a local transformers vision-language model (AutoModelForImageTextToText +
AutoProcessor), batched, greedy, with first-token probabilities.

Each query becomes one user message (image(s) and text in the query's order) rendered with the
model's chat template and the generation prompt; a batch is left-padded and decoded greedily
(`do_sample=False`) for the query's max_tokens. The first step's *processed* scores (what
`generate(output_scores=True)` returns, as GenEval 2's scorer reads them) go through a float32
softmax; a candidate's probability is that of its first token id (tokenizer.encode without special
tokens, first id), duplicates included. The model loads on the first query, so naming the judge
(or re-scoring a finished run) costs nothing. GenEval 2's official judge is `qwen3-vl-8b`
(Qwen/Qwen3-VL-8B-Instruct, pinned upstream to transformers 4.57.0: the installed version is
recorded in the identity; other versions may move probabilities slightly).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError
from uno_bench.judges.vlm import Answer, Query, check_role, parse_options

QWEN3_VL_8B = "Qwen/Qwen3-VL-8B-Instruct"
OPTIONS: dict[str, tuple[type, Any]] = {
    "model": (str, None),  # hub id or local folder
    "revision": (str, None),
    "dtype": (str, "auto"),  # auto (the checkpoint's), bfloat16, float16, float32
    "device": (str, "auto"),  # auto: device_map="auto" on GPUs (as upstream), else CPU
    "batch_size": (int, 8),
    "attn_implementation": (str, None),
    "max_tokens": (int, None),  # overrides the protocol's max_tokens
}


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def local_fingerprint(folder: Path) -> str:
    """sha256 over config.json and the names and sizes of the weight files: a cheap weights id."""
    digest = hashlib.sha256()
    config = folder / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    for path in sorted(folder.iterdir()):
        if path.suffix in (".safetensors", ".bin") and path.is_file():
            digest.update(f"{path.name}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()


def cached_snapshot(model: str) -> str | None:
    """The commit of a hub model's local snapshot (no network), when the model is cached."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(model, "config.json")
    except ValueError:  # not a valid hub id (a mistyped path): loading will say so
        return None
    if isinstance(found, str) and "/snapshots/" in found:
        return found.split("/snapshots/")[1].split("/")[0]
    return None


class HFBackend:
    cacheable = True
    concurrency = 1

    def __init__(self, model: str, revision: str | None = None, dtype: str = "auto", device: str = "auto",
                 batch_size: int = 8, attn_implementation: str | None = None, max_tokens: int | None = None):
        self.model_name = model
        self.local = Path(model).is_dir()
        self.revision = revision or (None if self.local else cached_snapshot(model))
        self.dtype = dtype
        self.device = device
        self.batch_size = max(1, batch_size)
        self.attn_implementation = attn_implementation
        self.max_tokens = max_tokens
        self._fingerprint = local_fingerprint(Path(model)) if self.local else None
        self._lock = threading.Lock()
        self._model = None
        self._processor = None
        self._load_error: UnoError | None = None  # a model that failed to load is not retried per image

    def identity(self) -> dict[str, Any]:
        return {
            "name": "hf",
            "model": self.model_name if not self.local else Path(self.model_name).name,
            "revision": self.revision,
            "weights": self._fingerprint,
            "dtype": self.dtype,
            "attn_implementation": self.attn_implementation,
            "decoding": {"do_sample": False, "max_tokens": self.max_tokens, "softmax": "float32"},
            "transformers": _version("transformers"),
            "torch": _version("torch"),
        }

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        kwargs: dict[str, Any] = {"revision": self.revision} if self.revision and not self.local else {}
        dtype = self.dtype if self.dtype == "auto" else getattr(torch, self.dtype, None)
        if dtype is None:
            raise UnoError(f"judge option dtype={self.dtype!r} is not a torch dtype")
        if self.attn_implementation:
            kwargs["attn_implementation"] = self.attn_implementation
        device = self.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
            if device == "cuda":
                kwargs["device_map"] = "auto"
        try:
            processor = AutoProcessor.from_pretrained(self.model_name, **{k: v for k, v in kwargs.items()
                                                                          if k == "revision"})
            model = AutoModelForImageTextToText.from_pretrained(self.model_name, dtype=dtype, **kwargs)
        except (OSError, ValueError) as exc:  # not found / offline / not a vision-language checkpoint
            raise UnoError(f"judge model {self.model_name!r} could not be loaded: {exc}") from None
        if "device_map" not in kwargs:
            model = model.to(device)
        processor.tokenizer.padding_side = "left"  # batched decoding continues every row at the end
        self._model, self._processor = model.eval(), processor

    def ask(self, queries: list[Query]) -> list[Answer]:
        with self._lock:  # one forward at a time: the model is not shared across threads
            if self._load_error is not None:
                raise self._load_error
            if self._model is None:
                try:
                    self._load()
                except UnoError as exc:
                    self._load_error = exc
                    raise
            answers: list[Answer | None] = [None] * len(queries)
            groups: dict[int, list[int]] = {}
            for i, q in enumerate(queries):
                groups.setdefault(self.max_tokens or q.max_tokens, []).append(i)
            for max_tokens, positions in groups.items():
                for start in range(0, len(positions), self.batch_size):
                    batch = positions[start : start + self.batch_size]
                    for i, answer in zip(batch, self._generate([queries[i] for i in batch], max_tokens)):
                        answers[i] = answer
            return [a for a in answers if a is not None]

    def _generate(self, queries: list[Query], max_tokens: int) -> list[Answer]:
        import torch

        processor, model = self._processor, self._model
        texts, images = [], []
        for q in queries:
            content = []
            for kind, value in q.content():  # images go to the processor in message order
                if kind == "image":
                    content.append({"type": "image"})
                    images.append(q.images[int(value)].image.convert("RGB"))
                else:
                    content.append({"type": "text", "text": value})
            texts.append(processor.apply_chat_template([{"role": "user", "content": content}],
                                                       add_generation_prompt=True, tokenize=False))
        inputs = processor(text=texts, images=images or None, padding=True, return_tensors="pt")
        inputs = inputs.to(model.device)
        with torch.inference_mode():
            out = model.generate(**inputs, max_new_tokens=max_tokens, do_sample=False, output_scores=True,
                                 return_dict_in_generate=True)
        probs = torch.softmax(out.scores[0].float(), dim=-1).cpu()
        tokenizer = processor.tokenizer
        new_tokens = out.sequences[:, inputs["input_ids"].shape[1]:].cpu()
        answers = []
        for row, q in enumerate(queries):
            first_ids = [tokenizer.encode(c, add_special_tokens=False)[0] for c in q.candidates]
            top = int(probs[row].argmax())
            answers.append(Answer(
                text=tokenizer.decode(new_tokens[row].tolist(), skip_special_tokens=True),
                candidate_probs=[float(probs[row, i]) for i in first_ids] if q.candidates else None,
                top_token=tokenizer.decode([top]),
                meta={"first_token_ids": first_ids} if q.candidates else {},
                calls=1,
            ))
        return answers


def load_judge(role: str, options: Mapping[str, str], defaults: Mapping[str, str] | None = None,
               name: str = "hf") -> HFBackend:
    check_role(name, role)
    opts = parse_options({**(defaults or {}), **options}, OPTIONS, name)
    model = opts.pop("model")
    if not model:
        raise UnoError(f"judge '{name}' needs --judge-option model=HUB_ID_OR_FOLDER")
    return HFBackend(model, **opts)


def load_qwen3_vl_8b(role: str, options: Mapping[str, str]) -> HFBackend:
    """GenEval 2's official judge: Qwen/Qwen3-VL-8B-Instruct, dtype auto, device_map auto."""
    return load_judge(role, options, {"model": QWEN3_VL_8B}, "qwen3-vl-8b")

