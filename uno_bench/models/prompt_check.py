"""Prompts a model cannot read whole: longer than its context, or with words its tokenizer does not know.

Neither stops a run (the official evaluations feed prompts as they are), but both change what the
model sees, so a run warns once and records the counts in its manifest (`prompts` section).
"""

from __future__ import annotations

from typing import Any

_EXAMPLES = 3


def prompt_report(adapter: Any, prompts: list[str]) -> dict[str, Any] | None:
    """Counts over distinct prompts, or None when the adapter has no tokenizer to ask (folder, oracle)."""
    loaded = getattr(adapter, "loaded", None)
    tokenizer = getattr(loaded, "tokenizer", None)
    config = getattr(loaded, "config", None)
    if tokenizer is None or config is None:
        return None
    context = int(config.llm.max_position_embeddings)
    unk = _unknown_id(tokenizer)
    too_long: list[int] = []
    unknown: list[str] = []
    distinct = sorted(set(prompts))
    for prompt in distinct:
        ids = tokenizer.encode(prompt)
        if len(ids) + 2 > context:  # + <|im_start|> and <|im_end|>
            too_long.append(len(ids))
        if unk is not None and unk in ids:
            unknown.append(prompt)
    return {"prompts": len(distinct), "context_tokens": context, "too_long": len(too_long),
            "longest_tokens": max(too_long, default=None), "with_unknown_tokens": len(unknown),
            "unknown_examples": [p[:60] for p in unknown[:_EXAMPLES]]}


def _unknown_id(tokenizer: Any) -> int | None:
    backend = getattr(tokenizer, "backend", None)
    token = getattr(getattr(backend, "model", None), "unk_token", None)
    return backend.token_to_id(token) if token else None


def warning(report: dict[str, Any] | None) -> str | None:
    """One line for the user, or None when every prompt is read whole."""
    if not report or not (report["too_long"] or report["with_unknown_tokens"]):
        return None
    parts = []
    if report["too_long"]:
        parts.append(f"{report['too_long']} of {report['prompts']} prompt(s) exceed the model's context "
                     f"({report['longest_tokens']} > {report['context_tokens']} tokens)")
    if report["with_unknown_tokens"]:
        shown = ", ".join(repr(p) for p in report["unknown_examples"])
        parts.append(f"{report['with_unknown_tokens']} prompt(s) contain text the tokenizer does not know, "
                     f"read as its unknown token (e.g. {shown})")
    return "warning: " + "; ".join(parts)
