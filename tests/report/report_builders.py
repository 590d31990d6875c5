"""Run dirs written by hand (manifest.json + records.jsonl in the harness's format) for report tests.

Records follow the GenEval rules' record fields plus the harness envelope, so the registered suites'
own `summarize` and `report_scoring` read them exactly as they read a real run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from uno_bench.suites.registry import get_spec


def geneval_record(prompt_id: str, index: int, tag: str, prompt: str, correct: bool | None,
                   reason: str = "") -> dict[str, Any]:
    metadata = json.dumps({"tag": tag, "prompt": prompt, "include": []})
    record = {
        "key": f"{prompt_id}/{index}", "prompt_id": prompt_id, "sample_index": index,
        "image": f"{prompt_id}/samples/{index:04d}.png", "filename": f"{prompt_id}/samples/{index:04d}.png",
        "tag": tag, "prompt": prompt, "metadata": metadata, "details": "{}",
        "correct": correct, "reason": reason if correct is not None else "",
        "scored": correct is not None, "unscored_reason": None if correct is not None else "image missing",
    }
    return record


def manifest(suite: str, samples: int, images_per_prompt: int, *, model: str = "m", base_seed: int = 0,
             sampler: dict[str, Any] | None = None, judge: str | None = None, limit: int | None = None,
             prompts_file: dict[str, Any] | None = None, data: dict[str, str] | None = None,
             precision: str | None = None) -> dict[str, Any]:
    spec = get_spec(suite)
    identity: dict[str, Any] = {"name": model}
    if precision:
        identity["precision"] = precision
    return {
        "manifest_version": 1,
        "suite": {"name": spec.name, "version": spec.version, "spec_content_sha256": spec.content_sha256,
                  "data": data or {}, "prompts_file": prompts_file, "limit": limit,
                  "images_per_prompt": images_per_prompt,
                  "samples": samples, "samples_sha256": "s" * 64, "invalid_samples": {}, "seed_policy": "p",
                  "base_seed": base_seed},
        "generation": {"model": model, "identity": identity,
                       "sampler": {**spec.generation.to_dict(), **(sampler or {})}},
        "images": {"root": "images", "external": False},
        "scoring": {"judge": judge or spec.default_judge, "options": {}, "identity": {"name": judge or "j"}},
        "environment": {"python": "3.11", "packages": {"uno": "0.1.0"}, "git_commit": None, "git_dirty": None},
    }


def write_run(run_dir: Path, manifest_: dict[str, Any], records: list[dict[str, Any]]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "manifest.json").write_text(json.dumps(manifest_, indent=2))
    (run_dir / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run_dir


def geneval_run(run_dir: Path, suite: str, table: dict[str, tuple[str, str, list[bool | None]]],
                **manifest_kw: Any) -> Path:
    """table: prompt id -> (tag, prompt, [correct per image]); None = unscored."""
    records = [geneval_record(pid, k, tag, prompt, ok, "" if ok else f"{pid}/{k} failed")
               for pid, (tag, prompt, oks) in table.items() for k, ok in enumerate(oks)]
    ipp = max(len(oks) for _, _, oks in table.values())
    return write_run(run_dir, manifest(suite, len(table), ipp, **manifest_kw), records)
