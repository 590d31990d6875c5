"""The judge cache: what its key covers, durability, the protocol judge in front of it, and the CLI."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest
from conftest import uno_cmd
from PIL import Image

from uno_bench.errors import UnoError
from uno_bench.judges.cache import JudgeCache, cache_key
from uno_bench.judges.protocol import ProtocolJudge
from uno_bench.judges.vlm import Answer, ImageInput, JudgeUnavailableError, Query


class CountingBackend:
    """A scripted backend (not the thing under test): answers 'reply <n>' and counts calls."""

    concurrency = 4
    batch_size = 2
    cacheable = True

    def __init__(self, model: str = "m", fail_on: str | None = None):
        self.model = model
        self.fail_on = fail_on
        self.calls = 0

    def identity(self):
        return {"name": "scripted", "model": self.model}

    def ask(self, queries):
        if any(q.text == self.fail_on for q in queries):
            raise JudgeUnavailableError("endpoint down", calls=1)
        self.calls += len(queries)
        return [Answer(f"reply to {q.text}", calls=1) for q in queries]


def _img(shade: int) -> ImageInput:
    return ImageInput(Image.new("RGB", (4, 4), (shade, 0, 0)))


def test_key_covers_identity_images_text_and_attempt():
    identity = {"backend": {"name": "openai", "model": "m"}, "protocol": {"template": "t1", "parser_version": 1}}
    base = Query("q", (_img(1),)).key_material()
    key = cache_key(identity, base)
    assert key == cache_key(json.loads(json.dumps(identity)), dict(base))
    variants = [
        cache_key({**identity, "backend": {"name": "openai", "model": "m2"}}, base),
        cache_key({**identity, "protocol": {"template": "t2", "parser_version": 1}}, base),
        cache_key({**identity, "protocol": {"template": "t1", "parser_version": 2}}, base),
        cache_key(identity, Query("q", (_img(2),)).key_material()),
        cache_key(identity, Query("q2", (_img(1),)).key_material()),
        cache_key(identity, Query("q", (_img(1),), attempt=1).key_material()),
        cache_key(identity, Query("q", (_img(1),), candidates=("Yes",)).key_material()),
    ]
    assert len({key, *variants}) == 1 + len(variants)
    # The same pixels key the same whatever the file bytes.
    assert Query("q", (ImageInput(_img(1).image, b"png bytes"),)).key_material() == base


def test_protocol_judge_asks_only_misses_and_commits_each_answer(tmp_path):
    cache = JudgeCache(tmp_path / "c.sqlite")
    backend = CountingBackend()
    judge = ProtocolJudge(backend, {"suite": "x", "parser_version": 1}, official=False, cache=cache, note="n")
    queries = [Query(f"q{i}", (_img(i),)) for i in range(5)] + [Query("q0", (_img(0),))]  # a duplicate
    answers = judge.ask(queries)
    assert [a.text for a in answers] == [f"reply to q{i}" for i in range(5)] + ["reply to q0"]
    assert backend.calls == 5 and not any(a.cached for a in answers[:5]) and answers[5].cached
    again = ProtocolJudge(CountingBackend(), judge.protocol, False, JudgeCache(tmp_path / "c.sqlite"))
    assert [a.text for a in again.ask(queries)] == [a.text for a in answers]
    assert again.backend.calls == 0
    # Another model or protocol never sees these answers.
    other = ProtocolJudge(CountingBackend("m2"), judge.protocol, False, cache)
    other.ask(queries[:1])
    assert other.backend.calls == 1
    with sqlite3.connect(tmp_path / "c.sqlite") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 6


def test_a_failing_batch_keeps_the_answers_that_arrived(tmp_path):
    cache = JudgeCache(tmp_path / "c.sqlite")
    backend = CountingBackend(fail_on="q3")
    judge = ProtocolJudge(backend, {"suite": "x"}, official=True, cache=cache)
    queries = [Query(f"q{i}", (_img(i),)) for i in range(6)]
    with pytest.raises(JudgeUnavailableError, match="endpoint down"):
        judge.ask(queries)
    assert cache.stats()["answers"] == 4  # batches (q0,q1) and (q4,q5) arrived; (q2,q3) did not
    backend.fail_on = None
    backend.calls = 0
    judge.ask(queries)
    assert backend.calls == 2


def test_no_cache_for_uncacheable_backends(tmp_path):
    backend = CountingBackend()
    backend.cacheable = False
    judge = ProtocolJudge(backend, {"suite": "x"}, official=True, cache=JudgeCache(tmp_path / "c.sqlite"))
    judge.ask([Query("q", (_img(0),))])
    judge.ask([Query("q", (_img(0),))])
    assert backend.calls == 2


def _put_many(path: str, worker: int) -> int:
    cache = JudgeCache(path)
    for k in range(25):
        cache.put({"backend": {"name": "w", "model": str(worker)}}, {"text": f"q{k}"}, {"text": "a"})
    return worker


def test_processes_opening_a_new_cache_at_once(tmp_path):
    """Ranks of one node share the file: a fresh cache opened and written by 4 processes at once."""
    import multiprocessing

    path = str(tmp_path / "shared.sqlite")
    with multiprocessing.get_context("fork").Pool(4) as pool:
        assert sorted(pool.starmap(_put_many, [(path, w) for w in range(4)])) == [0, 1, 2, 3]
    assert JudgeCache(path).stats()["answers"] == 100


def test_export_import_roundtrip_verifies_keys(tmp_path):
    cache = JudgeCache(tmp_path / "a.sqlite")
    judge = ProtocolJudge(CountingBackend(), {"suite": "x"}, official=True, cache=cache)
    judge.ask([Query(f"q{i}", (_img(i),)) for i in range(3)])
    assert cache.export(tmp_path / "dump.jsonl") == 3
    other = JudgeCache(tmp_path / "b.sqlite")
    assert other.import_file(tmp_path / "dump.jsonl") == (3, 0)
    assert other.import_file(tmp_path / "dump.jsonl") == (0, 3)
    stats = other.stats()
    assert stats["answers"] == 3 and stats["judges"][0]["judge"] == "scripted:m [x]"
    lines = (tmp_path / "dump.jsonl").read_text().splitlines()
    entry = json.loads(lines[1])
    entry["answer"]["text"] = "tampered"
    entry["query"]["text"] = "other question"
    (tmp_path / "bad.jsonl").write_text("\n".join([lines[0], json.dumps(entry)]) + "\n")
    with pytest.raises(UnoError, match="key does not match"):
        JudgeCache(tmp_path / "c.sqlite").import_file(tmp_path / "bad.jsonl")


def test_cache_cli(tmp_path, uno_env):
    path = tmp_path / "cache.sqlite"
    ProtocolJudge(CountingBackend(), {"suite": "x"}, True, JudgeCache(path)).ask([Query("q", (_img(0),))])
    env = {**uno_env, "UNO_JUDGE_CACHE": str(path)}
    done = subprocess.run(uno_cmd("cache", "stats"), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "1 answer" in done.stdout and "scripted:m [x]" in done.stdout
    out = tmp_path / "export.jsonl"
    done = subprocess.run(uno_cmd("cache", "export", str(out)), env=env, capture_output=True, text=True)
    assert done.returncode == 0 and "exported 1" in done.stdout
    fresh = {**uno_env, "UNO_JUDGE_CACHE": str(tmp_path / "fresh.sqlite")}
    done = subprocess.run(uno_cmd("cache", "import", str(out)), env=fresh, capture_output=True, text=True)
    assert done.returncode == 0 and "imported 1 new answer(s), 0 already present" in done.stdout
    done = subprocess.run(uno_cmd("cache", "import", str(tmp_path / "nope.jsonl")), env=fresh,
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("error:") and len(done.stderr.splitlines()) == 1
