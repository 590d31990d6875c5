"""A training output folder records the command and full configuration that made it (`uno_train.json`).

A later run into the same folder with any other configuration (another --proxy, step count, base
checkpoint, preset, data file) or by the other command (pretrain into a post-train folder) is refused
before anything is written, naming the differing keys, as `uno-bench run` refuses a run dir
(uno_bench/runs/manifest.py). Folders from before this file existed are judged by what they hold:
post_train.json, recipe.json, or the latest checkpoint's trainer_state.json.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from uno_bench.errors import UnoError
from uno_bench.runs.atomic import write_json
from uno_bench.runs.manifest import differences

MANIFEST = "uno_train.json"


def plain(obj: Any) -> Any:
    """A JSON value for a config: dataclasses as dicts, functions by name, tuples as lists."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if callable(obj):
        return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"
    return json.loads(json.dumps(obj, default=str))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return found if isinstance(found, dict) else None


def _legacy(out: Path) -> tuple[str | None, dict[str, Any]] | None:
    """(command, the part of the configuration it recorded) for a folder without a binding uno_train.json."""
    done = _read(out / "post_train.json")
    if done is not None:
        return "post-train", {k: done[k] for k in ("base_checkpoint", "uno", "train", "data") if k in done}
    recipe = _read(out / "recipe.json")
    if recipe is not None and "preset" in recipe:
        return "pretrain", {k: recipe[k] for k in ("preset", "train") if k in recipe}
    latest = out / "latest"
    if latest.is_file():
        state = _read(out / latest.read_text().strip() / "trainer_state.json") or {}
        return None, {"train": state["config"]} if "config" in state else {}
    if (out / "vae" / "vae.json").exists():
        return "pretrain", {}
    return None


def claim(out: Path, command: str, config: dict[str, Any], write: bool = True,
          launch: dict[str, Any] | None = None, extend: bool = False) -> None:
    """Refuse `out` if another command or configuration made it; otherwise record ours (write=True).
    `launch` (device, ranks, micro-batch, config file: how the run was started, not what it computes) is
    recorded beside the configuration, replaced by a run launched otherwise, and never compared.
    `extend` accepts a larger `train.steps` than recorded when nothing else differs and the schedule is
    constant (every step's arithmetic is then the same as in the shorter run), and records the new count."""
    out = Path(out)
    config = plain(config)
    # A record with nothing made under it yet (the first run failed early, e.g. on bad data) binds nothing.
    found = _read(out / MANIFEST) if holds_results(out) else None
    if extend:
        if found is None:
            raise UnoError(f"--extend continues a run, and {out} holds none (drop --extend to start one)")
        found = _extended(out, found, config)
        write_json(out / MANIFEST, found)
    legacy = None if found is not None or (out / MANIFEST).exists() else _legacy(out)
    if found is not None:
        made_by, recorded, mine = found.get("command"), found.get("config", {}), config
    elif legacy is not None:  # compare what the old folder recorded, no more
        made_by, recorded = legacy
        mine = {k: config[k] for k in recorded if k in config}
    else:
        made_by, recorded, mine = None, {}, {}
    if made_by is not None and made_by != command:
        raise UnoError(f"{out} holds a {made_by} run; {command} would mix its files into it: use another --out")
    diffs = differences(recorded, mine)
    if diffs:
        diffs.sort(key=lambda d: (d.partition(":")[0].count("."), d))  # shallow (telling) paths first
        shown = "; ".join(diffs[:6]) + (f"; and {len(diffs) - 6} more" if len(diffs) > 6 else "")
        raise UnoError(f"{out} was made by {made_by or 'uno-train'} with a different configuration ({shown}); "
                       "use another --out, or the same settings to resume or reuse it")
    if write and found is None:
        write_json(out / MANIFEST, {"command": command, "config": config,
                                    **({"launch": plain(launch)} if launch is not None else {})})
    elif write and launch is not None and found.get("launch") != plain(launch):  # a same rerun changes no byte
        write_json(out / MANIFEST, {**found, "launch": plain(launch)})


def _extended(out: Path, found: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The manifest with `train.steps` raised to `config`'s, or an error saying why that would not be
    the same run continued."""
    old_steps = found.get("config", {}).get("train", {}).get("steps")
    new_steps = config.get("train", {}).get("steps")
    if config.get("train", {}).get("schedule") != "constant":
        raise UnoError(f"--extend needs a constant learning-rate schedule (this run's is "
                       f"{config.get('train', {}).get('schedule')!r}: a longer run would change every step's rate)")
    if not isinstance(old_steps, int) or not isinstance(new_steps, int) or new_steps <= old_steps:
        raise UnoError(f"--extend needs more steps than the {old_steps} {out} was made with (got {new_steps})")
    recorded = json.loads(json.dumps(found["config"]))
    recorded["train"]["steps"] = new_steps
    diffs = differences(recorded, config)
    if diffs:
        raise UnoError(f"--extend changes only the step count, and {out} differs in more ({'; '.join(diffs[:6])})")
    return {**found, "config": recorded,
            "extended": [*found.get("extended", []), {"from_steps": old_steps, "to_steps": new_steps}]}


def holds_results(out: Path) -> bool:
    """Whether any training output is in `out`: a checkpoint, a finished result, a trained autoencoder."""
    return any((Path(out) / rel).exists() for rel in ("latest", "checkpoints", "post_train.json", "recipe.json",
                                                      "vae/vae.json"))


@contextmanager
def resume_errors(out: Path) -> Iterator[None]:
    """A checkpoint file that torch's safe loader refuses (e.g. a pickle in place of optimizer.pt) is
    one line naming the checkpoint instead of a long traceback."""
    try:
        with warnings.catch_warnings():  # torch warns about the foreign pickle's protocol before refusing it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            yield
    except pickle.UnpicklingError as exc:
        text = str(exc).partition("Unpickler error:")[2]  # torch's reason follows this marker
        why = next((ln.strip() for ln in text.splitlines() if ln.strip()), "not a weights-only file")
        raise UnoError(f"cannot resume from {_latest(out)}: a checkpoint file there is not one uno-train "
                       f"writes, and torch's safe loader refused it ({why}); delete that checkpoint or use "
                       "another --out") from exc


def _latest(out: Path) -> Path:
    link = Path(out) / "latest"
    try:
        return Path(out) / link.read_text().strip()
    except OSError:
        return Path(out)
