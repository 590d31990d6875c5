"""Which manifest differences move numbers, and whether a run used a published number's protocol.

Every difference between two manifests is listed (`diff-manifest`); each is put in a kind. Kinds that
change what is measured (prompts, resolution, steps, CFG, judge, precision, images per prompt, ...)
flag a table row; the rest (checkpoint, seeds, package versions, where images were read) are shown
but expected to differ between checkpoints or seed runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from uno_bench.runs.manifest import differences
from uno_bench.suites.spec import Reference, SuiteSpec

# (pattern over the dotted path, kind, moves numbers); first match wins, so specific rules come first.
_RULES: tuple[tuple[str, str, bool], ...] = (
    (r"(^|\.)(precision|dtype)(\.|$)", "precision", True),
    (r"^generation\.(sampler|identity\.sampler)\.(width|height)$", "resolution", True),
    (r"^generation\.(sampler|identity\.sampler)\.num_timesteps$", "steps", True),
    (r"^generation\.(sampler|identity\.sampler)\.cfg_", "CFG", True),
    (r"^generation\.(sampler|identity\.sampler)\.timestep_shift$", "timestep shift", True),
    (r"^generation\.(sampler|identity\.sampler)\.extra", "sampler extra (e.g. think)", True),
    (r"^generation\.(sampler|identity\.sampler)\.official_batch_global_renorm$|^generation\.batch_size$",
     "batch renorm", True),
    (r"^generation\.identity\.edit_sampler\.", "edit sampler", True),
    (r"^generation$", "generation settings unknown (images scored from a folder)", True),
    (r"^generation\.(model|identity)", "model / checkpoint", False),
    (r"^scoring", "judge", True),
    (r"^suite\.images_per_prompt$", "images per prompt", True),
    (r"^suite\.(prompts_file|samples_sha256|samples|limit|data|invalid_samples)", "prompts", True),
    (r"^suite\.(base_seed|seed_policy)$", "seeds", False),
    (r"^suite\.(version|spec_content_sha256|spec_sha256)$", "suite spec version", True),
    (r"^suite\.name$", "suite", True),
    (r"^images", "image source", False),
    (r"^environment", "environment", False),
    (r"^manifest_version$", "manifest format", False),
)


@dataclass(frozen=True)
class Difference:
    path: str
    text: str  # "path: old -> new"
    kind: str
    moves_numbers: bool


def classify(path: str) -> tuple[str, bool]:
    for pattern, kind, moves in _RULES:
        if re.search(pattern, path):
            return kind, moves
    return "other", True  # unknown settings are assumed to matter


def manifest_differences(a: dict[str, Any], b: dict[str, Any]) -> list[Difference]:
    """Every difference between two manifests (git_dirty included, unlike run-dir reconciliation)."""
    texts = differences(a, b)
    dirty_a = a.get("environment", {}).get("git_dirty")
    dirty_b = b.get("environment", {}).get("git_dirty")
    if dirty_a != dirty_b:
        texts.append(f"environment.git_dirty: {dirty_a} -> {dirty_b}")
    out = []
    for text in texts:
        path = text.partition(": ")[0]
        kind, moves = classify(path)
        out.append(Difference(path, text, kind, moves))
    return out


def flagged_kinds(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Kinds of the number-moving differences, in rule order."""
    kinds = {d.kind for d in manifest_differences(a, b) if d.moves_numbers}
    return [kind for _, kind, _ in _RULES if kind in kinds] + sorted(kinds - {k for _, k, _ in _RULES})


def _file_named(spec: SuiteSpec, text: str):
    for df in spec.data:
        name = re.escape(df.path.rsplit("/", 1)[-1])
        if re.search(rf"(?<![\w.-]){name}(?![\w.-])", text):
            return df
    return None


def protocol_mismatches(run_manifest: dict[str, Any], spec: SuiteSpec, ref: Reference) -> list[str]:
    """Why a run's settings are not those behind a published number (empty: they match).

    The published protocol is the spec's: its sampler defaults, official images per prompt, default
    judge without options, the full prompt set, and the prompt file the reference names (if any).
    """
    why: list[str] = []
    suite = run_manifest.get("suite", {})
    if suite.get("limit") is not None:
        why.append(f"a subset of prompts (--limit {suite['limit']})")
    if suite.get("images_per_prompt") != spec.images_per_prompt:
        why.append(f"{suite.get('images_per_prompt')} images per prompt (official {spec.images_per_prompt})")
    named = _file_named(spec, ref.prompts)
    prompts_file = suite.get("prompts_file")
    if named is not None:
        used = (named.key in suite.get("data", {})) if prompts_file is None else (
            prompts_file.get("sha256") == named.sha256)
        if not used:
            why.append(f"prompts other than {named.path.rsplit('/', 1)[-1]}")
    elif prompts_file is not None:
        why.append(f"prompts file {prompts_file.get('path')}")
    generation = run_manifest.get("generation")
    if generation is None:
        why.append("generation settings unknown (images scored from a folder)")
    else:
        diffs = differences(spec.generation.to_dict(), generation.get("sampler", {}))
        if diffs:
            why.append("sampler " + "; ".join(d.replace(" -> ", " (spec) -> ", 1) for d in diffs))
    scoring = run_manifest.get("scoring", {})
    if scoring.get("judge") != spec.default_judge:
        why.append(f"judge {scoring.get('judge')} (official {spec.default_judge})")
    elif scoring.get("options"):
        why.append(f"judge options {scoring['options']}")
    return why
