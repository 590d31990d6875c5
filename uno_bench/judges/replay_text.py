"""Record a VLM judge's raw answers once, replay them anywhere (no weights, no endpoint, no key).

The text-judge sibling of `judges.replay` (which records detectors and colour classifiers).
`VLMRecorder(backend, path)` answers exactly like the backend and appends each answer;
`VLMReplay(path)` answers from the file; a query never recorded raises `ReplayMissError` (the
image is recorded unscored with the reason, never counted wrong).

File format: JSON Lines, UTF-8, one object per line.
  line 1 (header)  {"format": "uno-vlm-recording", "version": 1, "identity": <backend.identity()>}
  answer record    {"op": "ask", "query": <Query.key()>, "answer": <Answer.to_json()>}
`Query.key()` is the sha256 of the query's judge-independent material: image pixel hashes, text,
order of parts, first-token candidates, max_tokens and protocol attempt (see judges/vlm.py). The
last record of a query wins. Crash safety as in judges/replay.py: one fsync'ed line per answer, a
torn last line is ignored by readers and truncated by a recorder before appending. A recording
belongs to one backend identity; appending with another is refused.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError
from uno_bench.judges.replay import ReplayMissError, read_recording
from uno_bench.judges.vlm import Answer, Query

FORMAT = "uno-vlm-recording"
VERSION = 1


def _read(path: Path) -> tuple[dict[str, Any] | None, list[tuple[int, dict[str, Any]]]]:
    return read_recording(path, FORMAT, VERSION)


class VLMRecorder:
    """Wraps a backend: same answers, each one appended to the recording as it arrives."""

    def __init__(self, backend: Any, path: str | Path):
        self.backend = backend
        self.path = Path(path)
        identity = json.loads(json.dumps(backend.identity()))
        header, _ = _read(self.path)
        if header is not None and header["identity"] != identity:
            raise UnoError(f"{self.path} records judge {header['identity']}, not {identity}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            data = self.path.read_bytes()
            end = data.rfind(b"\n") + 1
            if end != len(data):
                with open(self.path, "r+b") as fh:
                    fh.truncate(end)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()  # threads judging images at once append whole lines in turn
        if header is None:
            self._append({"format": FORMAT, "version": VERSION, "identity": identity})
        self.concurrency = getattr(backend, "concurrency", 1)
        self.batch_size = getattr(backend, "batch_size", 1)
        self.cacheable = False  # a recording session should reach the real judge every time

    def _append(self, obj: dict[str, Any]) -> None:
        line = (json.dumps(obj, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            written = os.write(self._fd, line)
            while written < len(line):
                written += os.write(self._fd, line[written:])
            os.fsync(self._fd)

    def identity(self) -> dict[str, Any]:
        return self.backend.identity()

    def ask(self, queries: list[Query]) -> list[Answer]:
        answers = self.backend.ask(queries)
        for query, answer in zip(queries, answers, strict=True):
            self._append({"op": "ask", "query": query.key(), "answer": answer.to_json()})
        return answers

    def close(self) -> None:
        os.close(self._fd)


class VLMReplay:
    cacheable = False
    concurrency = 1
    batch_size = 64

    def __init__(self, path: str | Path):
        self.path = Path(path)
        header, records = _read(self.path)
        if header is None:
            raise UnoError(f"{self.path}: no VLM judge recording there (missing or empty file)")
        self.recorded_identity: dict[str, Any] = header["identity"]
        self._answers: dict[str, dict[str, Any]] = {}
        for number, rec in records:
            if rec.get("op") != "ask":
                raise UnoError(f"{self.path}:{number}: unknown record op {rec.get('op')!r}")
            self._answers[rec["query"]] = rec["answer"]

    def __len__(self) -> int:
        return len(self._answers)

    def identity(self) -> dict[str, Any]:
        return {"name": "replay", "recorded": self.recorded_identity}

    def ask(self, queries: list[Query]) -> list[Answer]:
        answers = []
        for q in queries:
            found = self._answers.get(q.key())
            if found is None:
                images = ", ".join(img.sha256[:12] for img in q.images)
                raise ReplayMissError(f"no recorded answer for image {images} (attempt {q.attempt}) in {self.path}")
            answers.append(Answer.from_json(found))
        return answers
