"""Per-prompt differences between a baseline run and another run of the same suite.

Flips pair images by record key (same prompt id, same sample index; with equal base seeds that is
the same starting noise) and exist only where scores are binary. Score changes compare each
prompt's mean score over its scored images. Both keep the judge's reasons for display.
"""

from __future__ import annotations

from dataclasses import dataclass

from uno_bench.report.runs import Run
from uno_bench.report.scoring import SampleScore
from uno_bench.runs.plan import natural_key

PASS_TO_FAIL = "pass→fail"
FAIL_TO_PASS = "fail→pass"


@dataclass(frozen=True)
class Flip:
    direction: str  # PASS_TO_FAIL or FAIL_TO_PASS
    base: SampleScore
    other: SampleScore


@dataclass(frozen=True)
class PromptChange:
    prompt_id: str
    category: str
    base: tuple[SampleScore, ...]  # the prompt's scored images in each run
    other: tuple[SampleScore, ...]
    base_mean: float
    other_mean: float

    @property
    def delta(self) -> float:
        return self.other_mean - self.base_mean


@dataclass(frozen=True)
class PromptDiff:
    base_label: str
    other_label: str
    binary: bool
    same_seeds: bool
    n_pairs: int  # images scored in both runs under the same key
    flips: tuple[Flip, ...]
    changes: tuple[PromptChange, ...]  # every prompt whose mean changed, largest |change| first

    def of(self, direction: str) -> list[Flip]:
        return [f for f in self.flips if f.direction == direction]

    def by_prompt(self, direction: str) -> list[list[Flip]]:
        """Flips of one direction grouped by prompt, in prompt order."""
        groups: dict[str, list[Flip]] = {}
        for flip in self.of(direction):
            groups.setdefault(flip.base.prompt_id, []).append(flip)
        return list(groups.values())


def _by_prompt(scores: list[SampleScore]) -> dict[str, list[SampleScore]]:
    out: dict[str, list[SampleScore]] = {}
    for s in scores:
        if s.score is not None:
            out.setdefault(s.prompt_id, []).append(s)
    return out


def prompt_diff(base: Run, other: Run) -> PromptDiff:
    base_scores = {s.key: s for s in base.scores if s.score is not None}
    other_scores = {s.key: s for s in other.scores if s.score is not None}
    keys = sorted(base_scores.keys() & other_scores.keys(), key=natural_key)
    values = [s.score for s in (*base_scores.values(), *other_scores.values())]
    binary = bool(values) and all(v in (0.0, 1.0) for v in values)
    flips = []
    if binary:
        for key in keys:
            a, b = base_scores[key], other_scores[key]
            if a.score != b.score:
                flips.append(Flip(PASS_TO_FAIL if a.score else FAIL_TO_PASS, a, b))
    pa, pb = _by_prompt(base.scores), _by_prompt(other.scores)
    changes = []
    for pid in pa.keys() & pb.keys():
        a_mean = sum(s.score for s in pa[pid]) / len(pa[pid])
        b_mean = sum(s.score for s in pb[pid]) / len(pb[pid])
        if a_mean != b_mean:
            changes.append(PromptChange(pid, pa[pid][0].category, tuple(pa[pid]), tuple(pb[pid]), a_mean, b_mean))
    changes.sort(key=lambda c: (-abs(c.delta), natural_key(c.prompt_id)))
    return PromptDiff(base.label, other.label, binary, base.base_seed == other.base_seed, len(keys),
                      tuple(flips), tuple(changes))
