"""Which `--judge-option` pairs belong to which judge.

The GenEval suite hands the same judge options to its detector and its colour judge, so a judge's
own keys are written with its name in front (`mask2former.weights=PATH`, `clip.weights=PATH`; any
registered name or alias works as the prefix). Plain keys are the ones every judge understands
(`device`) plus the few a suite passes on by name (`bgcolor`, `crop` for the colour judge). Keys
prefixed with another registered judge's name are left to that judge; anything else is an error.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from uno_bench.errors import UnoError

SHARED_KEYS = ("device",)


def own_options(
    names: tuple[str, ...],
    options: Mapping[str, str],
    keys: Collection[str],
    plain: Collection[str] = SHARED_KEYS,
) -> dict[str, str]:
    """This judge's options as {key: value}: `<name>.<key>` for any of `names` (the first one is
    used in messages), plus the `plain` keys."""
    from uno_bench.judges.registry import JUDGES

    mine = {n.lower() for n in names}
    label = names[0]
    taken: dict[str, str] = {}
    for raw_key, value in options.items():
        prefix, dot, key = raw_key.partition(".")
        if dot:
            if prefix.lower() in mine:
                if key not in keys:
                    raise UnoError(
                        f"judge '{label}' has no option '{key}' (it takes: "
                        + ", ".join(f"{label}.{k}" for k in sorted(keys)) + ")"
                    )
                taken[key] = value
            elif prefix.lower() not in JUDGES:
                raise UnoError(f"--judge-option {raw_key}: '{prefix}' is not a judge name")
            continue  # another judge's option
        if raw_key in plain:
            taken[raw_key] = value
        elif raw_key in keys:
            raise UnoError(
                f"--judge-option {raw_key}=...: judge options go to every judge; "
                f"write {label}.{raw_key}=... to say which judge it is for"
            )
        else:
            raise UnoError(
                f"judge '{label}' takes no option '{raw_key}' (it takes: "
                + ", ".join([*(f"{label}.{k}" for k in sorted(keys)), *sorted(plain)]) + ")"
            )
    return taken


def parse_bool(key: str, raw: str) -> bool:
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise UnoError(f"{key}={raw!r}: expected 1 or 0")


def parse_int(key: str, raw: str, minimum: int = 1) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise UnoError(f"{key}={raw!r}: expected an integer") from None
    if value < minimum:
        raise UnoError(f"{key}={raw!r}: must be at least {minimum}")
    return value
