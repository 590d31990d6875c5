"""What the model-based judges share about weights: where they live, their hash, safe loading, device.

Judges never download: weights come from an explicit `--judge-option <judge>.weights=PATH`, from the
uno judge folder `$UNO_CACHE_DIR/judges` (default `~/.cache/uno/judges`), or from a cache another
tool already filled (the Hugging Face hub cache). A missing file is a one-line UnoError that names
the file and where to put it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError

_CHUNK = 1 << 20
_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def judges_dir() -> Path:
    """`$UNO_CACHE_DIR/judges` (default `~/.cache/uno/judges`): where judge weights are looked for."""
    from uno_bench.suites.data import cache_dir

    return cache_dir() / "judges"


def sha256_file(path: str | Path) -> str:
    """sha256 of a file's bytes, memoised per (path, size, mtime) for this process."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_MEMO:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
        _SHA_MEMO[key] = digest.hexdigest()
    return _SHA_MEMO[key]


def sha256_files(paths: list[Path]) -> str:
    """One digest for a set of files (a checkpoint folder): sha256 over "name sha256" lines."""
    lines = "".join(f"{p.name} {sha256_file(p)}\n" for p in sorted(paths, key=lambda p: p.name))
    return hashlib.sha256(lines.encode()).hexdigest()


def _numpy_safe_globals() -> list[Any]:
    """numpy scalar/dtype reconstructors, which only rebuild plain numbers.

    OpenMMLab checkpoints carry a `meta` dict that may hold numpy scalars (seeds, best scores);
    `weights_only=True` refuses those unless allowed. Each entry names the global as pickled by
    numpy 1.x (`numpy.core...`) and, where it moved, by numpy 2.x (`numpy._core...`).
    """
    import numpy as np

    try:  # numpy 2.x; numpy 1.26 also has a `_core` package, whose submodules load lazily
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 1.26
        from numpy.core.multiarray import scalar
    allowed: list[Any] = [np.dtype, (scalar, "numpy.core.multiarray.scalar"), (scalar, "numpy._core.multiarray.scalar")]
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        allowed += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return allowed


def load_torch_file(path: str | Path) -> Any:
    """`torch.load(weights_only=True)` on CPU; numpy scalars in metadata are allowed, code never is."""
    import pickle
    import zipfile

    import torch

    if zipfile.is_zipfile(path):  # refuse TorchScript before torch.load could hand it to torch.jit.load
        with zipfile.ZipFile(path) as archive:
            if any(n.endswith("/constants.pkl") or "/code/" in n for n in archive.namelist()):
                raise UnoError(f"{path} is a TorchScript archive; use the weights as a state dict or safetensors file")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnoError(
            f"{path}: refusing to load: it is not a plain tensor checkpoint that loads with "
            f"weights_only=True ({first})"
        ) from None


def resolve_device(option: str | None) -> Any:
    """`device=auto` (default): CUDA when available, else CPU; otherwise any torch device string."""
    import torch

    text = (option or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise UnoError(f"device={option!r} is not a torch device (e.g. auto, cpu, cuda, cuda:1)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UnoError(f"device={option!r}: CUDA is not available on this machine")
    return device


def existing(*candidates: str | Path | None) -> Path | None:
    """The first candidate that exists on disk."""
    for candidate in candidates:
        if candidate and Path(os.path.expanduser(str(candidate))).exists():
            return Path(os.path.expanduser(str(candidate)))
    return None
