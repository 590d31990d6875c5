"""The editing benchmarks' source images: where they live in a data dir, how they are verified, fetched.

None of them can be pinned in a spec the way the prompt files are (they are Hugging Face datasets,
no published hash), so each is kept in a data dir with a `SOURCE.json` that records where it came
from: repository, the resolved revision (commit sha) and the sha256 of every downloaded file, which
`uno-bench suites fetch` checks against the sha256 Hugging Face publishes for LFS files.

    gedit_bench/   SOURCE.json, rows.jsonl, images/<lang>/<key>.<ext>
        rows.jsonl: one line per dataset row, in dataset order, every column but the images, plus
        `input_image` (file under gedit_bench/) and `input_image_sha256`. The HF parquet files are
        unpacked into this layout (needs pyarrow: pip install pyarrow); the image bytes are written
        exactly as embedded, so nothing is re-encoded.
    imgedit/       Basic/basic_edit.json, Basic/prompts.json (pinned, fetched from GitHub) and the
                   source images of Benchmark.tar: singleturn/<category>/<file> (SOURCE.json beside)
    kris_bench/    final_data.json (pinned) and the images: KRIS_Bench/<category>/<file>

Lookup goes through the usual data roots (`--data-dir`, $UNO_DATA_DIR, the fetch cache).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError
from uno_bench.suites import data as suite_data

SOURCE_FILE = "SOURCE.json"
GEDIT_DIR, GEDIT_REPO = "gedit_bench", "stepfun-ai/GEdit-Bench"
IMGEDIT_DIR, IMGEDIT_REPO = "imgedit", "sysuyy/ImgEdit"
KRIS_DIR, KRIS_REPO = "kris_bench", "Liang0223/KRIS_Bench"
_MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"RIFF", ".webp"), (b"GIF8", ".gif"), (b"BM", ".bmp"))


def sha256_file(path: Path) -> str:
    return suite_data.digest_file(path).sha256


def find_dir(data_dir: str | Path | None, folder: str, marker: str) -> Path | None:
    """The first data root holding `<folder>/<marker>`."""
    for root in suite_data.data_roots(data_dir):
        if (root / folder / marker).exists():
            return root / folder
    return None


def find_images(data_dir: str | Path | None, folder: str, marker: str) -> Path | None:
    """`<folder>/<marker>` (a suite's source-image folder) in the first data root holding it."""
    found = find_dir(data_dir, folder, marker)
    return None if found is None else found / marker


def require_images(images: Path | None, suite: str, folder: str, marker: str, fetch: str) -> Path:
    """`images`, or the error that says where they were looked for and how to get them."""
    if images is None:
        raise UnoError(f"suite {suite}: source images not found ({folder}/{marker}/ under the data dirs); "
                       f"run `uno-bench suites fetch {fetch}` or pass --data-dir")
    return images


def read_source(folder: Path) -> dict[str, Any]:
    path = folder / SOURCE_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UnoError(f"{path} is not valid JSON ({exc.msg})") from None


def write_source(folder: Path, record: dict[str, Any]) -> None:
    from uno_bench.runs.atomic import write_json

    write_json(folder / SOURCE_FILE, record)


def image_suffix(data: bytes) -> str:
    for magic, suffix in _MAGIC:
        if data.startswith(magic):
            return suffix
    raise UnoError("embedded image is not PNG, JPEG, WebP, GIF or BMP")


# ------------------------------------------------------------------------------------------ GEdit


def read_gedit_rows(folder: Path, rows_file: Path | None = None) -> list[dict[str, Any]]:
    """`rows_file` (default <folder>/rows.jsonl; image paths in it are relative to its folder).
    The unpacked rows.jsonl is refused when its sha256 differs from the one SOURCE.json recorded
    at unpacking; a file of another name (a user's subset, a fixture) is read as given."""
    rows_path = Path(rows_file) if rows_file is not None else folder / "rows.jsonl"
    if not rows_path.is_file():
        raise UnoError(f"GEdit-Bench rows file {rows_path} does not exist")
    recorded = read_source(folder).get("rows_sha256") if rows_path.name == "rows.jsonl" else None
    if recorded and sha256_file(rows_path) != recorded:
        raise UnoError(f"refusing {rows_path}: sha256 differs from the one recorded in {SOURCE_FILE} "
                       f"({recorded}); unpack it again with `uno-bench suites fetch gedit`")
    rows = []
    for number, row in suite_data.json_lines(rows_path):
        missing = {"task_type", "key", "instruction", "instruction_language", "input_image"} - set(row)
        if missing:
            raise UnoError(f"{rows_path}:{number}: missing column(s) {', '.join(sorted(missing))}")
        rows.append(row)
    return rows


def write_gedit_rows(folder: Path, rows: Iterable[dict[str, Any]], source: dict[str, Any]) -> Path:
    """Write the unpacked layout from rows whose `input_image` (and `input_image_raw`) are the
    embedded image bytes; records every file's sha256. Returns rows.jsonl."""
    from uno_bench.runs.atomic import write_bytes, write_text

    lines = []
    for row in rows:
        out = {k: v for k, v in row.items() if k not in ("input_image", "input_image_raw")}
        data = _image_bytes(row["input_image"])
        rel = f"images/{row['instruction_language']}/{row['key']}{image_suffix(data)}"
        write_bytes(folder / rel, data)
        out["input_image"] = rel
        out["input_image_sha256"] = hashlib.sha256(data).hexdigest()
        if row.get("input_image_raw") is not None:  # not used by the protocol: only its hash is kept
            out["input_image_raw_sha256"] = hashlib.sha256(_image_bytes(row["input_image_raw"])).hexdigest()
        lines.append(json.dumps(out, ensure_ascii=False, sort_keys=True))
    text = "\n".join(lines) + "\n"
    write_text(folder / "rows.jsonl", text)
    write_source(folder, {**source, "rows": len(lines), "rows_sha256": hashlib.sha256(text.encode()).hexdigest()})
    return folder / "rows.jsonl"


def _image_bytes(value: Any) -> bytes:
    """A `datasets` Image cell as stored in parquet: {"bytes": ..., "path": ...} (or raw bytes)."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, dict) and isinstance(value.get("bytes"), bytes | bytearray):
        return bytes(value["bytes"])
    raise UnoError("an image cell holds no embedded bytes (expected the `datasets` Image struct)")


def unpack_gedit_parquet(parquet_files: list[Path], folder: Path, source: dict[str, Any]) -> Path:
    """The HF dataset's parquet shards (in name order = dataset order) -> the unpacked layout."""
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        raise UnoError("reading GEdit-Bench's parquet files needs pyarrow (pip install 'uno[edit]'); the files "
                       f"are kept under {folder}, run the fetch again once it is installed") from None

    def rows() -> Iterable[dict[str, Any]]:
        for path in sorted(parquet_files):
            yield from pq.read_table(path).to_pylist()

    return write_gedit_rows(folder, rows(), source)


# ------------------------------------------------------------------------------------------ fetch


def _hf_files(repo: str, revision: str | None) -> tuple[str, dict[str, dict[str, Any]]]:
    """(resolved commit sha, {path: {"sha256", "size"}}) of a dataset repo, from the Hub's metadata."""
    from huggingface_hub import HfApi

    info = HfApi().dataset_info(repo, revision=revision, files_metadata=True)
    files = {}
    for sibling in info.siblings or []:
        lfs = sibling.lfs
        files[sibling.rfilename] = {"sha256": getattr(lfs, "sha256", None) if lfs else None, "size": sibling.size}
    return str(info.sha), files


def _download(repo: str, revision: str, paths: list[str], dest: Path,
              published: dict[str, dict[str, Any]], log: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Download `paths` at `revision` into dest, each checked against the Hub's published sha256."""
    from huggingface_hub import hf_hub_download

    record = {}
    for rel in paths:
        local = Path(hf_hub_download(repo, rel, repo_type="dataset", revision=revision, local_dir=dest))
        digest = sha256_file(local)
        want = published.get(rel, {}).get("sha256")
        if want and digest != want:
            local.unlink()
            raise UnoError(f"refusing {repo}/{rel}@{revision}: sha256 expected {want}, got {digest}")
        record[rel] = {"sha256": digest, "bytes": local.stat().st_size, "published_sha256": want}
        log(f"{repo}: verified {rel} ({'published sha256' if want else 'no published sha256; recorded'})")
    return record


def fetch_gedit(root: Path, revision: str | None = None, log: Callable[[str], None] = print) -> Path:
    sha, files = _hf_files(GEDIT_REPO, revision)
    shards = sorted(p for p in files if p.endswith(".parquet"))
    if not shards:
        raise UnoError(f"{GEDIT_REPO}@{sha} lists no parquet files")
    folder = root / GEDIT_DIR
    record = _download(GEDIT_REPO, sha, shards, folder / "parquet", files, log)
    source = {"repository": GEDIT_REPO, "revision": sha, "files": record}
    write_source(folder, source)  # kept even if unpacking fails below
    return unpack_gedit_parquet([folder / "parquet" / p for p in shards], folder, source)


def fetch_imgedit(root: Path, revision: str | None = None, log: Callable[[str], None] = print) -> Path:
    sha, files = _hf_files(IMGEDIT_REPO, revision)
    tar = next((p for p in files if p.rsplit("/", 1)[-1] == "Benchmark.tar"), None)
    if tar is None:
        raise UnoError(f"{IMGEDIT_REPO}@{sha} has no Benchmark.tar")
    folder = root / IMGEDIT_DIR
    record = _download(IMGEDIT_REPO, sha, [tar], folder / "download", files, log)
    extract_singleturn(folder / "download" / tar, folder)
    write_source(folder, {"repository": IMGEDIT_REPO, "revision": sha, "files": record,
                          "extracted": "singleturn/"})
    return folder / "singleturn"


def extract_singleturn(tar_path: Path, folder: Path) -> None:
    """The members under a `singleturn/` directory of Benchmark.tar -> <folder>/singleturn/ (paths
    that would leave it are refused)."""
    target = folder / "singleturn"
    tmp = folder / ".singleturn.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    with tarfile.open(tar_path) as tar:
        for member in tar.getmembers():
            parts = Path(member.name).parts
            if "singleturn" not in parts or not member.isfile():
                continue
            rel = Path(*parts[parts.index("singleturn") + 1:])
            if not rel.parts or ".." in rel.parts or rel.is_absolute():
                raise UnoError(f"{tar_path}: unsafe member path {member.name!r}")
            out = tmp / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, open(out, "wb") as dst:  # type: ignore[union-attr]
                shutil.copyfileobj(src, dst)
    if not tmp.exists():
        raise UnoError(f"{tar_path} holds no singleturn/ folder")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def fetch_kris(root: Path, revision: str | None = None, log: Callable[[str], None] = print) -> Path:
    from uno_bench.suites.registry import get_spec

    categories = set(get_spec("kris").categories)
    sha, files = _hf_files(KRIS_REPO, revision)
    nested = any(p.startswith("KRIS_Bench/") for p in files)  # category folders at the top or below KRIS_Bench/
    wanted = sorted(p for p in files if Path(p).parts[int(nested):][:1] and Path(p).parts[int(nested)] in categories
                    and len(Path(p).parts) > int(nested) + 1 and not Path(p).name.startswith("."))
    if not wanted:
        raise UnoError(f"{KRIS_REPO}@{sha} lists no category folders")
    folder = root / KRIS_DIR
    record = _download(KRIS_REPO, sha, wanted, folder / "hf", files, log)
    images = folder / "KRIS_Bench"
    base = folder / "hf" / ("KRIS_Bench" if nested else "")
    shutil.rmtree(images, ignore_errors=True)
    shutil.copytree(base, images)
    write_source(folder, {"repository": KRIS_REPO, "revision": sha, "files": record, "images": "KRIS_Bench/"})
    return images


_IMAGES = {"gedit": (GEDIT_DIR, "rows.jsonl"), "gedit_cn": (GEDIT_DIR, "rows.jsonl"),
           "imgedit": (IMGEDIT_DIR, "singleturn"), "kris": (KRIS_DIR, "KRIS_Bench")}


def images_state(suite: str, data_dir: str | Path | None = None) -> str | None:
    """One line for `suites list`: whether an editing benchmark's images are there (and from which
    revision), or None for suites without such a dataset."""
    if suite not in _IMAGES:
        return None
    folder = find_dir(data_dir, *_IMAGES[suite])
    if folder is None:
        return f"images missing (`uno-bench suites fetch {suite}`)"
    revision = read_source(folder).get("revision")
    return f"images present ({'revision ' + str(revision)[:12] if revision else 'no SOURCE.json'})"


FETCHERS: dict[str, Callable[..., Path]] = {"gedit": fetch_gedit, "gedit_cn": fetch_gedit,
                                            "imgedit": fetch_imgedit, "kris": fetch_kris}
