"""Model names -> adapter loaders, imported lazily (listing models never imports torch or BAGEL).

A loader is `load_adapter(ckpt, settings, device="cpu", **options) -> ModelAdapter`, where `ckpt`
is whatever locates the weights (a directory, `tiny`, a folder of images for `folder`) and
`settings` are the sampler settings of the run (suite defaults + the user's overrides), and `device`
is `cuda:<local rank>` under torchrun with NCCL, else the user's `--device` (default "auto": the
adapter picks, e.g. CUDA when available). `identity()` must not depend on the device or the rank:
ranks must agree on it (it names the default run dir and is compared across ranks).
"""

from __future__ import annotations

from typing import Any

from uno_bench.errors import UnoError
from uno_bench.models.adapter import ModelAdapter
from uno_bench.models.settings import SamplerSettings
from uno_bench.registry import Registry

MODELS: Registry[Any] = Registry("model")
MODELS.register(
    "bagel", "uno_bench.models.bagel.adapter:load_adapter", aliases=("bagel-7b-mot",),
    help="BAGEL-family checkpoint: --ckpt DIR (official layout), --ckpt OWNER/NAME[@REVISION] (Hugging Face Hub) "
    "or --ckpt tiny (the embedded CPU model)",
)
MODELS.register(
    "folder", "uno_bench.models.folder:load_adapter", aliases=("images",),
    help="reads existing images from --ckpt DIR laid out like the suite (score another tool's output)",
)
MODELS.register(
    "shapes-oracle", "uno_bench.models.shapes_oracle:load_adapter", aliases=("oracle",),
    help="renders shapes-suite prompts exactly: a perfect model, to check the judges and the harness",
)


def resolve_model_name(model: str | None, ckpt: str | None) -> str:
    """--model wins; otherwise a --ckpt (a directory or `tiny`) means a BAGEL checkpoint."""
    if model:
        return MODELS.canonical(model)
    if ckpt:
        return "bagel"
    raise UnoError("say which model to run: --ckpt DIR (a BAGEL checkpoint), --ckpt tiny, or --model NAME")


def load_model(
    model: str | None, ckpt: str | None, settings: SamplerSettings, device: str = "cpu", **options: str
) -> ModelAdapter:
    name = resolve_model_name(model, ckpt)
    loader = MODELS.get(name)
    return loader(ckpt, settings, device=device, **options)
