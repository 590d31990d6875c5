"""Suite names (and aliases, with did-you-mean) -> spec + implementation, built from the TOML specs.

The spec names its implementation ("module:Class"); nothing is imported until a suite is loaded,
so `uno-bench suites list` stays fast and torch-free.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from uno_bench.errors import UnoError
from uno_bench.registry import Registry
from uno_bench.suites.base import Suite
from uno_bench.suites.spec import SuiteSpec, load_specs


@cache
def suites() -> Registry[type[Suite]]:
    registry: Registry[type[Suite]] = Registry("suite")
    for spec in load_specs().values():
        registry.register(spec.name, spec.implementation or "", help=spec.title, aliases=spec.aliases)
    return registry


def get_spec(name: str) -> SuiteSpec:
    return load_specs()[suites().canonical(name)]


def load_suite(name: str, data_dir: str | Path | None = None) -> Suite:
    spec = get_spec(name)
    if not spec.implementation:
        raise UnoError(
            f"suite '{spec.name}' has a spec ({spec.source_path}) but no implementation in this version of uno yet"
        )
    cls = suites().get(spec.name)
    return cls(spec, data_dir)
