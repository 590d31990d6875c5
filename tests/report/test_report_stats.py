"""The statistics on synthetic data with known truth and on constructed examples with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from uno_bench.report import stats
from uno_bench.report.scoring import SampleScore


def _scores(table: dict[str, tuple[str, list[float | None]]]) -> list[SampleScore]:
    """prompt id -> (category, [score per image])."""
    return [SampleScore(f"{pid}/{k}", pid, k, cat, s) for pid, (cat, ss) in table.items() for k, s in enumerate(ss)]


def _clustered(rng: np.random.Generator, n_prompts: dict[str, int], beta: dict[str, tuple[float, float]],
               k: int) -> list[SampleScore]:
    """Each prompt has its own success rate p ~ Beta(a, b); its k images pass with probability p."""
    table = {}
    for cat, n in n_prompts.items():
        for i in range(n):
            p = rng.beta(*beta[cat])
            table[f"{cat}{i:03d}"] = (cat, [float(x) for x in rng.random(k) < p])
    return _scores(table)


def test_bootstrap_ci_covers_the_true_mean_at_the_nominal_rate():
    """200 synthetic benchmarks of a mean-of-category-means statistic with strongly clustered images.

    True overall = mean over categories of a / (a + b). Coverage must be consistent with 95%: the count
    of covering intervals must lie in the central 99.8% of Binomial(200, 0.95), [179, 198]. (Here 187; an
    image-level bootstrap, ignoring the clustering, covers 160 to 172 of 200 on such data and would fail.)
    """
    n_prompts = {"easy": 40, "mid": 30, "hard": 50}
    beta = {"easy": (4.0, 1.0), "mid": (1.0, 1.0), "hard": (0.5, 2.0)}
    truth = float(np.mean([a / (a + b) for a, b in beta.values()]))
    rng = np.random.default_rng(12345)
    covered = 0
    replicates = 200
    for r in range(replicates):
        design = stats.make_design(_clustered(rng, n_prompts, beta, k=4), list(n_prompts), "category_means")
        ci = stats.bootstrap_ci(design, n_boot=1000, seed=r).overall
        covered += ci.low <= truth <= ci.high
    low, high = binom.ppf(0.001, replicates, 0.95), binom.ppf(0.999, replicates, 0.95)
    assert low <= covered <= high, f"coverage {covered}/{replicates} outside [{low}, {high}]"


def test_images_of_a_prompt_stay_together():
    """With perfectly correlated images (each prompt all-pass or all-fail), k images carry the information of
    one: the prompt-clustered interval is ~sqrt(k) = 2 times the width an image-level bootstrap would give."""
    rng = np.random.default_rng(0)
    table = {f"p{i}": ("c", [float(rng.random() < 0.6)] * 4) for i in range(200)}
    clustered = stats.bootstrap_ci(stats.make_design(_scores(table), ["c"], "mean"), seed=1).overall
    as_images = [SampleScore(s.key, s.key, 0, "c", s.score) for s in _scores(table)]  # every image its own cluster
    naive = stats.bootstrap_ci(stats.make_design(as_images, ["c"], "mean"), seed=1).overall
    ratio = (clustered.high - clustered.low) / (naive.high - naive.low)
    assert 1.7 < ratio < 2.3


def test_statistic_structures_and_unscored_images():
    table = {
        "a": ("x", [1.0, 1.0, 0.0]),  # x: 3/4 images
        "b": ("x", [1.0, None]),  # the unscored image counts nowhere
        "c": ("y", [0.0, 0.0, 0.0, 1.0]),  # y: 1/4
        "d": ("y", [None]),  # a prompt with no scored image leaves the design
    }
    means = stats.make_design(_scores(table), ["x", "y"], "category_means", scale=100)
    assert means.prompt_ids == ("a", "b", "c")
    overall, cats = stats.statistic(means, np.ones((1, 3)))
    assert cats[0].tolist() == [75.0, 25.0] and overall[0] == 50.0
    pooled = stats.make_design(_scores(table), ["x", "y"], "mean")
    assert stats.statistic(pooled, np.ones((1, 3)))[0][0] == pytest.approx(4 / 8)


def test_resampling_keeps_each_category_size():
    strata = np.array([0, 0, 0, 1, 1, 2])
    weights = stats.resample_weights(strata, 500, np.random.default_rng(3))
    assert weights[:, :3].sum(axis=1).tolist() == [3] * 500
    assert weights[:, 3:5].sum(axis=1).tolist() == [2] * 500
    assert weights[:, 5].tolist() == [1] * 500
    assert np.all(weights == np.round(weights))


def _pair() -> tuple[stats.Design, stats.Design]:
    """20 prompts, one binary image each. Base passes p00-p09; the other passes p00-p08 and p10-p17:
    1 prompt pass->fail, 8 fail->pass."""
    base = {f"p{i:02d}": ("c", [float(i < 10)]) for i in range(20)}
    other = {f"p{i:02d}": ("c", [float(i < 9 or 10 <= i < 18)]) for i in range(20)}
    return (stats.make_design(_scores(base), ["c"], "mean"), stats.make_design(_scores(other), ["c"], "mean"))


def test_paired_difference_sign_ci_and_exact_mcnemar():
    base, other = _pair()
    paired = stats.paired_bootstrap(base, other, seed=7)
    assert paired.overall.value == pytest.approx(17 / 20 - 10 / 20)
    assert 0 < paired.overall.low < 0.35 < paired.overall.high
    assert paired.n_prompts == 20
    sign = stats.sign_test(base, other)
    assert (sign.better, sign.worse, sign.ties, sign.binary) == (8, 1, 11, True)
    assert sign.p_value == pytest.approx(2 * (1 + 9) / 2**9)  # exact: 2 * P(X <= 1), X ~ Bin(9, 1/2)
    assert "McNemar" in sign.name

    # Same resampling weights for both directions: the reversed difference is the exact mirror image.
    back = stats.paired_bootstrap(other, base, seed=7)
    assert back.overall.value == pytest.approx(-paired.overall.value)
    assert (back.overall.low, back.overall.high) == pytest.approx((-paired.overall.high, -paired.overall.low))


def test_pairing_cancels_prompt_difficulty():
    """Arms that agree on most prompts (the usual case): the paired interval is far narrower than
    two independent intervals would suggest."""
    base = {f"p{i:02d}": ("c", [float(i < 20)]) for i in range(40)}
    other = {f"p{i:02d}": ("c", [float(i < 24)]) for i in range(40)}
    a = stats.make_design(_scores(base), ["c"], "mean")
    b = stats.make_design(_scores(other), ["c"], "mean")
    paired = stats.paired_bootstrap(a, b, seed=2).overall
    ia, ib = stats.bootstrap_ci(a, seed=2).overall, stats.bootstrap_ci(b, seed=2).overall
    unpaired_halfwidth = np.hypot(ia.high - ia.low, ib.high - ib.low) / 2
    assert paired.value == pytest.approx(0.1) and paired.low > 0
    assert (paired.high - paired.low) / 2 < 0.5 * unpaired_halfwidth


def test_identical_arms_differ_by_exactly_zero():
    base, _ = _pair()
    paired = stats.paired_bootstrap(base, base)
    assert (paired.overall.value, paired.overall.low, paired.overall.high) == (0.0, 0.0, 0.0)
    assert stats.sign_test(base, base).p_value == 1.0


def test_paired_uses_the_prompts_both_arms_scored():
    base = stats.make_design(_scores({"a": ("c", [1.0]), "b": ("c", [0.0]), "c": ("c", [1.0])}), ["c"], "mean")
    other = stats.make_design(_scores({"b": ("c", [1.0]), "c": ("c", [1.0]), "z": ("c", [0.0])}), ["c"], "mean")
    paired = stats.paired_bootstrap(base, other)
    assert paired.n_prompts == 2 and paired.overall.value == pytest.approx(0.5)  # b: 0 -> 1, c: 1 -> 1


def test_sign_test_on_float_scores_is_not_called_mcnemar():
    base = stats.make_design(_scores({f"p{i}": ("c", [0.2, 0.4]) for i in range(6)}), ["c"], "mean")
    other = stats.make_design(_scores({f"p{i}": ("c", [0.5, 0.4]) for i in range(6)}), ["c"], "mean")
    sign = stats.sign_test(base, other)
    assert (sign.better, sign.worse, sign.binary) == (6, 0, False)
    assert sign.p_value == pytest.approx(2 / 2**6)
    assert "sign test" in sign.name


def test_mean_sd_across_seeds():
    spread = stats.mean_sd([0.80, 0.82, 0.84, None])
    assert spread.mean == pytest.approx(0.82) and spread.sd == pytest.approx(0.02) and spread.n == 3
    assert stats.mean_sd([0.5]).sd is None and stats.mean_sd([]).mean is None


def test_fixed_seed_reproduces_the_interval():
    base, _ = _pair()
    assert stats.bootstrap_ci(base, seed=11) == stats.bootstrap_ci(base, seed=11)
