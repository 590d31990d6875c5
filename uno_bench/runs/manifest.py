"""manifest.json: everything that decides a run's numbers, so runs are comparable exactly when equal.

Sections, each written by the first stage that needs it and compared by every later one:
  suite        name, version, spec content sha256, data file sha256s, prompts file + sha256, limit,
               images per prompt, sample count and a digest of all samples
  generation   model name + adapter identity, every sampler setting, seed policy + base seed
               (written by `generate`)
  images       where the scored images are: the run's own images/ or an external folder (`score`)
  scoring      judge name, options and identity (written by `score`)
  environment  python and package versions, uno's git commit (compared, except `git_dirty`)
Re-running into a run dir with any differing value is refused with the list of differences:
images or records made under different settings are never mixed.

The suite spec is identified by the sha256 of its binding content (`suite.spec_content_sha256`; see
uno_bench/suites/spec.py), so fixing a spec's comments, notes or citations leaves its run dirs valid.
Manifests from before recorded the whole file's sha256 (`suite.spec_sha256`); `load` translates those of
released spec versions (uno_bench/suites/legacy_hashes.py), and a run dir made with a spec version uno does
not know is refused with a message that says so.
"""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError
from uno_bench.runs.atomic import write_json

MANIFEST = "manifest.json"
VERSION = 1
_PACKAGES = ("uno", "torch", "transformers", "numpy", "pillow", "diffusers", "open_clip_torch")
_NOT_COMPARED = {("environment", "git_dirty")}


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_state() -> dict[str, Any]:
    """Commit and dirtiness of the uno checkout, if uno runs from one (never of the user's cwd)."""
    import uno_bench

    repo = Path(uno_bench.__file__).resolve().parent.parent
    if not (repo / ".git").exists():
        return {"git_commit": None, "git_dirty": None}
    try:
        commit = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit, "git_dirty": bool(status.strip())}


def environment() -> dict[str, Any]:
    return {"python": platform.python_version(), "packages": package_versions(), **git_state()}


def _normalise(obj: Any) -> Any:
    """What the value looks like after a JSON round trip (tuples become lists, keys strings)."""
    return json.loads(json.dumps(obj, sort_keys=True))


def differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Human-readable paths where two JSON values differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in sorted(set(old) | set(new)):
            path = f"{prefix}.{key}" if prefix else str(key)
            if tuple(path.split(".")[:2]) in _NOT_COMPARED:
                continue
            if key not in old:
                out.append(f"{path}: (absent) -> {json.dumps(new[key])}")
            elif key not in new:
                out.append(f"{path}: {json.dumps(old[key])} -> (absent)")
            else:
                out.extend(differences(old[key], new[key], path))
        return out
    if old != new:
        return [f"{prefix}: {json.dumps(old)} -> {json.dumps(new)}"]
    return []


def upgrade(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest in today's terms: a known whole-file spec hash becomes the spec's content hash."""
    from uno_bench.suites.legacy_hashes import LEGACY_FILE_HASHES

    suite = manifest.get("suite")
    if not isinstance(suite, dict) or "spec_sha256" not in suite or "spec_content_sha256" in suite:
        return manifest
    known = LEGACY_FILE_HASHES.get(suite["spec_sha256"])
    if known is None or known[0] != suite.get("name"):
        return manifest  # an unreleased spec version: `reconcile` says so
    upgraded = {("spec_content_sha256" if k == "spec_sha256" else k): (known[1] if k == "spec_sha256" else v)
                for k, v in suite.items()}
    return {**manifest, "suite": upgraded}


def load(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / MANIFEST
    if not path.exists():
        return None
    try:
        return upgrade(json.loads(path.read_text()))
    except json.JSONDecodeError as exc:
        raise UnoError(f"{path} is not valid JSON ({exc.msg}); it was not written by uno") from None


def _unknown_spec(run_dir: Path, current: dict[str, Any], sections: dict[str, Any]) -> str | None:
    """Why a run dir made with a spec version this uno cannot identify is refused (None: it is not)."""
    old, new = current.get("suite"), sections.get("suite")
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return None
    if "spec_sha256" not in old or "spec_content_sha256" not in new:
        return None
    return (
        f"{run_dir} was made with a version of suite spec '{old.get('name')}' that this uno does not know "
        f"(its manifest records the whole file's sha256 {str(old['spec_sha256'])[:12]}..., as uno did before "
        "it hashed only a spec's binding content, and no released spec version has that hash), so whether "
        "its settings match cannot be checked; use another --run-dir, or run the uno version that made it"
    )


def reconcile(run_dir: Path, sections: dict[str, Any], write: bool = True) -> dict[str, Any]:
    """Check `sections` against the run dir's manifest; add the missing ones; refuse any difference.

    With write=False (ranks other than 0) nothing is written: rank 0 has written it already.
    """
    sections = _normalise(sections)
    current = load(run_dir)
    if current is None and not write:
        raise UnoError(
            f"{run_dir}/{MANIFEST} is missing on this rank: ranks disagree on the run dir or do not share "
            "its storage (a model identity must not depend on the device or rank)"
        )
    current = current or {"manifest_version": VERSION}
    unknown = _unknown_spec(run_dir, current, sections)
    if unknown:
        raise UnoError(unknown)
    diffs = []
    for name, value in sections.items():
        if name in current:
            diffs.extend(differences({name: current[name]}, {name: value}))
    if diffs:
        diffs.sort(key=lambda d: (d.partition(":")[0].count("."), d))  # shallow (telling) paths first
        shown = "; ".join(diffs[:8]) + (f"; and {len(diffs) - 8} more" if len(diffs) > 8 else "")
        raise UnoError(
            f"{run_dir} was made with different settings ({shown}); "
            "use another --run-dir (or the same settings) so results are never mixed"
        )
    merged = {**current, **{k: v for k, v in sections.items() if k not in current}}
    if write and merged != current:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / MANIFEST, merged)
    return merged


def reconcile_ranks(run_dir: Path, sections: dict[str, Any], dist: Any) -> dict[str, Any]:
    """Rank 0 reconciles and writes; after a barrier every other rank checks the same sections."""
    if dist.is_main:
        merged = reconcile(run_dir, sections)
    dist.barrier()
    if not dist.is_main:
        merged = reconcile(run_dir, sections, write=False)
    return merged
