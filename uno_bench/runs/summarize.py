"""Stage 3, summarize: records.jsonl -> summary.json through the suite's official aggregation.

Needs only the run dir: the manifest names the suite and the expected image count. Records are
aggregated in natural key order, so the summary is byte-identical however many ranks judged them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError
from uno_bench.runs import manifest
from uno_bench.runs.atomic import write_json
from uno_bench.runs.plan import natural_key
from uno_bench.runs.records import read_view
from uno_bench.suites.base import Suite

SUMMARY = "summary.json"


def coverage(records: list[dict[str, Any]], expected: int) -> dict[str, Any]:
    scored = sum(1 for r in records if r.get("scored"))
    reasons: dict[str, int] = {}
    for r in records:
        if not r.get("scored"):
            reasons[str(r.get("unscored_reason"))] = reasons.get(str(r.get("unscored_reason")), 0) + 1
    return {
        "expected": expected,
        "scored": scored,
        "unscored": len(records) - scored,
        "not_judged": max(expected - len(records), 0),
        "fraction": scored / expected if expected else None,
        "unscored_reasons": dict(sorted(reasons.items())),
    }


def summarize_run(run_dir: Path, suite: Suite | None = None) -> dict[str, Any]:
    """Aggregate the run's records and write summary.json atomically; returns the summary."""
    found = manifest.load(run_dir)
    if found is None or "suite" not in found:
        raise UnoError(f"{run_dir} has no manifest.json with a suite: not a uno run dir (or nothing ran yet)")
    info = found["suite"]
    if suite is None:
        from uno_bench.suites.registry import load_suite

        suite = load_suite(info["name"])
    expected = int(info["samples"]) * int(info["images_per_prompt"])
    current = read_view(run_dir)
    records = [current[key] for key in sorted(current, key=natural_key)]
    summary = {
        "suite": info["name"],
        "suite_version": info["version"],
        "metric": suite.spec.metric,
        "coverage": coverage(records, expected),
        "results": suite.summarize(records, expected),
    }
    write_json(run_dir / SUMMARY, summary)
    return summary
