"""A small name -> object registry with aliases and "did you mean" suggestions.

Used for suites, judges and models. Entries are registered lazily as import paths
("package.module:attr") so that listing names never imports torch or a judge model.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from uno_bench.errors import UnoError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "module:attribute", imported on first use
    help: str = ""
    aliases: tuple[str, ...] = ()


@dataclass
class Registry(Generic[T]):
    kind: str  # "suite", "judge", "model": used in error messages
    _entries: dict[str, Entry] = field(default_factory=dict)
    _aliases: dict[str, str] = field(default_factory=dict)

    def register(self, name: str, target: str, help: str = "", aliases: tuple[str, ...] = ()) -> None:
        key = name.lower()
        if key in self._entries or key in self._aliases:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        self._entries[key] = Entry(name, target, help, aliases)
        for alias in aliases:
            self._aliases[alias.lower()] = key

    def canonical(self, name: str) -> str:
        key = name.lower()
        key = self._aliases.get(key, key)
        if key not in self._entries:
            known = sorted(set(self._entries) | set(self._aliases))
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnoError(f"unknown {self.kind} '{name}'{hint} (known: {', '.join(sorted(self._entries))})")
        return key

    def entry(self, name: str) -> Entry:
        return self._entries[self.canonical(name)]

    def get(self, name: str) -> T:
        entry = self.entry(name)
        module_name, _, attr = entry.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            # The target itself (or its package) is absent: a registered name whose code is not in
            # this installation yet. A missing third-party import inside it is a different error.
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                raise UnoError(
                    f"{self.kind} '{entry.name}' is registered but not available in this installation "
                    f"(module {module_name} not found)"
                ) from exc
            raise
        try:
            return getattr(module, attr)
        except AttributeError:
            raise UnoError(f"{self.kind} '{entry.name}': {module_name} has no '{attr}'") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries[k] for k in sorted(self._entries))

    def __contains__(self, name: Any) -> bool:
        key = str(name).lower()
        return key in self._entries or key in self._aliases
