"""`uno-bench quickstart`: benchmark, UNO ablation and report on the embedded tiny model."""

from __future__ import annotations

from pathlib import Path

import typer

from uno_bench.cli import app
from uno_bench.errors import UnoError


@app.command()
def quickstart(
    out: Path = typer.Option(Path("runs/quickstart"), "--out", help="Where runs, checkpoints and the report go."),
    ckpt: str = typer.Option("tiny", "--ckpt", help="Checkpoint to start from (default: the embedded tiny model)."),
    budget: str = typer.Option("full", "--budget", help="full (about 10 min on 2 CPU cores) or ci (a smoke run)."),
) -> None:
    """Run the whole mission on a CPU: the shapes suite on the tiny model, a short UNO ablation
    (control vs captioning), and one comparison report in Markdown, CSV and HTML; prints its table."""
    from uno_bench.quickstart import BUDGETS
    from uno_bench.quickstart import quickstart as run
    from uno_bench.report.terminal import print_report

    if budget not in BUDGETS:
        raise UnoError(f"--budget must be one of {', '.join(BUDGETS)}")
    result = run(out, ckpt, budget, log=typer.echo)
    print_report(result.report)
    typer.echo(f"done in {result.seconds / 60:.1f} min. Report: {result.html or out / 'report'}")
