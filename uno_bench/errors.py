"""User-facing errors: the CLI prints these as one line on stderr and exits with code 2."""

from __future__ import annotations


class UnoError(Exception):
    """An error caused by the user's input or environment, not by a bug in uno."""


class MissingExtraError(UnoError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, module: str, extra: str, purpose: str = ""):
        what = f" for {purpose}" if purpose else ""
        super().__init__(
            f"the optional dependency '{module}' is needed{what}: pip install 'uno[{extra}]'"
        )


def require(module: str, extra: str, purpose: str = ""):
    """Import an optional module lazily, or raise a MissingExtraError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(module, extra, purpose) from exc
