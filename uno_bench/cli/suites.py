"""`uno-bench suites list / show / fetch`: what benchmarks exist, and their official data files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from uno_bench.cli import app
from uno_bench.suites import data as suite_data
from uno_bench.suites.registry import get_spec, suites
from uno_bench.suites.spec import SuiteSpec, load_specs

suites_app = typer.Typer(
    help="List the benchmark suites, show their specs, and fetch their official data files.",
    no_args_is_help=True, rich_markup_mode=None,
)
app.add_typer(suites_app, name="suites")

DATA_DIR_HELP = (
    "Folder laid out like shared/suites (e.g. <dir>/geneval/prompts/evaluation_metadata.jsonl) to read "
    "data from instead of $UNO_DATA_DIR and the download cache."
)


def _data_state(spec: SuiteSpec, data_dir: Path | None) -> str:
    """One cell: are the files a run needs present with the published hash (and an editing benchmark's images)?"""
    from uno_bench.suites.edit_data import images_state

    images = images_state(spec.name, data_dir)
    files = _files_state(spec, data_dir) if spec.data or images is None else ""
    return "; ".join(x for x in (files, images) if x)


def _files_state(spec: SuiteSpec, data_dir: Path | None) -> str:
    if not spec.data:
        return "no data files" + (" (see `suites show`)" if spec.data_note else " needed")
    statuses = suite_data.check_suite(spec, data_dir)
    required = [s for s in statuses if not s.file.optional]
    bad = [s for s in statuses if s.state == "mismatch"]
    missing = [s for s in required if s.state == "missing"]
    ok = sum(s.state == "verified" for s in required)
    if bad:
        return "[red]MISMATCH: " + ", ".join(s.file.path for s in bad) + "[/]"
    if missing:
        return f"[yellow]missing {len(missing)}/{len(required)}: " + ", ".join(s.file.key for s in missing) + "[/]"
    unverifiable = [s for s in required if s.state == "unverifiable"]
    if unverifiable:
        return f"present, {len(unverifiable)} without published hash"
    extra = sum(s.state == "verified" for s in statuses if s.file.optional)
    return f"[green]verified {ok}/{len(required)}[/]" + (f" (+{extra} optional)" if extra else "")


@suites_app.command("list")
def list_suites(
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
) -> None:
    """Every suite with its aliases, and whether its data is present and matches the published sha256."""
    table = Table(title="uno-bench suites")
    for column in ("suite", "aliases", "task", "images/prompt", "data"):
        table.add_column(column)
    for spec in load_specs().values():
        # Every shipped suite runs; a spec added without its code says so instead of a column of "ready".
        task = spec.task if spec.implementation else f"{spec.task} [yellow](spec only: cannot run yet)[/]"
        table.add_row(spec.name, ", ".join(spec.aliases), task, str(spec.images_per_prompt),
                      _data_state(spec, data_dir))
    Console().print(table)


@suites_app.command("show")
def show_suite(
    name: str = typer.Argument(..., help="Suite name or alias (see `uno-bench suites list`)."),
    data_dir: Path | None = typer.Option(None, "--data-dir", help=DATA_DIR_HELP),
) -> None:
    """A suite's spec: data files and their state, generation defaults, metric and published numbers."""
    spec = get_spec(name)
    console = Console(highlight=False)
    console.print(f"[bold]{escape(spec.title)}[/] ({spec.name} v{spec.version}, spec {spec.source_path})")
    console.print(escape(f"layout: {spec.layout}\nmetric: {spec.metric}\ndefault judge: {spec.default_judge}"))
    if spec.data_note:
        console.print(escape(f"data: {spec.data_note}"))
    for status in suite_data.check_suite(spec, data_dir):
        where = status.path or status.problem
        optional = " (optional)" if status.file.optional else ""
        console.print(escape(f"  {status.file.key:<20} {status.state:<12} {where}{optional}"))
    console.print(escape(f"generation ({spec.generation_source}):"))
    for key, value in spec.generation.to_dict().items():
        console.print(escape(f"  {key} = {value}"))
    for ref in spec.references:
        extra = f", prompts: {ref.prompts}" if ref.prompts else ""
        console.print(escape(f"reference: {ref.model} {ref.metric} = {ref.value}{extra} [{ref.source}]"))


@suites_app.command("fetch")
def fetch(
    names: list[str] = typer.Argument(None, help="Suites to fetch (names or aliases); none with --all."),
    all_suites: bool = typer.Option(False, "--all", help="Fetch the data of every suite that has download URLs."),
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="Download into this folder instead of $UNO_CACHE_DIR/suites (~/.cache/uno/suites)."
    ),
    mirror: str | None = typer.Option(
        None, "--mirror",
        help="Base URL of a mirror: the official URL's path is requested below it "
        "(https://raw.githubusercontent.com/<path> -> <mirror>/<path>). Hashes are checked the same way.",
    ),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for each HTTP response."),
    revision: str | None = typer.Option(
        None, "--revision",
        help="Hugging Face dataset revision for the editing benchmarks' images (default: the current main); the "
        "resolved commit and every file's sha256 are recorded in the dataset's SOURCE.json.",
    ),
) -> None:
    """Download official data files and verify their sha256 (or git blob id); a mismatching file is refused.
    The editing benchmarks' images (Hugging Face datasets) are fetched too, checked against the sha256 the Hub
    publishes, with revision and checksums recorded beside them."""
    from uno_bench.suites.edit_data import FETCHERS

    if all_suites:
        names = suites().names()
    if not names:
        raise typer.BadParameter("name at least one suite, or pass --all")
    root = cache_dir or suite_data.cache_dir() / "suites"
    console = Console()
    fetched: set = set()  # gedit and gedit_cn share one dataset
    for name in names:
        spec = get_spec(name)
        dataset = FETCHERS.get(spec.name)
        if dataset is not None and dataset in fetched:
            console.print(f"{spec.name}: its images were fetched above")
            dataset = None
            if not any(df.url for df in spec.data):
                continue
        if not any(df.url for df in spec.data) and dataset is None:
            console.print(f"{spec.name}: nothing to download" + (f" ({spec.data_note})" if spec.data_note else ""))
            continue

        def report(status: suite_data.FileStatus, suite: str = spec.name) -> None:
            console.print(f"{suite}: [green]verified[/] {status.path}")

        suite_data.fetch_suite(spec, root, mirror, timeout, on_file=report)
        for df in spec.data:
            if not df.url:
                console.print(f"{spec.name}: [yellow]not downloadable[/] {df.path}: {df.note}")
        if dataset is not None:
            fetched.add(dataset)
            where = dataset(root, revision, log=lambda line: console.print(escape(line)))
            console.print(f"{spec.name}: [green]images ready[/] {escape(str(where))}")
