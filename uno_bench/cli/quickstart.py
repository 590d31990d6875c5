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
    (control vs captioning), and a comparison report in Markdown, CSV and HTML."""
    from uno_bench.quickstart import BUDGETS
    from uno_bench.quickstart import quickstart as run

    if budget not in BUDGETS:
        raise UnoError(f"--budget must be one of {', '.join(BUDGETS)}")
    result = run(out, ckpt, budget, log=typer.echo)
    html = next((p for p in result["report"] if p.endswith(".html")), None)
    typer.echo(f"done in {result['seconds'] / 60:.1f} min. Report: {html or result['report']}")
