"""`uno-bench cache stats | export | import`: the judge cache shared by every run (judges/cache.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from uno_bench.cli import app
from uno_bench.errors import UnoError

cache_app = typer.Typer(help="The judge cache: raw judge answers shared by all runs ($UNO_JUDGE_CACHE).",
                        no_args_is_help=True)
app.add_typer(cache_app, name="cache")

_PATH_HELP = "Cache file (default: $UNO_JUDGE_CACHE, else <$UNO_CACHE_DIR or ~/.cache/uno>/judge_cache.sqlite)."


def _open(path: Path | None, must_exist: bool = True):
    from uno_bench.judges.cache import JudgeCache, default_path

    path = path or default_path()
    if path is None:
        raise UnoError("the judge cache is disabled (UNO_JUDGE_CACHE=off); pass --path FILE")
    if must_exist and not Path(path).is_file():
        raise UnoError(f"no judge cache at {path}")
    return JudgeCache(path)


def _when(ts: float | None) -> str:
    return "" if ts is None else dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


@cache_app.command("stats")
def stats_command(path: Path | None = typer.Option(None, "--path", help=_PATH_HELP)) -> None:
    """Answers per judge (backend, model and suite), with the time range they were made in."""
    cache = _open(path)
    stats = cache.stats()
    console = Console()
    console.print(escape(f"{stats['path']}: {stats['answers']} answer(s), {stats['bytes'] / 1e6:.1f} MB"))
    table = Table("judge", "answers", "first", "last")
    for judge in stats["judges"]:
        table.add_row(escape(judge["judge"]), str(judge["answers"]), _when(judge["first"]), _when(judge["last"]))
    console.print(table)


@cache_app.command("export")
def export_command(
    out: Path = typer.Argument(..., help="JSON Lines file to write (identity, query and answer per line)."),
    path: Path | None = typer.Option(None, "--path", help=_PATH_HELP),
) -> None:
    """Write every cached answer to a portable file (for another machine or an archive)."""
    count = _open(path).export(out)
    Console().print(f"exported {count} answer(s) to {out}")


@cache_app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="A file written by `uno-bench cache export`."),
    path: Path | None = typer.Option(None, "--path", help=_PATH_HELP),
) -> None:
    """Add the answers of an export; every key is recomputed from its identity and query first."""
    if not file.is_file():
        raise UnoError(f"{file} does not exist")
    added, present = _open(path, must_exist=False).import_file(file)
    Console().print(f"imported {added} new answer(s), {present} already present")
