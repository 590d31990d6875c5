"""Judged-image records: append-only JSON Lines, crash-safe, mergeable across ranks.

Files in a run dir:
  records.jsonl                 the merged records, appended to by `merge_shards` only
  records.rank-<r>.jsonl        what rank r judged in the current scoring pass (deleted after merging)

Write order: a record is one complete line written with one write, flushed and fsync'ed. A kill can
leave only a torn last line; readers ignore it and `RecordLog` truncates it before appending.

One record per image: a record carries `key` (= "<prompt id>/<sample index>") and `scored`. An image
whose record is unscored is judged again on the next pass (its failure may have been transient) and
the newer record supersedes it: the *view* of a records file is the last record per key, which is
what summaries read. A merge appends shard records in the run's canonical image order and skips
records identical to the current view, so merging twice (a kill between append and delete) is safe.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

RECORDS = "records.jsonl"
SHARD_GLOB = "records.rank-*.jsonl"


def shard_path(run_dir: Path, rank: int) -> Path:
    return run_dir / f"records.rank-{rank:05d}.jsonl"


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Complete records of one file, in file order; a torn last line (no newline) is ignored."""
    if not path.exists():
        return []
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    out = []
    for number, line in enumerate(complete.splitlines(), start=1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: corrupt record line ({exc.msg})") from None
    return out


def view(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Last record per key."""
    latest: dict[str, dict[str, Any]] = {}
    for rec in records:
        latest[rec["key"]] = rec
    return latest


def read_view(run_dir: Path) -> dict[str, dict[str, Any]]:
    """The merged file plus any unmerged shards (a pass that was killed before its merge)."""
    records = read_lines(run_dir / RECORDS)
    for shard in sorted(run_dir.glob(SHARD_GLOB)):
        records.extend(read_lines(shard))
    return view(records)


class RecordLog:
    """Appends records to one file, one fsync'ed line each."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            data = path.read_bytes()
            end = data.rfind(b"\n") + 1
            if end != len(data):  # torn write from a killed process
                with open(path, "r+b") as fh:
                    fh.truncate(end)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, record: dict[str, Any]) -> None:
        line = (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
        written = os.write(self._fd, line)
        while written < len(line):  # a short write still finishes the same line
            written += os.write(self._fd, line[written:])
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> RecordLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def merge_shards(run_dir: Path, order: list[str]) -> int:
    """Append unmerged shard records to records.jsonl in canonical order, then delete the shards.

    `order` lists every key of the run in canonical order; records of other keys are kept after
    them in key order (they cannot come from this run's plan, but are never silently dropped).
    Returns the number of records appended.
    """
    shards = sorted(run_dir.glob(SHARD_GLOB))
    if not shards:
        return 0
    current = view(read_lines(run_dir / RECORDS))
    incoming = view(rec for shard in shards for rec in read_lines(shard))
    rank = {key: i for i, key in enumerate(order)}
    new = [rec for key, rec in incoming.items() if current.get(key) != rec]
    new.sort(key=lambda rec: (rank.get(rec["key"], len(rank)), rec["key"]))
    if new:
        with RecordLog(run_dir / RECORDS) as log:
            for rec in new:
                log.append(rec)
    for shard in shards:
        shard.unlink()
    return len(new)
