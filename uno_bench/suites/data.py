"""Where a suite's official data files are, whether they are the right bytes, and how to fetch them.

A data dir is laid out like `../shared/suites` (`geneval/prompts/evaluation_metadata.jsonl`, ...).
Lookup order for a file: `--data-dir` if given (and nothing else), otherwise `$UNO_DATA_DIR` if set,
then the download cache `$UNO_CACHE_DIR/suites` (default `~/.cache/uno/suites`), where `fetch` writes.
A file is used only when its sha256 (or, where upstream publishes only that, its git blob id)
matches the spec; a mismatching file is refused with both hashes in the message, never used.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from uno_bench.errors import UnoError
from uno_bench.suites.spec import DataFile, SuiteSpec

if TYPE_CHECKING:
    import httpx

State = Literal["verified", "missing", "mismatch", "unverifiable"]
_CHUNK = 1 << 20
DOWNLOAD_ATTEMPTS = 4
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}  # worth asking again; any other non-200 is final


def json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for every non-empty line; a malformed line is a one-line error
    naming the file and line."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise UnoError(f"{path}:{number}: not a JSON line ({exc.msg})") from None


def cache_dir() -> Path:
    return Path(os.environ.get("UNO_CACHE_DIR") or Path.home() / ".cache" / "uno")


def data_roots(data_dir: str | Path | None = None) -> list[Path]:
    if data_dir is not None:
        return [Path(data_dir)]
    roots = [Path(os.environ["UNO_DATA_DIR"])] if os.environ.get("UNO_DATA_DIR") else []
    return [*roots, cache_dir() / "suites"]


@dataclass(frozen=True)
class Digest:
    sha256: str
    git_blob: str
    size: int


def digest_file(path: Path) -> Digest:
    """sha256 and git blob id (sha1 over "blob <size>\\0" + bytes) in one read."""
    size = path.stat().st_size
    sha = hashlib.sha256()
    blob = hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            sha.update(chunk)
            blob.update(chunk)
    return Digest(sha.hexdigest(), blob.hexdigest(), size)


def mismatch(df: DataFile, digest: Digest) -> str | None:
    """None when the bytes are the published ones, else 'expected X, got Y'."""
    if df.sha256 and digest.sha256 != df.sha256:
        return f"sha256 expected {df.sha256}, got {digest.sha256}"
    if df.git_blob and digest.git_blob != df.git_blob:
        return f"git blob id expected {df.git_blob}, got {digest.git_blob}"
    return None


@dataclass(frozen=True)
class FileStatus:
    file: DataFile
    state: State
    path: Path | None = None  # where it was found (None when missing)
    sha256: str | None = None  # actual sha256 of the file found
    problem: str = ""


def check_file(df: DataFile, roots: list[Path]) -> FileStatus:
    """The first root holding the file decides: a wrong copy there is reported, not skipped over."""
    for root in roots:
        path = root / df.path
        if path.is_file():
            digest = digest_file(path)
            if not df.verifiable:
                return FileStatus(df, "unverifiable", path, digest.sha256, "no published hash")
            problem = mismatch(df, digest)
            if problem:
                return FileStatus(df, "mismatch", path, digest.sha256, problem)
            return FileStatus(df, "verified", path, digest.sha256)
    return FileStatus(df, "missing", problem=f"not found under {', '.join(str(r) for r in roots)}")


def check_suite(spec: SuiteSpec, data_dir: str | Path | None = None) -> list[FileStatus]:
    roots = data_roots(data_dir)
    return [check_file(df, roots) for df in spec.data]


def require(spec: SuiteSpec, key: str, data_dir: str | Path | None = None) -> FileStatus:
    """A verified data file for a run, or a one-line error that says how to get it."""
    status = check_file(spec.data_file(key), data_roots(data_dir))
    if status.state == "verified":
        return status
    if status.state == "mismatch":
        raise UnoError(f"refusing {status.path}: {status.problem} (suite {spec.name}, file {key})")
    if status.state == "unverifiable":
        raise UnoError(f"{status.path}: suite {spec.name} publishes no hash for '{key}', so it cannot be verified")
    how = f"run `uno-bench suites fetch {spec.name}`" if status.file.url else "see the spec's note"
    raise UnoError(f"suite {spec.name}: data file {status.file.path} {status.problem}; {how} or pass --data-dir")


# ------------------------------------------------------------------------------------------ fetch


def mirrored(url: str, mirror: str | None) -> str:
    """Replace scheme and host of an official URL with a mirror's base URL (same path below it)."""
    if not mirror:
        return url
    path = url.split("://", 1)[1].partition("/")[2]
    return f"{mirror.rstrip('/')}/{path}"


class _Transient(Exception):
    """A failure another attempt may not meet: timeout, dropped connection, 5xx / 429."""


def _stream(client: httpx.Client, url: str, dest: Path) -> None:
    import httpx

    from uno_bench.runs.progress import download_bar

    try:
        with client.stream("GET", url) as response:
            if response.status_code in RETRY_STATUSES:
                raise _Transient(f"HTTP {response.status_code}")
            if response.status_code != 200:
                raise UnoError(f"could not download {url}: HTTP {response.status_code}")
            total = int(response.headers.get("Content-Length") or 0) or None
            with open(dest, "wb") as out, download_bar(f"fetch {dest.name.split('.uno-download')[0][1:]}",
                                                       total) as advance:
                for chunk in response.iter_bytes(_CHUNK):
                    out.write(chunk)
                    advance(len(chunk))
                out.flush()
                os.fsync(out.fileno())
    except httpx.TransportError as exc:  # timeouts, refused / reset connections, truncated bodies
        raise _Transient(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None


def _download(url: str, dest: Path, timeout: float, attempts: int = DOWNLOAD_ATTEMPTS) -> None:
    """Stream url into dest (a temp path in the target dir), fsync'ed, with a progress bar on a terminal;
    transient failures are retried with exponential back-off. Raises UnoError on failure."""
    import httpx
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

    if not url.startswith(("https://", "http://")):
        raise UnoError(f"refusing to download {url}: only http(s) URLs are fetched")
    retrying = Retrying(stop=stop_after_attempt(attempts), wait=wait_exponential(multiplier=0.5, max=8),
                        retry=retry_if_exception_type(_Transient), reraise=True)
    try:
        # Proxies from the environment, redirects followed (as urllib did); one connection for the retries.
        with httpx.Client(timeout=timeout, follow_redirects=True, trust_env=True) as client:
            for attempt in retrying:
                with attempt:
                    _stream(client, url, dest)
    except _Transient as exc:
        dest.unlink(missing_ok=True)
        raise UnoError(f"could not download {url}: {exc} (tried {attempts} times)") from None
    except OSError as exc:
        dest.unlink(missing_ok=True)
        raise UnoError(f"could not write {dest.parent}: {exc}") from None
    except UnoError:
        dest.unlink(missing_ok=True)
        raise


def fetch_file(
    df: DataFile, root: Path, mirror: str | None = None, timeout: float = 60.0
) -> FileStatus:
    """Download one file into root (the cache), verify it, then move it into place atomically."""
    target = root / df.path
    if target.is_file():
        status = check_file(df, [root])
        if status.state == "verified":
            return status
    if not df.url:
        raise UnoError(f"{df.path} has no download URL ({df.note or 'obtain it by hand'}); pass --data-dir")
    if not df.verifiable:
        raise UnoError(f"{df.path}: no published hash, so a download could not be verified; refusing")
    url = mirrored(df.url, mirror)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.uno-download-{os.getpid()}")
    _download(url, tmp, timeout)
    digest = digest_file(tmp)
    problem = mismatch(df, digest)
    if problem:
        tmp.unlink()
        raise UnoError(f"refusing {url}: {problem}")
    os.replace(tmp, target)
    return FileStatus(df, "verified", target, digest.sha256)


def fetch_suite(
    spec: SuiteSpec,
    root: Path | None = None,
    mirror: str | None = None,
    timeout: float = 60.0,
    on_file: Callable[[FileStatus], None] | None = None,
) -> list[FileStatus]:
    """Fetch every downloadable file of a suite (optional ones too); the first failure raises."""
    root = root or cache_dir() / "suites"
    results = []
    for df in spec.data:
        if not df.url:
            continue
        status = fetch_file(df, root, mirror, timeout)
        results.append(status)
        if on_file:
            on_file(status)
    return results
