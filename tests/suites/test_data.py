"""Data resolution and verified downloads (against a local HTTP server started by the test)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest
from httpserver import serve

from uno_bench.errors import UnoError
from uno_bench.suites import data as suite_data
from uno_bench.suites.spec import DataFile, load_specs


def test_lookup_order(tmp_path, monkeypatch):
    monkeypatch.setenv("UNO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("UNO_DATA_DIR", raising=False)
    assert suite_data.data_roots() == [tmp_path / "cache" / "suites"]
    monkeypatch.setenv("UNO_DATA_DIR", str(tmp_path / "local"))
    assert suite_data.data_roots() == [tmp_path / "local", tmp_path / "cache" / "suites"]
    assert suite_data.data_roots(tmp_path / "explicit") == [tmp_path / "explicit"]


def test_verified_missing_and_mismatching_files(tmp_path, shared_suites):
    spec = load_specs()["geneval"]
    statuses = {s.file.key: s.state for s in suite_data.check_suite(spec, shared_suites)}
    assert statuses["metadata"] == "verified" and statuses["bagel_rewritten"] == "verified"
    assert suite_data.require(spec, "metadata", shared_suites).path == shared_suites / spec.data_file("metadata").path

    with pytest.raises(UnoError, match="suites fetch geneval"):
        suite_data.require(spec, "metadata", tmp_path)

    bad = tmp_path / spec.data_file("metadata").path
    bad.parent.mkdir(parents=True)
    bad.write_bytes((shared_suites / spec.data_file("metadata").path).read_bytes().replace(b"a photo", b"A photo", 1))
    actual = hashlib.sha256(bad.read_bytes()).hexdigest()
    with pytest.raises(UnoError) as err:
        suite_data.require(spec, "metadata", tmp_path)
    message = str(err.value)
    assert "refusing" in message and spec.data_file("metadata").sha256 in message and actual in message


def test_git_blob_id_agrees_with_git(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"item_id,text\npartiprompts97,a cat\n")
    blob = subprocess.run(["git", "hash-object", str(path)], capture_output=True, text=True, check=True).stdout.strip()
    assert suite_data.digest_file(path).git_blob == blob
    assert suite_data.check_file(DataFile("q", "x.csv", git_blob=blob), [tmp_path]).state == "verified"
    assert suite_data.check_file(DataFile("q", "x.csv", git_blob="0" * 40), [tmp_path]).state == "mismatch"


def _spec_file(tmp_path, content: bytes, served: bytes | None = None):
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "data.jsonl").write_bytes(content if served is None else served)
    return site, hashlib.sha256(content).hexdigest()


def test_fetch_verifies_and_refuses_corrupt_downloads(tmp_path):
    content = b'{"prompt": "a photo of a cat"}\n'
    site, sha = _spec_file(tmp_path, content)
    cache = tmp_path / "cache"
    with serve(site) as base:
        df = DataFile("d", "toy/data.jsonl", url=f"{base}/data.jsonl", sha256=sha)
        status = suite_data.fetch_file(df, cache)
        assert status.state == "verified" and (cache / "toy/data.jsonl").read_bytes() == content

        (site / "data.jsonl").write_bytes(content.replace(b"cat", b"dog"))
        corrupt = DataFile("d", "toy/other.jsonl", url=f"{base}/data.jsonl", sha256=sha)
        with pytest.raises(UnoError, match=f"refusing .*sha256 expected {sha}, got [0-9a-f]{{64}}"):
            suite_data.fetch_file(corrupt, cache)
        assert not (cache / "toy/other.jsonl").exists()
        assert [p.name for p in (cache / "toy").iterdir()] == ["data.jsonl"]  # no temp file left

        with pytest.raises(UnoError, match="could not download"):
            suite_data.fetch_file(DataFile("d", "toy/x", url=f"{base}/absent", sha256=sha), cache)


def test_fetch_retries_transient_failures(tmp_path):
    content = b'{"prompt": "a photo of a dog"}\n' * 100
    site, sha = _spec_file(tmp_path, content)
    df = DataFile("d", "toy/data.jsonl", url="", sha256=sha)
    with serve(site, faults=["503", "truncate"]) as base:  # a busy server, then a dropped connection
        status = suite_data.fetch_file(DataFile(df.key, df.path, url=f"{base}/data.jsonl", sha256=sha),
                                       tmp_path / "cache")
    assert status.state == "verified" and (tmp_path / "cache/toy/data.jsonl").read_bytes() == content
    with serve(site, faults=["503"] * suite_data.DOWNLOAD_ATTEMPTS) as base:
        with pytest.raises(UnoError, match=f"could not download .*HTTP 503 \\(tried {suite_data.DOWNLOAD_ATTEMPTS} times"):
            suite_data.fetch_file(DataFile(df.key, "toy/again.jsonl", url=f"{base}/data.jsonl", sha256=sha),
                                  tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache/toy").iterdir()) == ["data.jsonl"]  # no temp file left


def test_fetch_cli_through_a_mirror(tmp_path, shared_suites, uno_env):
    """`suites fetch geneval --mirror URL` fetches every file of the spec from the official paths below URL."""
    from conftest import uno_cmd

    spec = load_specs()["geneval"]
    site = tmp_path / "site"
    for df in spec.data:
        target = site / df.url.split("://", 1)[1].partition("/")[2]
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared_suites / df.path, target)
    with serve(site) as base:
        done = subprocess.run(uno_cmd("suites", "fetch", "geneval", "--mirror", base), env=uno_env,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("verified") == len(spec.data)
        cache = tmp_path / "cache" / "suites"
        for df in spec.data:
            assert (cache / df.path).read_bytes() == (shared_suites / df.path).read_bytes()

        listing = subprocess.run(uno_cmd("suites", "list"), env=uno_env, capture_output=True, text=True)
        assert listing.returncode == 0, listing.stderr
        geneval_row = next(line for line in listing.stdout.splitlines() if "│ geneval " in line)
        assert "verified 2/2 (+2 optional)" in geneval_row

        # A mirror serving a corrupted copy is refused: one-line error, exit 2, both hashes named.
        target = site / spec.data_file("object_names").url.split("://", 1)[1].partition("/")[2]
        target.write_text(target.read_text().replace("person", "human"))
        (cache / spec.data_file("object_names").path).unlink()
        done = subprocess.run(uno_cmd("suites", "fetch", "geneval", "--mirror", base), env=uno_env,
                              capture_output=True, text=True)
        assert done.returncode == 2
        assert done.stderr.startswith("error: refusing") and spec.data_file("object_names").sha256 in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
