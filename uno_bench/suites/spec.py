"""Suite specs: the declarative half of a suite, one TOML file per benchmark in the top-level `suites/`.

Where the specs are found (first match wins):
1. a source checkout: `<repo>/suites/*.toml`, next to `<repo>/pyproject.toml` and `<repo>/uno_bench/`;
2. an installed package: the wheel ships the same files as data files under `<prefix>/share/uno/suites/`
   (pyproject `[tool.setuptools.data-files]`), located through the `uno` distribution's file list.
Specs are small, frozen and parsed without importing any benchmark code (listing never imports torch).

A spec's hash (`content_sha256`, recorded in every run manifest) covers its *binding* content only: the
parsed TOML without the documentation fields `DOC_FIELDS` (display title, aliases, notes, where values come
from, published numbers to compare with) and without comments. Fixing a citation or a note therefore leaves
run dirs valid; changing a setting, a data file, the version or anything else that decides a run does not.
Manifests written before this rule recorded the sha256 of the whole file (`spec_sha256`); `LEGACY_FILE_HASHES`
maps those of every released spec version to its content hash (see uno_bench/runs/manifest.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError
from uno_bench.models.settings import SamplerSettings

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

_TOP_KEYS = {
    "name", "aliases", "title", "version", "task", "implementation", "images_per_prompt", "default_judge",
    "layout", "metric", "categories", "upstream", "data", "generation", "reference", "generator", "data_note",
}
_DATA_KEYS = {"key", "path", "url", "sha256", "git_blob", "bytes", "optional", "note"}
_REFERENCE_KEYS = {"model", "metric", "value", "source", "prompts", "note", "categories"}
# Documentation, left out of the spec hash: top-level keys, and keys inside [generation] and each [[data]].
# [[reference]] numbers are what a report compares with; they are read from the spec in use when the
# report is made and never decide what a run generates or how it is scored.
DOC_FIELDS = {
    "top": {"title", "aliases", "data_note", "reference"}, "generation": {"source"}, "data": {"note"},
}


@dataclass(frozen=True)
class DataFile:
    """One official data file: where it lives under a data dir, where it comes from, how to verify it."""

    key: str  # the name suite code asks for
    path: str  # relative to a data dir laid out like ../shared/suites
    url: str | None = None
    sha256: str | None = None
    git_blob: str | None = None  # some upstreams publish only the git blob id (e.g. DPG-Bench's CSV)
    bytes: int | None = None
    optional: bool = False
    note: str = ""

    @property
    def verifiable(self) -> bool:
        return bool(self.sha256 or self.git_blob)


@dataclass(frozen=True)
class Reference:
    """A published number to compare with, always with its source."""

    model: str
    metric: str
    value: float
    source: str
    prompts: str = ""
    note: str = ""
    categories: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    title: str
    version: str
    task: str  # "t2i" or "edit"
    images_per_prompt: int
    default_judge: str
    generation: SamplerSettings
    generation_source: str
    aliases: tuple[str, ...] = ()
    implementation: str | None = None  # "module:Class"; None while only the spec exists
    layout: str = ""
    metric: str = ""
    data_note: str = ""
    categories: tuple[str, ...] = ()
    upstream: dict[str, str] = field(default_factory=dict)
    data: tuple[DataFile, ...] = ()
    references: tuple[Reference, ...] = ()
    generator: dict[str, Any] = field(default_factory=dict)
    source_path: str = ""
    content_sha256: str = ""  # of the binding content (`content_sha256`): recorded in run manifests

    def data_file(self, key: str) -> DataFile:
        for df in self.data:
            if df.key == key:
                return df
        raise UnoError(f"suite '{self.name}' has no data file '{key}' (has: {', '.join(d.key for d in self.data)})")


def _check_keys(where: str, table: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise UnoError(f"{where}: unknown key(s) {', '.join(unknown)}")


def binding_content(raw: dict[str, Any]) -> dict[str, Any]:
    """A parsed spec without its documentation fields (`DOC_FIELDS`)."""
    out = {k: v for k, v in raw.items() if k not in DOC_FIELDS["top"]}
    if isinstance(out.get("generation"), dict):
        out["generation"] = {k: v for k, v in out["generation"].items() if k not in DOC_FIELDS["generation"]}
    if isinstance(out.get("data"), list):
        out["data"] = [{k: v for k, v in item.items() if k not in DOC_FIELDS["data"]} for item in out["data"]]
    return out


def content_sha256(raw: dict[str, Any]) -> str:
    """sha256 of the binding content as canonical JSON (sorted keys): key order, layout, comments and
    documentation fields do not change it."""
    canonical = json.dumps(binding_content(raw), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_spec(text: str, source: str = "<string>") -> SuiteSpec:
    """Parse one TOML spec; every mistake is a one-line UnoError naming the file."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UnoError(f"{source}: invalid TOML: {exc}") from exc
    _check_keys(source, raw, _TOP_KEYS)
    for required in ("name", "title", "version", "task", "images_per_prompt", "default_judge", "generation"):
        if required not in raw:
            raise UnoError(f"{source}: missing required key '{required}'")
    gen = dict(raw["generation"])
    gen_source = gen.pop("source", "")
    if "cfg_interval" in gen:
        gen["cfg_interval"] = tuple(gen["cfg_interval"])
    try:
        settings = SamplerSettings(**gen)
    except TypeError as exc:
        raise UnoError(f"{source}: [generation]: {exc}") from exc
    data = []
    for entry in raw.get("data", []):
        _check_keys(f"{source} [[data]]", entry, _DATA_KEYS)
        data.append(DataFile(**entry))
    refs = []
    for entry in raw.get("reference", []):
        _check_keys(f"{source} [[reference]]", entry, _REFERENCE_KEYS)
        refs.append(Reference(**entry))
    return SuiteSpec(
        name=raw["name"],
        title=raw["title"],
        version=str(raw["version"]),
        task=raw["task"],
        images_per_prompt=int(raw["images_per_prompt"]),
        default_judge=raw["default_judge"],
        generation=settings,
        generation_source=gen_source,
        aliases=tuple(raw.get("aliases", ())),
        implementation=raw.get("implementation"),
        layout=raw.get("layout", ""),
        metric=raw.get("metric", ""),
        data_note=raw.get("data_note", ""),
        categories=tuple(raw.get("categories", ())),
        upstream=dict(raw.get("upstream", {})),
        data=tuple(data),
        references=tuple(refs),
        generator=dict(raw.get("generator", {})),
        source_path=source,
        content_sha256=content_sha256(raw),
    )


def _checkout_dir() -> Path | None:
    import uno_bench

    repo = Path(uno_bench.__file__).resolve().parent.parent
    specs = repo / "suites"
    if (repo / "pyproject.toml").is_file() and any(specs.glob("*.toml")):
        return specs
    return None


def _installed_files() -> list[Path]:
    from importlib import metadata

    try:
        files = metadata.files("uno") or []
    except metadata.PackageNotFoundError:
        return []
    return [
        Path(str(f.locate())).resolve()
        for f in files
        if f.suffix == ".toml" and tuple(f.parts[-4:-1]) == ("share", "uno", "suites")
    ]


def spec_files() -> list[Path]:
    """The spec files in use: a source checkout's `suites/`, else the installed package's copies."""
    checkout = _checkout_dir()
    if checkout is not None:
        return sorted(checkout.glob("*.toml"))
    files = [p for p in _installed_files() if p.is_file()]
    if not files:
        raise UnoError("no suite specs found: neither a source checkout's suites/ nor installed share/uno/suites/")
    return sorted(files)


@cache
def load_specs() -> dict[str, SuiteSpec]:
    """All specs by canonical name (parsed once per process)."""
    specs: dict[str, SuiteSpec] = {}
    for path in spec_files():
        spec = parse_spec(path.read_text(encoding="utf-8"), str(path))
        if spec.name in specs:
            raise UnoError(f"suite '{spec.name}' is defined twice ({specs[spec.name].source_path} and {path})")
        specs[spec.name] = spec
    return specs
