"""Statistics checked against scipy / scikit-learn / hand-computed values."""

import itertools

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import cohen_kappa_score
from sklearn.metrics import confusion_matrix as sk_confusion

from judges import stats


def test_bootstrap_ci_matches_scipy_percentile():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 1.0, 200)
    low, high = stats.bootstrap_ci(x, n_resamples=20000, seed=3)
    ref = sps.bootstrap((x,), np.mean, method="percentile", n_resamples=20000, random_state=4).confidence_interval
    assert low == pytest.approx(ref.low, abs=0.02)
    assert high == pytest.approx(ref.high, abs=0.02)
    assert low < x.mean() < high


def test_bootstrap_ci_covers_true_mean_about_95_percent():
    rng = np.random.default_rng(0)
    hits = 0
    for i in range(200):
        x = rng.binomial(1, 0.7, 60).astype(float)
        lo, hi = stats.bootstrap_ci(x, n_resamples=1000, seed=i)
        hits += lo <= 0.7 <= hi
    assert 0.88 <= hits / 200 <= 0.99


def test_mean_ci_drops_nan_and_handles_edges():
    e = stats.mean_ci([1.0, np.nan, 3.0])
    assert e.value == 2.0 and e.n == 2
    assert stats.mean_ci([]).n == 0
    assert stats.bootstrap_ci([4.0]) == (4.0, 4.0)


def test_paired_permutation_is_exact_for_small_n():
    a = np.array([3.0, 2.0, 4.0, 3.0, 5.0, 2.0])
    b = np.array([4.0, 3.0, 4.5, 4.0, 5.5, 3.5])
    d = b - a
    # hand-computed exact sign-flip test: share of the 2**6 sign patterns with |mean| >= observed
    obs = abs(d.mean())
    flips = [abs((d * s).mean()) >= obs - 1e-12 for s in itertools.product([1, -1], repeat=6)]
    res = stats.paired_test(a, b, method="permutation")
    assert res.pvalue == pytest.approx(sum(flips) / 64)
    assert res.mean_diff == pytest.approx(d.mean())


def test_paired_bootstrap_detects_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(2)
    a = rng.normal(0, 1, 80)
    assert stats.paired_test(a, a + 0.5 + rng.normal(0, 0.3, 80), method="bootstrap").pvalue < 0.01
    assert stats.paired_test(a, a + rng.normal(0, 0.3, 80), method="bootstrap").pvalue > 0.05


def test_paired_test_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="same cases"):
        stats.paired_test([1, 2, 3], [1, 2])


@pytest.mark.parametrize("weights", [None, "linear", "quadratic"])
def test_cohen_kappa_matches_sklearn(weights):
    rng = np.random.default_rng(5)
    human = rng.integers(1, 6, 300)
    judge = np.clip(human + rng.integers(-1, 2, 300), 1, 5)
    ours = stats.cohen_kappa(list(human), list(judge), weights=weights)
    assert ours == pytest.approx(cohen_kappa_score(human, judge, weights=weights))


def test_kappa_by_hand():
    # 2x2 table [[20, 5], [10, 15]]: po = 0.7, pe = 0.5*0.6 + 0.5*0.4 = 0.5, kappa = 0.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert stats.cohen_kappa(a, b) == pytest.approx(0.4)


def test_confusion_matrix_matches_sklearn():
    a = [1, 2, 3, 3, 2, 1, 5]
    b = [1, 3, 3, 2, 2, 1, 4]
    _, m = stats.confusion_matrix(a, b, labels=[1, 2, 3, 4, 5])
    assert (m == sk_confusion(a, b, labels=[1, 2, 3, 4, 5])).all()


def test_rank_correlations_match_scipy():
    x = [1, 2, 3, 4, 5, 6, np.nan]
    y = [2, 1, 4, 3, 6, 5, 1]
    rho, p = stats.spearman(x, y)
    ref = sps.spearmanr(x[:6], y[:6])
    assert (rho, p) == pytest.approx((ref.statistic, ref.pvalue))
    tau, p2 = stats.kendall(x, y)
    ref2 = sps.kendalltau(x[:6], y[:6])
    assert (tau, p2) == pytest.approx((ref2.statistic, ref2.pvalue))


def test_entropy_bits():
    assert stats.entropy({"a": 0.5, "b": 0.5}) == pytest.approx(1.0)
    assert stats.entropy([1.0, 0.0]) == 0.0


def test_length_controlled_win_rate_removes_length_preference():
    """Equal quality; the judge prefers whichever answer is longer. Raw win rate is inflated, LC is ~0.5."""
    rng = np.random.default_rng(7)
    n = 600
    diff = rng.normal(50, 60, n)  # candidate A is usually longer
    z = diff / diff.std()
    p_pref = 1 / (1 + np.exp(-(0.0 + 2.0 * z)))  # no quality term: only length matters
    y = (rng.random(n) < p_pref).astype(float)
    raw = y.mean()
    lc = stats.length_controlled_win_rate(y, diff, n_resamples=100)
    assert raw > 0.65
    assert lc.value == pytest.approx(0.5, abs=0.07)
    assert lc.low < 0.5 < lc.high


def test_length_controlled_keeps_a_real_quality_edge():
    rng = np.random.default_rng(8)
    n = 600
    diff = rng.normal(0, 50, n)
    z = diff / diff.std()
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.0 + 1.0 * z)))).astype(float)
    lc = stats.length_controlled_win_rate(y, diff, n_resamples=100)
    assert lc.value == pytest.approx(1 / (1 + np.exp(-1.0)), abs=0.06)


def test_win_rates_validate_outcomes():
    with pytest.raises(ValueError, match="outcomes"):
        stats.win_rates([1, 0.3])
    w = stats.win_rates([1, 1, 0.5, 0], consistent=[True, True, False, True])
    assert w.win.value == 0.5 and w.tie.value == 0.25 and w.win_rate.value == pytest.approx(0.625)
    assert w.consistency.value == 0.75
