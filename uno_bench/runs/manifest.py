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

One escape, explicit and recorded: when uno's git commit is the only difference (a `git pull` during a
long run), `allow_code_change=True` (CLI `--allow-code-change`) continues the run. The first commit stays
in `environment.git_commit`; each accepted one is appended to `environment.later_commits` ({git_commit,
git_dirty, stage, time}; the list itself is not compared) and a warning is printed. Later stages compare
against the latest commit recorded, so a run continued under commit B goes on under B without the flag.
Reports note such a run ("made across N uno commits").

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
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError
from uno_bench.runs.atomic import write_json
from uno_bench.runs.progress import note

MANIFEST = "manifest.json"
VERSION = 1
_PACKAGES = ("uno", "torch", "transformers", "numpy", "pillow", "diffusers", "open_clip_torch")
_NOT_COMPARED = {("environment", "git_dirty")}
CODE_CHANGE_FLAG = "--allow-code-change"
_COMMIT_PATH = "environment.git_commit"


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


def commits(found: dict[str, Any]) -> list[str | None]:
    """The uno commits a run was made with, in order: the first, then each accepted later one."""
    env = found.get("environment") or {}
    return [env.get("git_commit"), *(entry.get("git_commit") for entry in env.get("later_commits") or [])]


def short_commit(commit: str | None) -> str:
    return commit[:12] if commit else "unknown"


def _as_compared(current: dict[str, Any]) -> dict[str, Any]:
    """The manifest as later stages compare it: the commit is the latest accepted one, the list is history."""
    env = current.get("environment")
    if not isinstance(env, dict) or "later_commits" not in env:
        return current
    env = {k: v for k, v in env.items() if k != "later_commits"}
    env["git_commit"] = commits(current)[-1]
    return {**current, "environment": env}


def _differences(current: dict[str, Any], sections: dict[str, Any]) -> list[str]:
    """Differences of the sections both have, shallow (telling) paths first."""
    diffs = []
    for name, value in sections.items():
        if name in current:
            diffs.extend(differences({name: current[name]}, {name: value}))
    return sorted(diffs, key=lambda d: (d.partition(":")[0].count("."), d))


def _only_commit(diffs: list[str]) -> bool:
    return bool(diffs) and all(d.partition(": ")[0] == _COMMIT_PATH for d in diffs)


def _refusal(run_dir: Path, diffs: list[str]) -> str:
    shown = "; ".join(diffs[:8]) + (f"; and {len(diffs) - 8} more" if len(diffs) > 8 else "")
    message = (f"{run_dir} was made with different settings ({shown}); "
               "use another --run-dir (or the same settings) so results are never mixed")
    if _only_commit(diffs):  # the one difference a user may knowingly accept: say how
        message += (f"; if only uno's code changed, continue it under this commit (recorded in its manifest) "
                    f"with {CODE_CHANGE_FLAG}")
    return message


def _with_later_commit(current: dict[str, Any], env: dict[str, Any], stage: str) -> dict[str, Any]:
    """`current` with uno's present commit appended to environment.later_commits; the first commit is kept."""
    entry = {"git_commit": env.get("git_commit"), "git_dirty": env.get("git_dirty"), "stage": stage,
             "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    old_env = current["environment"]
    return {**current, "environment": {**old_env, "later_commits": [*old_env.get("later_commits", []), entry]}}


def _warn_code_change(run_dir: Path, before: str | None, now: str | None) -> None:
    from rich.markup import escape

    note("[yellow]" + escape(f"warning: {run_dir} was made with uno commit {short_commit(before)}; continuing it "
                             f"under {short_commit(now)} ({CODE_CHANGE_FLAG}, recorded in {MANIFEST} "
                             "environment.later_commits)") + "[/]", soft_wrap=True)


def reconcile(run_dir: Path, sections: dict[str, Any], write: bool = True, *, allow_code_change: bool = False,
              stage: str = "") -> dict[str, Any]:
    """Check `sections` against the run dir's manifest; add the missing ones; refuse any difference.

    With write=False (ranks other than 0) nothing is written: rank 0 has written it already.
    With allow_code_change, a different uno commit alone is accepted and recorded under `stage`.
    """
    sections = _normalise(sections)
    loaded = load(run_dir)
    if loaded is None and not write:
        raise UnoError(
            f"{run_dir}/{MANIFEST} is missing on this rank: ranks disagree on the run dir or do not share "
            "its storage (a model identity must not depend on the device or rank)"
        )
    current = original = loaded or {"manifest_version": VERSION}
    unknown = _unknown_spec(run_dir, current, sections)
    if unknown:
        raise UnoError(unknown)
    diffs = _differences(_as_compared(current), sections)
    if diffs and not (allow_code_change and _only_commit(diffs)):
        raise UnoError(_refusal(run_dir, diffs))
    if diffs:
        current = _with_later_commit(current, sections["environment"], stage)
        if write:
            _warn_code_change(run_dir, commits(current)[-2], commits(current)[-1])
    merged = {**current, **{k: v for k, v in sections.items() if k not in current}}
    if write and merged != original:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(run_dir / MANIFEST, merged)
    return merged


def reconcile_ranks(run_dir: Path, sections: dict[str, Any], dist: Any, *, allow_code_change: bool = False,
                    stage: str = "") -> dict[str, Any]:
    """Rank 0 reconciles and writes; after a barrier every other rank checks the same sections
    (a code change rank 0 accepted is then the latest commit, so they see no difference)."""
    if dist.is_main:
        merged = reconcile(run_dir, sections, allow_code_change=allow_code_change, stage=stage)
    dist.barrier()
    if not dist.is_main:
        merged = reconcile(run_dir, sections, write=False, allow_code_change=allow_code_change, stage=stage)
    return merged
