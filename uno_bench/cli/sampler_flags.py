"""One vocabulary for sampler settings on every command (`generate`, `edit`, `run`): the flags are the
`SamplerSettings` field names, as in BAGEL's inferencer and in every run manifest.

The short spellings `generate` used to take (--steps, --shift, --cfg-text, --cfg-img, --renorm,
--renorm-min) still work as hidden aliases: click's `token_normalize_func` maps them onto the canonical
option names before parsing, so they never show in --help and need no parameter of their own.
"""

from __future__ import annotations

from typing import Any, Literal

import typer

from uno_bench.errors import UnoError

ALIASES = {
    "steps": "num-timesteps", "shift": "timestep-shift", "cfg-text": "cfg-text-scale",
    "cfg-img": "cfg-img-scale", "renorm": "cfg-renorm-type", "renorm-min": "cfg-renorm-min",
}
RENORM_TYPES = ("global", "channel", "text_channel")


def normalize(name: str) -> str:
    return ALIASES.get(name, name)


# Per command (never on the root app: a context passes it on to its subcommands, and uno-train's
# --steps means training steps).
CONTEXT: dict[str, Any] = {"token_normalize_func": normalize, "help_option_names": ["-h", "--help"]}

Defaults = Literal["t2i", "edit", "suite"]
FIELDS = ("num_timesteps", "timestep_shift", "cfg_text_scale", "cfg_img_scale", "cfg_interval", "cfg_renorm_type",
          "cfg_renorm_min", "width", "height")


def _show(value: object) -> str:
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)


def suite_defaults(name: str) -> str:
    """'50 in every suite' or 'text_channel for gedit, imgedit, ...; global for the rest', from the specs."""
    try:
        from uno_bench.suites.spec import load_specs

        specs = load_specs()
    except Exception:  # --help must work even where the suite specs cannot be read
        return "the suite's"
    by_value: dict[str, list[str]] = {}
    for spec in specs.values():
        by_value.setdefault(_show(getattr(spec.generation, name)), []).append(spec.name)
    if len(by_value) == 1:
        return f"{next(iter(by_value))} in every suite"
    common = max(by_value, key=lambda v: len(by_value[v]))  # named last, as "the rest", to keep --help short
    rare = [f"{v} for {', '.join(sorted(names))}" for v, names in by_value.items() if v != common]
    return "; ".join(rare) + f"; {common} for the rest"


def _default(name: str, defaults: Defaults) -> str:
    from uno_bench.models.settings import EDIT_DEFAULTS, SamplerSettings

    if defaults == "suite":
        return f"suite default: {suite_defaults(name)}"
    settings = EDIT_DEFAULTS if defaults == "edit" else SamplerSettings()
    return f"default {_show(getattr(settings, name))}, BAGEL's {'edit' if defaults == 'edit' else 'T2I'} setting"


HELP = {
    "num_timesteps": "Points of the shifted timestep schedule (N points = N-1 network evaluations)",
    "timestep_shift": "Timestep shift s in s*t/(1+(s-1)*t)",
    "cfg_text_scale": "Text guidance scale (<= 1 disables it)",
    "cfg_img_scale": "Image guidance scale",
    "cfg_interval": "LO,HI: guide only when LO < t <= HI",
    "cfg_renorm_type": "CFG renorm: global, channel or text_channel",
    "cfg_renorm_min": "Lower clamp of the renorm scale",
    "width": "Image width in pixels, a multiple of the latent stride (16 for BAGEL)",
    "height": "Image height in pixels, a multiple of the latent stride",
}


def option(name: str, defaults: Defaults, note: str = "") -> Any:
    """The typer option for sampler field `name`, its help ending with the default that applies."""
    flag = "--" + name.replace("_", "-")
    return typer.Option(None, flag, help=f"{HELP[name]} ({_default(name, defaults)}{note}).")


def options(defaults: Defaults) -> dict[str, Any]:
    return {name: option(name, defaults) for name in FIELDS}


def parse_interval(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise UnoError(f"--cfg-interval must look like LO,HI (e.g. 0.4,1.0), got {text!r}") from None
    if not 0.0 <= lo <= hi <= 1.0:
        raise UnoError(f"--cfg-interval needs 0 <= LO <= HI <= 1, got {text!r}")
    return lo, hi


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UnoError(f"--size must look like WIDTHxHEIGHT (e.g. 1024x1024), got {text!r}") from None
    if w <= 0 or h <= 0:
        raise UnoError(f"--size must be positive, got {text!r}")
    return w, h


# `--size WxH`: the old spelling of --width W --height H, kept working but out of --help.
SIZE = typer.Option(None, "--size", hidden=True, help="WIDTHxHEIGHT (same as --width W --height H).")


def overrides(num_timesteps: int | None = None, timestep_shift: float | None = None,
              cfg_text_scale: float | None = None, cfg_img_scale: float | None = None,
              cfg_interval: str | None = None, cfg_renorm_type: str | None = None,
              cfg_renorm_min: float | None = None, width: int | None = None, height: int | None = None,
              size: str | None = None) -> dict[str, Any]:
    """The flags given, checked, as SamplerSettings overrides (flags left out are absent)."""
    if cfg_renorm_type is not None and cfg_renorm_type not in RENORM_TYPES:
        raise UnoError(f"--cfg-renorm-type must be global, channel or text_channel, got {cfg_renorm_type!r}")
    if num_timesteps is not None and num_timesteps < 2:
        raise UnoError("--num-timesteps must be at least 2 (N points = N-1 network evaluations)")
    if size is not None:
        if width is not None or height is not None:
            raise UnoError("give --width/--height or --size, not both")
        width, height = parse_size(size)
    for flag, value in (("--width", width), ("--height", height)):
        if value is not None and value <= 0:
            raise UnoError(f"{flag} must be positive, got {value}")
    found = dict(num_timesteps=num_timesteps, timestep_shift=timestep_shift, cfg_text_scale=cfg_text_scale,
                 cfg_img_scale=cfg_img_scale, cfg_interval=parse_interval(cfg_interval) if cfg_interval else None,
                 cfg_renorm_type=cfg_renorm_type, cfg_renorm_min=cfg_renorm_min, width=width, height=height)
    return {k: v for k, v in found.items() if v is not None}
