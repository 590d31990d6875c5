"""--ckpt OWNER/NAME[@REVISION] resolved through huggingface_hub's cache, offline (HF_HUB_OFFLINE=1): the
cache is built here exactly as the hub library lays it out (blobs, relative symlinks from a commit's
snapshot, refs/<branch>), checked with the library's own cache scanner; no network is touched."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import uno_cmd

REPO = "uno-test/tiny-bagel"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _hub_cache(root: Path, source: Path) -> Path:
    """HF_HUB_CACHE with one model repo whose `main` is COMMIT, holding the files of `source`."""
    repo = root / ("models--" + REPO.replace("/", "--"))
    snapshot = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for f in sorted(p for p in source.iterdir() if p.is_file()):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()  # the hub names LFS blobs by their sha256
        (repo / "blobs" / digest).write_bytes(f.read_bytes())
        os.symlink(os.path.join("..", "..", "blobs", digest), snapshot / f.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return root


@pytest.fixture()
def offline_env(tmp_path, tiny_ckpt, uno_env):
    cache = _hub_cache(tmp_path / "hub", tiny_ckpt)
    env = {**uno_env, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "HF_HOME": str(tmp_path / "hf_home")}
    env.pop("HF_ENDPOINT", None)
    return env


def _resolve(env, spec: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    code = "import sys; from uno_bench.models.bagel.checkpoint import resolve_checkpoint as r; print(r(sys.argv[1]))"
    return subprocess.run([sys.executable, "-c", code, spec], env=env, capture_output=True, text=True, cwd=cwd)


def test_the_fixture_is_a_cache_the_hub_library_reads(offline_env):
    from huggingface_hub import scan_cache_dir

    info = scan_cache_dir(offline_env["HF_HUB_CACHE"])
    [repo] = info.repos
    assert repo.repo_id == REPO and not info.warnings
    [revision] = repo.revisions
    assert revision.commit_hash == COMMIT and revision.refs == frozenset({"main"})


def test_repo_ids_resolve_to_the_cached_snapshot_offline(offline_env, tiny_ckpt):
    snapshot = Path(offline_env["HF_HUB_CACHE"]) / f"models--{REPO.replace('/', '--')}" / "snapshots" / COMMIT
    for spec in (REPO, f"{REPO}@main", f"{REPO}@{COMMIT}"):
        done = _resolve(offline_env, spec)
        assert done.returncode == 0, done.stderr
        assert Path(done.stdout.strip()) == snapshot, spec
    # A local folder whose relative path looks like a repo id is still that folder.
    workdir = Path(offline_env["HF_HOME"]).parent / "cwd"
    (workdir / "uno-test").mkdir(parents=True)
    (workdir / REPO).symlink_to(tiny_ckpt, target_is_directory=True)
    local = _resolve(offline_env, REPO, cwd=workdir)
    assert local.returncode == 0 and Path(local.stdout.strip()) == Path(REPO), local.stderr


def test_generate_from_a_repo_id_matches_the_local_folder(offline_env, tiny_ckpt, tmp_path):
    args = ("generate", "--prompt", "a red circle", "--num-timesteps", "3", "--width", "32", "--height", "32")
    hub = subprocess.run(uno_cmd(*args, "--ckpt", f"{REPO}@main", "--out", str(tmp_path / "hub.png")),
                         env=offline_env, capture_output=True, text=True)
    local = subprocess.run(uno_cmd(*args, "--ckpt", str(tiny_ckpt), "--out", str(tmp_path / "local.png")),
                           env=offline_env, capture_output=True, text=True)
    assert hub.returncode == 0 and local.returncode == 0, hub.stderr + local.stderr
    assert (tmp_path / "hub.png").read_bytes() == (tmp_path / "local.png").read_bytes()


def test_offline_and_not_cached_is_a_clear_one_line_error(offline_env, tmp_path):
    for spec in ("uno-test/not-cached", f"{REPO}@v9"):
        done = subprocess.run(uno_cmd("generate", "--ckpt", spec, "--prompt", "x", "--out", str(tmp_path / "x.png")),
                              env=offline_env, capture_output=True, text=True)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"error: checkpoint {spec} is not in the Hugging Face cache")
        assert "HF_HUB_OFFLINE=1" in done.stderr and done.stderr.count("\n") == 1
    missing = subprocess.run(uno_cmd("generate", "--ckpt", "./no/such", "--prompt", "x", "--out", "x.png"),
                             env=offline_env, capture_output=True, text=True)
    assert missing.returncode == 2 and "checkpoint folder not found" in missing.stderr
