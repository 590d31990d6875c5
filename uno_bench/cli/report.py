"""`uno-bench report` and `uno-bench diff-manifest`: thin wrappers over `uno_bench.report`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from uno_bench.cli import app
from uno_bench.errors import UnoError


def _resolve_runs(runs: list[str], groups: list[str], baseline: str | None):
    """-> (Run list, baseline label). Labels: LABEL=PATH, --group NAME=..., else the run dir's name."""
    from uno_bench.report.runs import load_run, parse_group_arg, parse_run_arg

    specs: list[tuple[str | None, Path]] = [parse_run_arg(r) for r in runs]
    for text in groups:
        name, items = parse_group_arg(text)
        specs += [(name, Path(item)) for item in items]
    base_label = baseline
    if baseline is not None:
        label, path = parse_run_arg(baseline)
        if path.exists() or label is not None:
            known = {p.resolve(): lab for lab, p in specs}
            if path.resolve() in known:
                base_label = known[path.resolve()] or path.name
            else:
                specs.insert(0, (label, path))
                base_label = label or path.name
    if not specs:
        raise UnoError("give at least one run dir (RUN or --group NAME=RUN,RUN)")
    loaded = [load_run(path, label) for label, path in specs]
    return loaded, base_label


def _formats(text: str) -> set[str]:
    return {f.strip().lower() for f in text.split(",") if f.strip()}


@app.command("report")
def report_command(
    runs: list[str] = typer.Argument(
        None, help="Run dirs, each PATH or LABEL=PATH. Runs of one suite that share a label are seed runs of one "
        "checkpoint (one row: mean ± sd). The label defaults to the run dir's name."
    ),
    out: Path = typer.Option(..., "--out", help="Folder for report.md, report.csv, prompt_changes.csv, report.html."),
    baseline: str | None = typer.Option(
        None, "--baseline", help="The baseline: a label, or a run dir (added if not among RUN). Default: the first run."
    ),
    group: list[str] = typer.Option(
        None, "--group", help="NAME=RUN,RUN,...: seed runs of one checkpoint, shown as one row NAME. Repeatable."
    ),
    formats: str = typer.Option("md,csv,html", "--format", help="Comma-separated: md, csv, html."),
    n_boot: int = typer.Option(2000, "--bootstrap", help="Bootstrap resamples B (docs/statistics.md)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap's random generator (fixed: same report twice)."),
    level: float = typer.Option(0.95, "--level", help="Confidence level of the intervals."),
    grid_prompts: int = typer.Option(40, "--grid-prompts", help="Prompts per suite in the HTML image grid "
                                     "(changed prompts first)."),
    thumb_size: int = typer.Option(128, "--thumb-size", help="Longest side of the HTML thumbnails, in pixels."),
) -> None:
    """Compare runs: one table per suite (baseline first, deltas, CIs, paired tests, published numbers),
    per-prompt flips and changes, charts and image grids."""
    from rich.console import Console
    from rich.markup import escape

    from uno_bench.report import build_report, fmt, write_report

    if n_boot < 100:
        raise UnoError(f"--bootstrap {n_boot} is too few resamples for a 95% percentile interval; use >= 1000")
    if not 0.5 <= level < 1:
        raise UnoError(f"--level must be in [0.5, 1), got {level}")
    loaded, base_label = _resolve_runs(runs or [], group or [], baseline)
    report = build_report(loaded, base_label, n_boot, seed, level)
    written = write_report(report, out, _formats(formats), grid_prompts, thumb_size)
    console = Console(highlight=False)
    for suite in report.suites:
        console.print(f"[bold]{escape(suite.title)}[/] ({escape(suite.suite)})")
        for row in suite.measured:
            cell = row.cells["overall"]
            line = (f"  {escape(row.label)}: overall {fmt.cell_value(cell, suite.digits)} "
                    f"{fmt.interval(cell.low, cell.high, suite.digits)}  coverage {fmt.coverage(row)}")
            if row.comparison:
                line += f"  Δ {fmt.paired(row.comparison.paired.overall, suite.digits)}"
            if row.flags:
                line += f"  [yellow]⚠ {escape('; '.join(row.flags))}[/]"
            console.print(line, soft_wrap=True)
    for path in written:
        console.print(f"wrote {escape(str(path))}")


def _manifest(path: Path) -> dict:
    from uno_bench.runs.manifest import MANIFEST, load, upgrade

    if path.is_file():
        try:
            return upgrade(json.loads(path.read_text()))
        except json.JSONDecodeError as exc:
            raise UnoError(f"{path} is not valid JSON ({exc.msg})") from None
    found = load(path)
    if found is None:
        raise UnoError(f"{path} has no {MANIFEST}: give a run dir or a manifest.json")
    return found


@app.command("diff-manifest")
def diff_manifest_command(
    run_a: Path = typer.Argument(..., help="A run dir (or its manifest.json)."),
    run_b: Path = typer.Argument(..., help="Another run dir (or manifest.json)."),
) -> None:
    """List every difference between two runs' manifests, the ones that move numbers first."""
    from uno_bench.report.settings import manifest_differences

    diffs = manifest_differences(_manifest(run_a), _manifest(run_b))
    if not diffs:
        typer.echo(f"{run_a} and {run_b}: manifests are identical")
        return
    moving = [d for d in diffs if d.moves_numbers]
    typer.echo(f"{run_a} -> {run_b}: {len(diffs)} difference(s), {len(moving)} that move numbers")
    for title, group in (("moves numbers:", moving), ("expected to differ / informational:",
                                                      [d for d in diffs if not d.moves_numbers])):
        if group:
            typer.echo(title)
            for d in group:
                typer.echo(f"  [{d.kind}] {d.text}")
