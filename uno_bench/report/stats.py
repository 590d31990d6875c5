"""Uncertainty of benchmark numbers: prompt-clustered bootstrap CIs, paired comparisons, seed spread.

Formulas, assumptions and defaults are written down once, in docs/statistics.md. In short:
  * a run (or several seed runs of one arm, pooled) is reduced to per-prompt sums and counts of image
    scores per category: the official statistic is a function of those sums, so resampling prompts
    with multiplicity weights w gives the statistic of a resampled benchmark in one matrix product;
  * prompts are resampled within their category (stratified: the benchmark fixes how many prompts each
    category has), all images of a prompt together (they share the prompt, so they are correlated);
  * percentile intervals over B resamples drawn from numpy's PCG64 with a fixed seed;
  * two arms on the same prompts: the same weights for both (paired bootstrap of the difference) and an
    exact two-sided sign test on per-prompt mean scores (= exact McNemar with one binary image per prompt).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from uno_bench.report.scoring import Aggregate, SampleScore

DEFAULT_B = 2000
DEFAULT_SEED = 0
DEFAULT_LEVEL = 0.95


@dataclass(frozen=True)
class Design:
    """One arm's scored images reduced to per-prompt sufficient statistics (P prompts, C categories)."""

    prompt_ids: tuple[str, ...]
    strata: np.ndarray  # (P,) index of each prompt's primary category: the resampling strata
    cat_sums: np.ndarray  # (P, C) sum of the image scores a prompt contributes to each category
    cat_counts: np.ndarray  # (P, C) number of such scores
    sums: np.ndarray  # (P,) sum of the prompt's image scores
    counts: np.ndarray  # (P,) number of the prompt's scored images
    categories: tuple[str, ...]
    aggregate: Aggregate
    scale: float = 1.0
    images: np.ndarray | None = None  # (P,) scored images per prompt, where `counts` are value weights

    @property
    def n_images(self) -> int:
        return int((self.counts if self.images is None else self.images).sum())

    def prompt_means(self) -> np.ndarray:
        return self.sums / self.counts

    def subset(self, prompt_ids: Sequence[str]) -> Design:
        where = {p: i for i, p in enumerate(self.prompt_ids)}
        idx = np.array([where[p] for p in prompt_ids], dtype=int)
        return Design(tuple(prompt_ids), self.strata[idx], self.cat_sums[idx], self.cat_counts[idx],
                      self.sums[idx], self.counts[idx], self.categories, self.aggregate, self.scale,
                      None if self.images is None else self.images[idx])


def make_design(
    scores: Iterable[SampleScore], categories: Sequence[str], aggregate: Aggregate, scale: float = 1.0
) -> Design:
    """Sufficient statistics over scored images; prompts with no scored image are left out (they do not
    enter the official statistic). Categories are `categories` in order, then any others seen."""
    cats = list(categories)
    rows: dict[str, dict[str, list[float]]] = {}  # prompt -> category -> [sum, count]
    totals: dict[str, list[float]] = {}
    primary: dict[str, str] = {}
    for s in scores:
        if s.score is None:
            continue
        primary.setdefault(s.prompt_id, s.category)
        total = totals.setdefault(s.prompt_id, [0.0, 0.0, 0.0])
        total[0] += s.score * s.weight  # weight 1 except where the official statistic pools values
        total[1] += s.weight
        total[2] += 1
        for cat, value in s.category_parts().items():
            if cat not in cats:
                cats.append(cat)
            cell = rows.setdefault(s.prompt_id, {}).setdefault(cat, [0.0, 0.0])
            cell[0] += float(value) * s.weight
            cell[1] += s.weight
    prompts = list(totals)
    col = {c: j for j, c in enumerate(cats)}
    cat_sums = np.zeros((len(prompts), len(cats)))
    cat_counts = np.zeros((len(prompts), len(cats)))
    for i, p in enumerate(prompts):
        for cat, (total, n) in rows.get(p, {}).items():
            cat_sums[i, col[cat]] = total
            cat_counts[i, col[cat]] = n
    strata_names = sorted(set(primary.values()), key=lambda c: (col.get(c, len(col)), c))
    stratum = {c: k for k, c in enumerate(strata_names)}
    return Design(
        prompt_ids=tuple(prompts),
        strata=np.array([stratum[primary[p]] for p in prompts], dtype=int),
        cat_sums=cat_sums,
        cat_counts=cat_counts,
        sums=np.array([totals[p][0] for p in prompts]),
        counts=np.array([totals[p][1] for p in prompts]),
        categories=tuple(cats),
        aggregate=aggregate,
        scale=scale,
        images=np.array([totals[p][2] for p in prompts]),
    )


def statistic(design: Design, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The official statistic under prompt weights (B, P): overall (B,) and per category (B, C).

    weights = ones gives the official numbers themselves; a category with no weight is NaN.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        cats = (weights @ design.cat_sums) / (weights @ design.cat_counts)
        if design.aggregate == "category_means":
            present = ~np.isnan(cats)
            overall = np.where(present, cats, 0.0).sum(axis=1) / present.sum(axis=1)
        else:
            overall = (weights @ design.sums) / (weights @ design.counts)
    return overall * design.scale, cats * design.scale


def resample_weights(strata: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(B, P) multiplicities: each stratum's n prompts drawn n times with replacement."""
    weights = np.zeros((n_boot, len(strata)))
    for stratum in np.unique(strata):
        idx = np.flatnonzero(strata == stratum)
        weights[:, idx] = rng.multinomial(len(idx), np.full(len(idx), 1.0 / len(idx)), size=n_boot)
    return weights


@dataclass(frozen=True)
class Interval:
    value: float | None  # the point estimate (the official statistic, or a difference of them)
    low: float | None
    high: float | None

    @property
    def excludes_zero(self) -> bool:
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)


@dataclass(frozen=True)
class Bootstrap:
    overall: Interval
    categories: dict[str, Interval]
    n_prompts: int
    n_images: int
    n_boot: int
    seed: int
    level: float


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _interval(point: float, draws: np.ndarray, level: float) -> Interval:
    alpha = (1.0 - level) / 2
    draws = draws[np.isfinite(draws)]
    if not np.isfinite(point) or draws.size == 0:
        return Interval(_finite(point), None, None)
    low, high = np.quantile(draws, [alpha, 1.0 - alpha])
    return Interval(float(point), float(low), float(high))


def _summarise(point: tuple[np.ndarray, np.ndarray], draws: tuple[np.ndarray, np.ndarray],
               categories: Sequence[str], level: float) -> tuple[Interval, dict[str, Interval]]:
    overall = _interval(point[0][0], draws[0], level)
    cats = {c: _interval(point[1][0, j], draws[1][:, j], level) for j, c in enumerate(categories)}
    return overall, cats


def bootstrap_ci(design: Design, n_boot: int = DEFAULT_B, seed: int = DEFAULT_SEED,
                 level: float = DEFAULT_LEVEL) -> Bootstrap:
    """Percentile CI of the official statistic (and of each category) by stratified prompt bootstrap."""
    ones = np.ones((1, len(design.prompt_ids)))
    rng = np.random.default_rng(seed)
    draws = statistic(design, resample_weights(design.strata, n_boot, rng))
    overall, cats = _summarise(statistic(design, ones), draws, design.categories, level)
    return Bootstrap(overall, cats, len(design.prompt_ids), design.n_images, n_boot, seed, level)


def common_prompts(a: Design, b: Design) -> list[str]:
    """Prompt ids scored in both arms, in a's order."""
    theirs = set(b.prompt_ids)
    return [p for p in a.prompt_ids if p in theirs]


def paired_bootstrap(base: Design, other: Design, n_boot: int = DEFAULT_B, seed: int = DEFAULT_SEED,
                     level: float = DEFAULT_LEVEL) -> Bootstrap:
    """CI of (other - base) of the official statistic over the prompts both arms scored.

    Both arms get the same resampling weights (strata from `base`), so prompt difficulty, shared by
    the arms, cancels in the difference: the interval is that of the paired difference.
    """
    shared = common_prompts(base, other)
    a, b = base.subset(shared), other.subset(shared)
    b = Design(b.prompt_ids, a.strata, b.cat_sums, b.cat_counts, b.sums, b.counts, b.categories,
               b.aggregate, b.scale, b.images)
    b = _align_categories(b, a.categories)
    a = _align_categories(a, b.categories)
    ones = np.ones((1, len(shared)))
    weights = resample_weights(a.strata, n_boot, np.random.default_rng(seed))
    pa, da = statistic(a, ones), statistic(a, weights)
    pb, db = statistic(b, ones), statistic(b, weights)
    point = (pb[0] - pa[0], pb[1] - pa[1])
    draws = (db[0] - da[0], db[1] - da[1])
    overall, cats = _summarise(point, draws, a.categories, level)
    return Bootstrap(overall, cats, len(shared), a.n_images + b.n_images, n_boot, seed, level)


def _align_categories(design: Design, categories: Sequence[str]) -> Design:
    """The same design with columns in `categories` order (missing ones empty, extra ones appended)."""
    cats = list(categories) + [c for c in design.categories if c not in categories]
    if tuple(cats) == design.categories:
        return design
    src = {c: j for j, c in enumerate(design.categories)}
    sums = np.zeros((len(design.prompt_ids), len(cats)))
    counts = np.zeros_like(sums)
    for j, c in enumerate(cats):
        if c in src:
            sums[:, j] = design.cat_sums[:, src[c]]
            counts[:, j] = design.cat_counts[:, src[c]]
    return Design(design.prompt_ids, design.strata, sums, counts, design.sums, design.counts, tuple(cats),
                  design.aggregate, design.scale, design.images)


@dataclass(frozen=True)
class SignTest:
    better: int  # prompts whose mean score rose
    worse: int  # prompts whose mean score fell
    ties: int
    p_value: float  # exact two-sided binomial test of better vs worse at 1/2, ties dropped
    binary: bool  # every per-prompt score was 0 or 1: the test is exact McNemar on discordant prompts

    @property
    def name(self) -> str:
        return "exact McNemar (discordant prompts)" if self.binary else "exact sign test (per-prompt means)"


def sign_test(base: Design, other: Design) -> SignTest:
    from scipy.stats import binomtest

    shared = common_prompts(base, other)
    a = base.subset(shared).prompt_means()
    b = other.subset(shared).prompt_means()
    better, worse = int((b > a).sum()), int((b < a).sum())
    p = binomtest(better, better + worse, 0.5).pvalue if better + worse else 1.0
    binary = bool(np.all(np.isin(a, (0.0, 1.0))) and np.all(np.isin(b, (0.0, 1.0))))
    return SignTest(better, worse, len(shared) - better - worse, float(p), binary)


@dataclass(frozen=True)
class Spread:
    mean: float | None
    sd: float | None  # sample standard deviation (n - 1); None with fewer than two values
    n: int


def mean_sd(values: Iterable[float | None]) -> Spread:
    """Mean and sample sd of one number across seed runs (missing values left out)."""
    xs = np.array([v for v in values if v is not None], dtype=float)
    if xs.size == 0:
        return Spread(None, None, 0)
    sd = float(xs.std(ddof=1)) if xs.size > 1 else None
    return Spread(float(xs.mean()), sd, int(xs.size))
