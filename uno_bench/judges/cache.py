"""Judge cache: every raw judge answer in one sqlite file, content-addressed, shared by all runs.

Key. sha256 of the canonical JSON (sorted keys, UTF-8) of
    {"judge": <the full judge identity>, "query": <Query.key_material()>}
where the judge identity is the backend's (backend, model id and revision, endpoint, decoding
parameters, image encoding) plus the protocol's (suite, prompt template sha256, parser version),
and the query material is the images' pixel sha256 (`judges.base.image_sha256`: the same picture
keys the same from any file or checkpoint), the query text, the order of parts, the first-token
candidates, max_tokens and the protocol attempt number. Anything that could change an answer
changes the key; credentials are never part of an identity, so never in this file.

Value. The raw answer (reply text, first-token candidate probabilities, top token, metadata), the
query material and the identity (so `export` files can be audited and `import` re-checks keys).

Write order. Each answer is written in its own transaction (WAL journal, synchronous=FULL) as soon
as the judge returns it, before the record that uses it is appended to a run's records. A kill
therefore loses at most answers still in flight; a resumed or repeated run finds every committed
answer here and makes no call for it. Transport failures are never written (they are transient);
a reply a protocol cannot parse is a real answer and is cached like any other.

Where: `$UNO_JUDGE_CACHE` (a file path, or `off` to disable), else `<cache dir>/judge_cache.sqlite`
with the cache dir `$UNO_CACHE_DIR` (default ~/.cache/uno). Safe for threads and for processes on
one machine (ranks of one node); on network filesystems sqlite locking may not be.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError
from uno_bench.judges.vlm import canonical_sha256

SCHEMA_VERSION = 1
EXPORT_FORMAT = "uno-judge-cache-export"


def cache_key(identity: dict[str, Any], query: dict[str, Any]) -> str:
    return canonical_sha256({"judge": identity, "query": query})


def default_path() -> Path | None:
    """The cache file in use, or None when disabled (UNO_JUDGE_CACHE=off)."""
    env = os.environ.get("UNO_JUDGE_CACHE")
    if env:
        return None if env.lower() in ("off", "none", "0") else Path(env)
    from uno_bench.suites.data import cache_dir

    return cache_dir() / "judge_cache.sqlite"


class JudgeCache:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=120, check_same_thread=False, isolation_level=None)
        # Several processes (ranks) may open a new file at once: switching to WAL and creating the
        # tables can report "locked" without waiting on the busy timeout, so retry for a while.
        deadline = time.monotonic() + 120
        while True:
            try:
                self._setup()
                break
            except sqlite3.OperationalError as exc:
                transient = "locked" in str(exc) or "busy" in str(exc)
                if not transient or time.monotonic() > deadline:
                    raise UnoError(f"judge cache {self.path} cannot be opened ({exc}); "
                                   "set UNO_JUDGE_CACHE to another file") from None
                time.sleep(0.05 + random.random() * 0.1)
            except sqlite3.DatabaseError as exc:
                raise UnoError(f"judge cache {self.path} cannot be opened ({exc}); "
                               "set UNO_JUDGE_CACHE to another file") from None

    def _setup(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, judge TEXT NOT NULL, "
            "query TEXT NOT NULL, answer TEXT NOT NULL, created REAL NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS judges (judge TEXT PRIMARY KEY, identity TEXT NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    @classmethod
    def default(cls) -> JudgeCache | None:
        path = default_path()
        return None if path is None else cls(path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, identity: dict[str, Any], query: dict[str, Any], answer: dict[str, Any]) -> str:
        """Store one answer in its own committed transaction; returns its key."""
        key = cache_key(identity, query)
        judge = canonical_sha256(identity)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT OR IGNORE INTO judges VALUES (?, ?)", (judge, json.dumps(identity, sort_keys=True))
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?)",
                    (key, judge, json.dumps(query, sort_keys=True, ensure_ascii=False),
                     json.dumps(answer, sort_keys=True, ensure_ascii=False), time.time()),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return key

    # ----------------------------------------------------------------------------- maintenance

    def stats(self) -> dict[str, Any]:
        with self._lock:
            total = self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
            rows = self._db.execute(
                "SELECT j.identity, COUNT(a.key), MIN(a.created), MAX(a.created) FROM judges j "
                "JOIN answers a ON a.judge = j.judge GROUP BY j.judge ORDER BY COUNT(a.key) DESC"
            ).fetchall()
        judges = []
        for identity, count, first, last in rows:
            ident = json.loads(identity)
            judges.append({"judge": describe(ident), "answers": count, "first": first, "last": last,
                           "identity": ident})
        return {"path": str(self.path), "bytes": self.path.stat().st_size, "answers": total, "judges": judges}

    def iter_entries(self) -> Iterator[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT a.key, j.identity, a.query, a.answer, a.created FROM answers a "
                "JOIN judges j ON a.judge = j.judge ORDER BY a.created, a.key"
            ).fetchall()
        for key, identity, query, answer, created in rows:
            yield {"key": key, "identity": json.loads(identity), "query": json.loads(query),
                   "answer": json.loads(answer), "created": created}

    def export(self, path: str | Path) -> int:
        """JSON Lines: a header line, then one entry per answer. Returns the number of answers."""
        count = 0
        with open(path, "w", encoding="utf-8") as out:
            out.write(json.dumps({"format": EXPORT_FORMAT, "version": SCHEMA_VERSION}) + "\n")
            for entry in self.iter_entries():
                out.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
                count += 1
        return count

    def import_file(self, path: str | Path) -> tuple[int, int]:
        """Add the answers of an export; keys are recomputed and must match. Returns (added, present)."""
        added = present = 0
        with open(path, encoding="utf-8") as fh:
            header = json.loads(fh.readline() or "{}")
            if header.get("format") != EXPORT_FORMAT:
                raise UnoError(f"{path}: not a judge cache export (format {header.get('format')!r})")
            for number, line in enumerate(fh, start=2):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    raise UnoError(f"{path}:{number}: not a JSON line") from None
                if cache_key(entry["identity"], entry["query"]) != entry["key"]:
                    raise UnoError(f"{path}:{number}: key does not match its identity and query; refusing the file")
                if self.get(entry["key"]) is not None:
                    present += 1
                    continue
                self.put(entry["identity"], entry["query"], entry["answer"])
                added += 1
        return added, present


def describe(identity: dict[str, Any]) -> str:
    """A one-line name for a judge identity: backend/model plus the protocol it served."""
    backend = identity.get("backend", identity)
    if backend.get("name") == "replay":
        backend = backend.get("recorded", {})
    model = backend.get("model") or "?"
    protocol = identity.get("protocol", {})
    return f"{backend.get('name', '?')}:{model} [{protocol.get('suite', '?')}]"
