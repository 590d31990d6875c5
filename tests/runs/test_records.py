"""records.jsonl: torn-tail repair, last-record-wins view, idempotent canonical merge."""

from __future__ import annotations

from uno_bench.runs.records import RECORDS, RecordLog, merge_shards, read_lines, read_view, shard_path


def test_torn_last_line_is_ignored_then_truncated(tmp_path):
    path = tmp_path / "r.jsonl"
    with RecordLog(path) as log:
        log.append({"key": "a/0", "scored": True})
    with open(path, "ab") as fh:
        fh.write(b'{"key": "a/1", "sco')  # killed mid-write
    assert [r["key"] for r in read_lines(path)] == ["a/0"]
    with RecordLog(path) as log:
        log.append({"key": "a/1", "scored": True})
    assert [r["key"] for r in read_lines(path)] == ["a/0", "a/1"]
    assert path.read_bytes().endswith(b"}\n")


def test_merge_orders_canonically_supersedes_and_is_idempotent(tmp_path):
    order = ["p2/0", "p10/0", "p1/0"]
    with RecordLog(tmp_path / RECORDS) as log:
        log.append({"key": "p10/0", "scored": False, "unscored_reason": "image missing"})
    with RecordLog(shard_path(tmp_path, 1)) as log:
        log.append({"key": "p1/0", "scored": True})
        log.append({"key": "p10/0", "scored": True})
    with RecordLog(shard_path(tmp_path, 0)) as log:
        log.append({"key": "p2/0", "scored": True})
    # A kill after the append but before the shards were deleted: the second merge adds nothing.
    keep = {p: p.read_bytes() for p in tmp_path.glob("records.rank-*.jsonl")}
    assert merge_shards(tmp_path, order) == 3
    for p, data in keep.items():
        p.write_bytes(data)
    assert merge_shards(tmp_path, order) == 0
    assert not list(tmp_path.glob("records.rank-*"))
    assert [r["key"] for r in read_lines(tmp_path / RECORDS)] == ["p10/0", "p2/0", "p10/0", "p1/0"]
    assert {k: r["scored"] for k, r in read_view(tmp_path).items()} == {"p10/0": True, "p2/0": True, "p1/0": True}
