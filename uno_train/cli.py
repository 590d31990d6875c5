"""`uno-train`: pre-training the tiny default, UNO post-training, ablations."""

from __future__ import annotations

from pathlib import Path

import typer

from uno_bench.cli import run_app
from uno_bench.errors import UnoError

app = typer.Typer(
    name="uno-train",
    help="Training for BAGEL-family models: the tiny shapes model from scratch, UNO post-training, ablations.",
    no_args_is_help=True, pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks instead of one-line errors.")) -> None:
    """Options before the command apply to every command."""


@app.command()
def pretrain(
    preset: str = typer.Option("tiny-shapes", "--preset", help="Recipe name (tiny-shapes: the embedded default)."),
    out: Path = typer.Option(..., "--out", help="Output folder: checkpoints, metrics, and the final BAGEL folder."),
    scale: float = typer.Option(1.0, "--scale", help="Shorten every phase by this factor (e.g. 0.01 for a smoke run)."),
    steps: int = typer.Option(None, "--steps", help="Override the number of model training steps."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue an interrupted run in OUT."),
    threads: int = typer.Option(None, "--threads", help="torch CPU threads (default: torch's choice)."),
) -> None:
    """Train a model from scratch (the autoencoder, then understanding + generation together)."""
    import torch

    from uno_train.presets import PRESETS
    from uno_train.pretrain import pretrain as run

    if preset not in PRESETS:
        raise UnoError(f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    if scale <= 0:
        raise UnoError("--scale must be positive")
    if threads:
        torch.set_num_threads(threads)
    recipe = PRESETS[preset](scale)
    if steps is not None:
        recipe.train.steps = steps
    result = run(recipe, out, resume=resume, log=typer.echo)
    s = result["seconds"]
    typer.echo(f"done in {s['total'] / 60:.1f} min (autoencoder {s['vae'] / 60:.1f}, model {s['train'] / 60:.1f}); "
               f"held-out caption exact match {result['caption_exact_match_heldout']['exact_match']:.3f}")
    typer.echo(f"checkpoint: {out}  (uno-bench run shapes --ckpt {out})")


def main() -> None:
    run_app(app, ())
