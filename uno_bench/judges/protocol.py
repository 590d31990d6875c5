"""A VLM backend bound to one benchmark protocol, with the judge cache in front of it.

Suites ask a `ProtocolJudge`; it looks every query up in the cache (key = full judge identity +
query, see judges/cache.py), sends only the misses to the backend, in batches of the backend's
`batch_size` and with up to `concurrency` batches in flight, and commits each answer to the cache
the moment it arrives. Its `identity()` is what run manifests record: backend + protocol (suite,
prompt template sha256, parser version) + whether this judge is the official one for the suite.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from uno_bench.judges.cache import JudgeCache, cache_key
from uno_bench.judges.vlm import Answer, JudgeUnavailableError, Query, VLMBackend


class ProtocolJudge:
    def __init__(self, backend: VLMBackend, protocol: dict[str, Any], official: bool,
                 cache: JudgeCache | None = None, note: str = ""):
        self.backend = backend
        self.protocol = dict(protocol)
        self.official = official
        self.note = note
        self.cache = cache if getattr(backend, "cacheable", True) else None
        self._identity = {"backend": backend.identity(), "protocol": self.protocol}

    @property
    def concurrency(self) -> int:
        """How many images the score stage may judge at once (the backend limits requests itself)."""
        return max(1, int(getattr(self.backend, "concurrency", 1)))

    def identity(self) -> dict[str, Any]:
        return {**self._identity, "official": self.official, **({"note": self.note} if self.note else {})}

    def ask(self, queries: list[Query]) -> list[Answer]:
        """One answer per query, in order; JudgeUnavailableError if any could not be obtained
        (the others are cached by then, so a retry asks only for what is missing)."""
        answers: list[Answer | None] = [None] * len(queries)
        materials = [q.key_material() for q in queries]
        todo: dict[str, list[int]] = {}  # key -> positions (identical queries are asked once)
        for i, material in enumerate(materials):
            key = cache_key(self._identity, material)
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                answers[i] = Answer.from_json(hit, cached=True)
            else:
                todo.setdefault(key, []).append(i)
        firsts = [positions[0] for positions in todo.values()]
        size = max(1, int(getattr(self.backend, "batch_size", 1)))
        batches = [firsts[s : s + size] for s in range(0, len(firsts), size)]
        errors: list[JudgeUnavailableError] = []

        def run(batch: list[int]) -> None:
            try:
                got = self.backend.ask([queries[i] for i in batch])
            except JudgeUnavailableError as exc:
                errors.append(exc)
                return
            for i, answer in zip(batch, got, strict=True):
                if self.cache is not None:
                    self.cache.put(self._identity, materials[i], answer.to_json())
                answers[i] = answer

        workers = min(self.concurrency, len(batches))
        if workers <= 1:
            for batch in batches:
                run(batch)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="judge") as pool:
                list(pool.map(run, batches))
        for positions in todo.values():
            for i in positions[1:]:
                first = answers[positions[0]]
                if first is not None:
                    answers[i] = Answer.from_json(first.to_json(), cached=True)
        if errors:
            calls = sum(e.record_fields["judge_stats"]["calls"] for e in errors)
            retries = sum(e.record_fields["judge_stats"]["retries"] for e in errors)
            raise JudgeUnavailableError(f"{errors[0]}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
                                        calls=calls + sum(a.calls for a in answers if a), retries=retries)
        return [a for a in answers if a is not None]


def stats(answers: list[Answer]) -> dict[str, int]:
    """Per-record accounting: queries, cache hits, requests made and transport retries."""
    return {
        "queries": len(answers),
        "cache_hits": sum(1 for a in answers if a.cached),
        "calls": sum(a.calls for a in answers),
        "retries": sum(a.retries for a in answers),
    }
