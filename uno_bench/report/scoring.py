"""How a report reads a suite's records: one score per image, its category, the official overall.

Every suite records different fields, so a Suite hands reports a `Scoring` (`Suite.report_scoring()`).
The default reads the common field names and suits most suites; a suite with other fields or another
aggregation passes different field names, or subclasses and overrides `sample` / `official`.

The official overall has one of two structures, which the bootstrap reproduces exactly (docs/statistics.md):
  "mean"            mean of the per-image score over all scored images (x scale)
  "category_means"  unweighted mean over categories of each category's mean over its scored images (x scale),
                    categories without any scored image left out (GenEval's "mean of the tasks present")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Aggregate = Literal["mean", "category_means"]


@dataclass(frozen=True)
class SampleScore:
    """One judged image as a report sees it."""

    key: str  # the record key, "<prompt id>/<sample index>"
    prompt_id: str  # the cluster the bootstrap resamples
    index: int  # sample index (same index + same base seed = same noise)
    category: str  # the primary category: strata, filters, grid sections
    score: float | None  # None: unscored (never zero)
    prompt: str = ""
    reason: str = ""  # the judge's explanation, shown beside the image
    image: str | None = None  # path relative to the run's images root
    parts: Mapping[str, float] = field(default_factory=dict)  # per-category contributions; default {category: score}
    # How many values the score pools: a suite whose official statistic pools values rather than images
    # (KRIS-Bench: 3 or 4 metric values per image) records an image's mean with its value count, so the
    # weighted mean over images is the official pooled mean. 1 for every other suite.
    weight: float = 1.0

    def category_parts(self) -> Mapping[str, float]:
        if self.score is None:
            return {}
        return self.parts or {self.category: self.score}


@dataclass(frozen=True)
class Official:
    """The suite's own numbers from its `summarize`: what tables print."""

    overall: float | None
    categories: dict[str, float]


def _number(value: Any, keys: tuple[str, ...]) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, Mapping):
        for key in keys:
            if key in value:
                return _number(value[key], keys)
    return None


@dataclass(frozen=True)
class Scoring:
    """Field names and aggregation structure of a suite's records (defaults: the common names)."""

    aggregate: Aggregate = "mean"
    score_fields: tuple[str, ...] = ("score", "correct")  # first one present in a record wins
    category_fields: tuple[str, ...] = ("category", "tag")
    reason_fields: tuple[str, ...] = ("reason",)
    prompt_fields: tuple[str, ...] = ("prompt",)
    scale: float = 1.0  # official statistic = scale x mean (e.g. 100 for suites printed in percent)
    summary_categories: tuple[str, ...] = ("categories", "tasks")  # where summarize() puts per-category values
    summary_value_keys: tuple[str, ...] = ("accuracy", "score", "value", "mean")
    weight_fields: tuple[str, ...] = ()  # record field holding SampleScore.weight (absent: 1)

    @staticmethod
    def _first(record: Mapping[str, Any], names: tuple[str, ...]) -> Any:
        for name in names:
            if name in record and record[name] is not None:
                return record[name]
        return None

    def sample(self, record: Mapping[str, Any]) -> SampleScore:
        """One record -> one SampleScore (unscored records get score None)."""
        raw = self._first(record, self.score_fields) if record.get("scored", True) else None
        score = None if raw is None else float(raw)
        key = str(record["key"])
        prompt_id, _, index = key.rpartition("/")
        return SampleScore(
            key=key,
            prompt_id=str(record.get("prompt_id", prompt_id)),
            index=int(record.get("sample_index", index or 0)),
            category=str(self._first(record, self.category_fields) or ""),
            score=score,
            prompt=str(self._first(record, self.prompt_fields) or ""),
            reason=str(self._first(record, self.reason_fields) or record.get("unscored_reason") or ""),
            image=record.get("image"),
            weight=float(self._first(record, self.weight_fields) or 1.0) if self.weight_fields else 1.0,
        )

    def official(self, results: Mapping[str, Any]) -> Official:
        """The overall and per-category numbers out of the suite's `summarize` result."""
        overall = _number(results.get("overall"), self.summary_value_keys)
        categories: dict[str, float] = {}
        for name in self.summary_categories:
            table = results.get(name)
            if isinstance(table, Mapping):
                for cat, value in table.items():
                    number = _number(value, self.summary_value_keys)
                    if number is not None:
                        categories[str(cat)] = number
                break
        return Official(overall, categories)


def default_scoring(categories: tuple[str, ...]) -> Scoring:
    """Suites that declare categories are assumed to average them (the common official structure)."""
    return Scoring(aggregate="category_means" if categories else "mean")
