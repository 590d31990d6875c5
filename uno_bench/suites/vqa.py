"""What the judge-scored suites (GenEval 2, DPG-Bench, UniGenBench++) share: choosing a VLM backend by
name, binding it to the suite's protocol with the judge cache, and labelling it official or not.

`--judge-option` keys listed in a suite's protocol options configure the protocol (and are part of
its identity); `record=PATH` appends every raw answer to a replay recording (judges/replay_text.py;
the cache is bypassed so each answer really comes from the judge); every other key goes to the
backend. The cache is `judges.cache.JudgeCache.default()` ($UNO_JUDGE_CACHE, `off` to disable): not
an option, because it never changes a number.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError
from uno_bench.judges.cache import JudgeCache
from uno_bench.judges.protocol import ProtocolJudge
from uno_bench.judges.vlm import ImageInput

_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


def judged_backend(identity: dict[str, Any]) -> dict[str, Any]:
    """The identity of the model that produced the answers (through a replay, the recorded one)."""
    while identity.get("name") == "replay":
        identity = identity.get("recorded", {})
    return identity


def load_vlm_judge(
    judge_name: str,
    options: Mapping[str, str],
    protocol: dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]],
    protocol_keys: set[str],
    is_official: Callable[[dict[str, Any]], bool],
    official_note: str,
) -> tuple[ProtocolJudge, dict[str, str]]:
    """(judge, protocol options): the backend named `judge_name` bound to `protocol` (a dict, or a
    function of the judged backend's identity when the protocol depends on the judge)."""
    from uno_bench.judges.registry import load_role

    backend_options = {k: v for k, v in options.items() if k not in protocol_keys and k != "record"}
    backend = load_role(judge_name, "vlm", backend_options)
    if not callable(getattr(backend, "ask", None)):
        raise UnoError(f"judge '{judge_name}' does not answer questions about images (it is a detector or "
                       "colour judge); use openai, hf, mplug, replay or a preset such as qwen3-vl-8b")
    if options.get("record"):
        from uno_bench.judges.replay_text import VLMRecorder

        backend = VLMRecorder(backend, options["record"])
    judged = judged_backend(backend.identity())
    official = is_official(judged)
    if callable(protocol):
        protocol = protocol(judged)
    judge = ProtocolJudge(backend, protocol, official, JudgeCache.default(),
                          note="" if official else official_note)
    return judge, {k: v for k, v in options.items() if k in protocol_keys}


def image_input(image: Any, path: Path) -> ImageInput:
    """The decoded image plus its file bytes and MIME type (for protocols that send the file as is)."""
    return ImageInput(image, path.read_bytes(), _MIME.get(path.suffix.lower(), "application/octet-stream"))


def judge_label(judge: ProtocolJudge) -> dict[str, Any]:
    """How every table names the judge: model, official or not, and why not."""
    backend = judged_backend(judge.identity()["backend"])
    label = {"backend": backend.get("name"), "model": backend.get("model"), "official": judge.official}
    if not judge.official:
        label["note"] = judge.note
    return label


def judge_summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The judge(s) behind a run's records: model names, whether all are official, and why not."""
    labels = [r["judge"] for r in records if r.get("judge")]
    if not labels:
        return {}
    models = sorted({str(label.get("model")) for label in labels})
    official = all(label.get("official") for label in labels)
    out = {"models": models, "official": official}
    if not official:
        out["note"] = next(label.get("note", "") for label in labels if not label.get("official"))
    return out


def stats_total(records: list[dict[str, Any]]) -> dict[str, int]:
    """Judge calls, cache hits and retries summed over records (unscored ones included)."""
    total: dict[str, int] = defaultdict(int)
    for r in records:
        for key, value in (r.get("judge_stats") or {}).items():
            total[key] += int(value)
    return dict(sorted(total.items()))
