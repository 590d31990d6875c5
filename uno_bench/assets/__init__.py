"""Files shipped inside the package: the embedded tiny checkpoint (`--ckpt tiny`)."""

from __future__ import annotations

from pathlib import Path

from uno_bench.errors import UnoError

ASSETS = Path(__file__).resolve().parent
TINY_DIR = ASSETS / "tiny"


def tiny_checkpoint_dir() -> Path:
    if not (TINY_DIR / "ema.safetensors").exists():
        raise UnoError(
            "the embedded tiny checkpoint is not in this installation; build it with "
            "`uno-train pretrain --preset tiny-shapes --out DIR` and pass --ckpt DIR"
        )
    return TINY_DIR
