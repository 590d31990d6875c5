"""Comparison reports over run dirs: tables (Markdown, CSV, HTML), statistics, per-prompt diffs.

    from uno_bench.report import load_run, build_report, write_report
    runs = [load_run("runs/shapes/base", "base"), load_run("runs/shapes/uno", "uno")]
    report = build_report(runs, baseline="base")
    write_report(report, Path("report"), {"md", "csv", "html"})

Statistics: uno_bench.report.stats (definitions in docs/statistics.md).
"""

from __future__ import annotations

from pathlib import Path

from uno_bench.errors import UnoError
from uno_bench.report.model import Report, build_report
from uno_bench.report.runs import Run, load_run

FORMATS = ("md", "csv", "html")

__all__ = ["FORMATS", "Report", "Run", "build_report", "load_run", "write_report"]


def write_report(report: Report, out: Path, formats: set[str] | tuple[str, ...] = FORMATS,
                 grid_prompts: int | None = None, thumb_size: int | None = None) -> list[Path]:
    """Write the chosen formats into `out`; returns the files written (each written atomically)."""
    from uno_bench.runs.atomic import write_text

    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise UnoError(f"unknown report format(s) {', '.join(sorted(unknown))}; choose from {', '.join(FORMATS)}")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    charts: dict[str, str] = {}
    if {"md", "html"} & set(formats):
        from uno_bench.report.plots import bar_chart_svg

        charts = {s.suite: bar_chart_svg(s) for s in report.suites}
    if "md" in formats:
        from uno_bench.report.markdown import render_markdown

        for suite, svg in charts.items():
            write_text(out / f"{suite}.svg", svg)
            written.append(out / f"{suite}.svg")
        write_text(out / "report.md", render_markdown(report, {s: f"{s}.svg" for s in charts}))
        written.append(out / "report.md")
    if "csv" in formats:
        from uno_bench.report.csvout import write_csv

        written += write_csv(report, out)
    if "html" in formats:
        from uno_bench.report import html

        written.append(html.write_html(report, charts, out, grid_prompts or html.DEFAULT_GRID_PROMPTS,
                                       thumb_size or html.DEFAULT_SIZE))
    return written
