"""`uno-bench`: the command-line face of the library.

Each submodule adds its commands to `app`; they stay thin wrappers over library calls. Errors a
user can fix (UnoError) print one line on stderr and exit with code 2; `--debug` shows tracebacks.
Exit codes and what each fault does: docs/faults.md.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from typing import NoReturn

import typer

from uno_bench.errors import UnoError

app = typer.Typer(
    name="uno-bench",
    help="Benchmarks for BAGEL-family unified models (GenEval, GenEval 2, DPG-Bench, UniGenBench++, "
    "GEdit-Bench, ImgEdit, KRIS-Bench, shapes), scored exactly as the official scorers do.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain click help: typer's rich panels label every flag "<bool>", which reads as if it took a value.
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Command modules register themselves on `app` when imported.
_COMMAND_MODULES = (
    "uno_bench.cli.sample", "uno_bench.cli.suites", "uno_bench.cli.run", "uno_bench.cli.report",
    "uno_bench.cli.cache", "uno_bench.cli.quickstart",
)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks instead of one-line errors "
                               "(or set UNO_DEBUG=1)."),
) -> None:
    """Options before the command apply to every command; `run_app` reads --debug from argv."""


INTERRUPTED = "interrupted; rerun the same command to resume"
# Errors of the machine, not of uno (full disk, read-only or missing folder): one line, exit 2.
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT,
                       errno.EISDIR, errno.ENOTDIR, errno.EIO, errno.EFBIG}


def _fail(message: str, code: int) -> NoReturn:
    print(message, file=sys.stderr)
    sys.exit(code)


def run_app(typer_app: typer.Typer, modules: tuple[str, ...]) -> None:
    """Import the command modules, then run the app with uno's error policy (docs/faults.md):
    0 ok, 1 partial failure (the command says how many), 2 bad input or environment, 130 interrupted."""
    debug = "--debug" in sys.argv or os.environ.get("UNO_DEBUG") == "1"
    try:
        for module in modules:
            importlib.import_module(module)
        # Not standalone: typer then *returns* exit codes (130 after Ctrl-C) instead of exiting.
        code = typer_app(standalone_mode=False)
    except UnoError as exc:
        if debug:
            raise
        _fail(f"error: {exc}", 2)
    except (typer.Abort, KeyboardInterrupt):
        _fail(INTERRUPTED, 130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:
        if debug or exc.errno not in _ENVIRONMENT_ERRNOS:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        hint = ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # every file uno writes is whole or absent (atomic/records)
            hint = "; everything written before is complete: free space and rerun the same command to resume"
        _fail(f"error: {exc.strerror or exc}{where}{hint}", 2)
    except Exception as exc:
        # Usage errors (typer vendors its own click): show them as click would, exit with their code.
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.exit(0)
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    code = code if isinstance(code, int) else 0
    if code == 130:
        _fail(INTERRUPTED, 130)
    sys.exit(code)


def main() -> None:
    run_app(app, _COMMAND_MODULES)
