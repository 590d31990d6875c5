"""How a `post-train` / `ablate` run is launched at full size: a TOML config file under the flags,
the batch split (micro-batch x accumulation x ranks = batch size), the device and the torchrun group.

A config file holds any option of the command, by its flag name (`micro-batch = 4`, `fsdp = true`,
`precision = "bf16"`; dashes or underscores); a flag given on the command line wins over the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError


def read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            raise UnoError("--config needs Python 3.11+ or the tomli package (pip install tomli)") from None
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise UnoError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UnoError(f"{path} is not valid TOML: {exc}") from None


def _key(text: str) -> str:
    return text.lstrip("-").replace("-", "_")


def apply_config_file(ctx, params: dict[str, Any], path: Path | None) -> tuple[dict[str, Any], set[str]]:
    """(`params` — the command's arguments — with every value still at its default taken from the TOML
    file, the names taken); unknown keys are refused, naming the known ones."""
    if path is None:
        return params, set()
    raw = read_toml(Path(path))
    names: dict[str, str] = {}
    for p in ctx.command.params:
        if p.name == "config" or p.name is None:
            continue
        names[_key(p.name)] = p.name
        for opt in p.opts:  # not the secondary `--no-X` of a boolean flag: `no-fsdp = true` would read as fsdp
            names.setdefault(_key(opt), p.name)
    out, taken = dict(params), set()
    for key, value in raw.items():
        name = names.get(_key(key))
        if name is None:
            known = ", ".join(sorted(k.replace("_", "-") for k in names))
            raise UnoError(f"{path}: unknown option {key!r} (known: {known})")
        source = ctx.get_parameter_source(name)
        if source is None or source.name in ("DEFAULT", "DEFAULT_MAP"):
            out[name] = value
            taken.add(name)
    return out, taken


def resolve_batch(batch_size: int, micro_batch: int | None, grad_accum: int | None, world: int,
                  batch_given: bool = True) -> tuple[int, int, int]:
    """(batch size, micro-batch, accumulation steps) with micro-batch x accumulation x ranks = batch size."""
    for flag, v in (("--batch-size", batch_size), ("--micro-batch", micro_batch), ("--grad-accum", grad_accum)):
        if v is not None and v < 1:
            raise UnoError(f"{flag} must be at least 1 (got {v})")
    ranks = f"{world} rank{'s' if world != 1 else ''}"
    if micro_batch is not None and grad_accum is not None:
        product = micro_batch * grad_accum * world
        if batch_given and product != batch_size:
            raise UnoError(f"--micro-batch {micro_batch} x --grad-accum {grad_accum} x {ranks} = {product}, but "
                           f"--batch-size is {batch_size}: give two of the three, or make them agree")
        return product, micro_batch, grad_accum
    if micro_batch is None and grad_accum is None:
        grad_accum = 1
    if micro_batch is None:
        if batch_size % (grad_accum * world):
            raise UnoError(f"--batch-size {batch_size} is not a multiple of --grad-accum {grad_accum} x {ranks}")
        return batch_size, batch_size // (grad_accum * world), grad_accum
    if batch_size % (micro_batch * world):
        raise UnoError(f"--batch-size {batch_size} is not a multiple of --micro-batch {micro_batch} x {ranks}")
    return batch_size, micro_batch, batch_size // (micro_batch * world)


def env_world_size() -> int:
    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


def is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def make_dist(fsdp: bool, device: str):
    """The torchrun group (--fsdp) or one process on `device` (auto: cuda when available)."""
    import torch

    from uno_train import distributed

    world = env_world_size()
    if world > 1 and not fsdp:
        raise UnoError(f"started with {world} ranks (torchrun) but without --fsdp: add --fsdp to shard the model "
                       "over them (plain data parallelism without sharding is not offered)")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UnoError(f"--device {device}: no CUDA device is visible")
    if fsdp:
        return distributed.init_from_env(device)
    return distributed.Dist(0, 1, torch.device(device))
