"""The editing benchmarks' data on disk: GEdit's unpacked layout (from `datasets` Image cells, and from real
parquet when pyarrow is installed), provenance in SOURCE.json, Benchmark.tar's singleturn/ extraction."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import tarfile

import pytest
from edit_fixtures import GEDIT_ROWS, GEDIT_SOURCE, encoded, gedit_dataset, gedit_rows

from uno_bench.errors import UnoError
from uno_bench.suites import edit_data

HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None


def test_gedit_unpacked_layout_records_every_hash(tmp_path):
    folder = gedit_dataset(tmp_path)
    rows = edit_data.read_gedit_rows(folder)
    assert [(r["key"], r["instruction_language"]) for r in rows] == [(r[1], r[2]) for r in GEDIT_ROWS]
    assert rows[3]["input_image"].endswith(".jpg") and rows[0]["input_image"].endswith(".png")
    for row in rows:
        data = (folder / row["input_image"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["input_image_sha256"]  # bytes kept as embedded
        assert "input_image_raw_sha256" in row and "input_image_raw" not in row
    source = json.loads((folder / "SOURCE.json").read_text())
    assert source["repository"] == "stepfun-ai/GEdit-Bench" and source["rows"] == 6
    assert source["rows_sha256"] == hashlib.sha256((folder / "rows.jsonl").read_bytes()).hexdigest()
    with pytest.raises(UnoError, match="embedded bytes"):
        edit_data.write_gedit_rows(tmp_path / "bad", [{**dict(zip(("task_type", "key"), ("a", "b"))),
                                                       "instruction_language": "en", "input_image": {"path": "x"}}], {})


@pytest.mark.skipif(not HAS_PYARROW, reason="pyarrow is not installed (needed only to read the HF parquet)")
def test_gedit_parquet_is_unpacked_like_the_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])  # the `datasets` Image feature

    def table(rows):
        return pa.table({k: pa.array([r[k] for r in rows], type=image if k.startswith("input_image") else None)
                         for k in rows[0]})

    rows = gedit_rows()
    (tmp_path / "parquet").mkdir()
    pq.write_table(table(rows[:3]), tmp_path / "parquet" / "train-00000-of-00002.parquet")
    pq.write_table(table(rows[3:]), tmp_path / "parquet" / "train-00001-of-00002.parquet")
    out = edit_data.unpack_gedit_parquet(sorted((tmp_path / "parquet").glob("*.parquet")), tmp_path / "gedit_bench",
                                         GEDIT_SOURCE)
    reference = gedit_dataset(tmp_path / "ref")
    assert out.read_text() == (reference / "rows.jsonl").read_text()
    assert (tmp_path / "gedit_bench/SOURCE.json").read_text() == (reference / "SOURCE.json").read_text()


@pytest.mark.skipif(HAS_PYARROW, reason="checks the message shown without pyarrow")
def test_gedit_parquet_without_pyarrow_says_what_to_install(tmp_path):
    with pytest.raises(UnoError, match="pip install pyarrow"):
        edit_data.unpack_gedit_parquet([tmp_path / "x.parquet"], tmp_path, {})


def _tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_benchmark_tar_singleturn_is_extracted_and_unsafe_paths_refused(tmp_path):
    tar = tmp_path / "Benchmark.tar"
    jpg = encoded((1, 2, 3), fmt="JPEG")
    _tar(tar, {"Benchmark/singleturn/animal/000342021.jpg": jpg, "Benchmark/singleturn/style/a.png": b"png",
               "Benchmark/multiturn/x.jpg": b"skip", "Benchmark/hard/y.jpg": b"skip"})
    edit_data.extract_singleturn(tar, tmp_path / "imgedit")
    root = tmp_path / "imgedit" / "singleturn"
    assert (root / "animal/000342021.jpg").read_bytes() == jpg
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "animal/000342021.jpg", "style/a.png"]
    bad = tmp_path / "bad.tar"
    _tar(bad, {"singleturn/../../escape.jpg": b"x"})
    with pytest.raises(UnoError, match="unsafe member path"):
        edit_data.extract_singleturn(bad, tmp_path / "other")
    empty = tmp_path / "empty.tar"
    _tar(empty, {"multiturn/a.jpg": b"x"})
    with pytest.raises(UnoError, match="no singleturn"):
        edit_data.extract_singleturn(empty, tmp_path / "third")
