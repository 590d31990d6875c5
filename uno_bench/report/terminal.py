"""The report's headline on the terminal (rich): per suite the verdict line, then the table, the same
numbers as report.md / report.csv because it renders the same `Report` object."""

from __future__ import annotations

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from uno_bench.report import fmt
from uno_bench.report.model import OVERALL, Report, Row, SuiteReport
from uno_bench.report.verdict import suite_verdict


def _label(row: Row, compared: bool) -> Text:
    suffix = " (baseline)" if compared and row.role == "baseline" and row.label != "baseline" else ""
    return Text(row.label + suffix)


def _table(title: str | None) -> Table:
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)


def suite_tables(suite: SuiteReport, level: float, width: int) -> list[Table]:
    """One table (run, categories, overall, CI, Δ, coverage); two narrower ones when that one is wider
    than the terminal: numbers are never folded or cut."""
    d = suite.digits
    compared = any(r.comparison for r in suite.rows)
    pct = f"{int(round(level * 100))}%"
    cats = suite.columns[:-1]

    def build(title: str | None, categories: bool, headline: bool) -> Table:
        table = _table(title)
        table.add_column("run", overflow="fold", min_width=min(12, max(len(r.label) for r in suite.rows)))
        if categories:
            for col in cats:  # the header may wrap at its spaces; min_width keeps the numbers whole
                table.add_column(col.replace("_", " "), justify="right", min_width=5)
        if headline:
            table.add_column("overall", justify="right", style="bold", no_wrap=True)
            table.add_column(f"{pct} CI", justify="right", no_wrap=True)
            if compared:
                table.add_column(f"Δ, paired {pct} CI", justify="right", no_wrap=True)
            table.add_column("coverage", justify="right", no_wrap=True)
        for row in suite.rows:
            overall = row.cells[OVERALL]
            cells = [fmt.cell_value(row.cells.get(c), d) for c in cats] if categories else []
            if headline:
                cells += [fmt.cell_value(overall, d), fmt.interval(overall.low, overall.high, d)]
                if compared:
                    cells.append(fmt.paired(row.comparison.paired.overall, d) if row.comparison else "")
                cells.append(fmt.coverage(row))
            table.add_row(_label(row, compared), *cells, style="dim italic" if row.published else None)
        return table

    title = f"{suite.title} ({suite.suite}): {suite.metric}"
    full = build(title, True, True)
    measure = Console(width=10_000).measure(full)
    if measure.maximum <= width or not cats:
        return [full]
    return [build(title, False, True), build(None, True, False)]


def renderable(report: Report, width: int) -> Group:
    parts: list = [Text(report.title, style="bold")]
    for suite in report.suites:
        parts += [Text(suite_verdict(suite)), *suite_tables(suite, report.level, width)]
    return Group(*parts)


def print_report(report: Report, console: Console | None = None) -> None:
    """Plain text when stdout is not a terminal (pipes and logs keep the table, without colour codes)."""
    if console is None:
        console = Console(highlight=False)
        if not console.is_terminal:  # rich assumes 80 columns off a terminal: a log would get a split table
            console = Console(highlight=False, width=max(console.width, 200))
    console.print(renderable(report, console.width))
