"""Run a uno entry point with a machine fault a test cannot cause for real (tests run as root in CI
containers, where a chmod-ed folder stays writable, and a real full disk would hurt the machine):

    python faultinject.py readonly DIR MODULE ARGS...   every write under DIR fails: EACCES
    python faultinject.py full DIR N MODULE ARGS...     the first N files written under DIR succeed;
                                                        later writes there write half, then ENOSPC

MODULE runs exactly as `python -m MODULE ARGS...` would (runpy), so the real CLI entry point, its
error policy and exit code are what the test sees. Only file creation and writing are intercepted:
builtins.open / io.open (Python and Pillow writes), os.open + os.write (tempfile, record logs) and os.mkdir.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import runpy
import sys
from typing import Any

_real_open, _real_os_open, _real_mkdir, _real_write = builtins.open, os.open, os.mkdir, os.write
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _inside(path: Any, folder: str) -> bool:
    try:
        real = os.path.realpath(os.fspath(path))
    except TypeError:  # a file descriptor
        return False
    return real == folder or real.startswith(folder + os.sep)


def _error(code: int, path: Any) -> OSError:
    return OSError(code, os.strerror(code), os.fspath(path))


class _FillsUp:
    """A file on a disk that fills up during this write: half the bytes land, then ENOSPC."""

    def __init__(self, fh: Any, path: Any):
        self._fh, self._path = fh, path

    def write(self, data: Any) -> int:
        self._fh.write(data[: len(data) // 2])
        self._fh.flush()
        raise _error(errno.ENOSPC, self._path)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _FillsUp:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._fh.close()


def install(kind: str, folder: str, allowed: int = 0) -> None:
    folder = os.path.realpath(folder)
    written = [0]

    def opened_for_writing(path: Any, mode: str) -> bool:
        return any(c in mode for c in "wax+") and _inside(path, folder)

    def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if not opened_for_writing(file, mode):
            return _real_open(file, mode, *args, **kwargs)
        if kind == "readonly":
            raise _error(errno.EACCES, file)
        written[0] += 1
        fh = _real_open(file, mode, *args, **kwargs)
        return fh if written[0] <= allowed else _FillsUp(fh, file)

    full_fds: set[int] = set()

    def fake_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        writing = bool(flags & _WRITE_FLAGS) and _inside(path, folder) and not os.path.basename(path).startswith(".uno-lock")
        if kind == "readonly" and writing:
            raise _error(errno.EACCES, path)
        fd = _real_os_open(path, flags, *args, **kwargs)
        if kind == "full" and writing:
            written[0] += 1
            if written[0] > allowed:
                full_fds.add(fd)
        return fd

    def fake_write(fd: int, data: Any) -> int:
        if fd not in full_fds:
            return _real_write(fd, data)
        _real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as the kernel's: no file name

    def fake_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if kind == "readonly" and _inside(path, folder):
            raise _error(errno.EACCES, path)
        _real_mkdir(path, *args, **kwargs)

    builtins.open = io.open = fake_open  # type: ignore[assignment]
    os.open, os.mkdir, os.write = fake_os_open, fake_mkdir, fake_write  # type: ignore[assignment]


def main(argv: list[str]) -> None:
    kind, folder, *rest = argv
    allowed = 0
    if kind == "full":
        allowed, rest = int(rest[0]), rest[1:]
    module, *args = rest
    install(kind, folder, allowed)
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
