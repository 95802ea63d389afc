"""Agreement, calibration and abstention statistics against scipy, scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from judges.abstention import AbstainBand, coverage_risk, margin, risk_at_coverage
from judges.calibration import IsotonicMap, calibration_error, cross_val_isotonic, divide_prior
from judges.stats import case_bootstrap, cohen_kappa, kappa_ci, rank_correlation_ci

sklearn = pytest.importorskip("sklearn", reason="the references need scikit-learn: pip install scikit-learn")


def test_kappa_matches_sklearn_unweighted_and_quadratic():
    from sklearn.metrics import cohen_kappa_score

    rng = np.random.default_rng(3)
    h = rng.integers(1, 6, 80)
    j = np.clip(h + rng.integers(-1, 2, 80), 1, 5)
    assert cohen_kappa(list(h), list(j)) == pytest.approx(cohen_kappa_score(h, j))
    assert cohen_kappa(list(h), list(j), weights="quadratic", labels=[1, 2, 3, 4, 5]) == pytest.approx(
        cohen_kappa_score(h, j, weights="quadratic", labels=[1, 2, 3, 4, 5]))
    pa = ["A", "B", "A", "A", "B", "B", "A", "tie"]
    pb = ["A", "B", "B", "A", "B", "A", "tie", "tie"]
    assert cohen_kappa(pa, pb, labels=["A", "B", "tie"]) == pytest.approx(cohen_kappa_score(pa, pb))


def test_kappa_ci_brackets_the_estimate_and_a_constant_judge_scores_zero():
    h = ["A", "B"] * 30
    est = kappa_ci(h, h[:50] + ["A"] * 10, labels=["A", "B", "tie"], n_resamples=300)
    assert est.low <= est.value <= est.high and est.n == 60
    # a judge that always says "tie" never agrees: observed 0, expected 0, kappa 0 (not NaN)
    flat = kappa_ci(h, ["tie"] * 60, labels=["A", "B", "tie"], n_resamples=50)
    assert flat.value == 0.0


def test_rank_correlations_match_scipy_and_the_ci_covers_them():
    from scipy import stats

    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    y = x + rng.normal(size=60)
    s = rank_correlation_ci(x, y, n_resamples=300)
    k = rank_correlation_ci(x, y, method="kendall", n_resamples=300)
    assert s.estimate.value == pytest.approx(stats.spearmanr(x, y).statistic)
    assert s.pvalue == pytest.approx(stats.spearmanr(x, y).pvalue)
    assert k.estimate.value == pytest.approx(stats.kendalltau(x, y).statistic)
    assert s.estimate.low < s.estimate.value < s.estimate.high
    const = rank_correlation_ci(x, np.full(60, 3.0), n_resamples=20)  # no ranking: NaN, and no scipy warning
    assert np.isnan(const.estimate.value) and np.isnan(const.pvalue)


def test_case_bootstrap_of_the_mean_is_the_percentile_interval():
    x = np.arange(20, dtype=float)
    est = case_bootstrap(lambda i: float(x[i].mean()), 20, n_resamples=2000, seed=1)
    rng = np.random.default_rng(1)
    boots = [x[rng.integers(0, 20, 20)].mean() for _ in range(2000)]
    assert (est.low, est.high) == pytest.approx(tuple(np.quantile(boots, [0.025, 0.975])))
    assert est.value == pytest.approx(9.5)


def test_isotonic_map_equals_sklearn_including_ties_and_clipping():
    from sklearn.isotonic import IsotonicRegression

    rng = np.random.default_rng(5)
    x = np.round(rng.uniform(1, 5, 200), 1)  # many tied x values
    y = np.clip(np.round(0.6 * x + rng.normal(0, 1, 200)), 1, 5)
    ours = IsotonicMap.fit(x, y)
    ref = IsotonicRegression(out_of_bounds="clip").fit(x, y)
    grid = np.linspace(0, 6, 301)
    assert ours.apply(grid) == pytest.approx(ref.predict(grid))
    assert list(ours.y) == sorted(ours.y)


def test_isotonic_pava_by_hand():
    # y = 1, 3, 2, 4 on x = 1..4: the violating pair (3, 2) pools to 2.5
    m = IsotonicMap.fit([1, 2, 3, 4], [1, 3, 2, 4])
    assert m.y == (1.0, 2.5, 2.5, 4.0)
    assert m(2.5) == 2.5 and m(0) == 1.0 and m(9) == 4.0


def test_cross_validated_isotonic_predicts_each_case_from_the_other_folds():
    x = np.arange(10, dtype=float)
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1], dtype=float)
    cv = cross_val_isotonic(x, y, folds=5, seed=0)
    order = np.random.default_rng(0).permutation(10)
    for k in range(5):
        test = order[k::5]
        train = np.setdiff1d(order, test)
        assert cv[test] == pytest.approx(IsotonicMap.fit(x[train], y[train]).apply(x[test]))


def test_calibration_error_matches_sklearn_bins_and_the_hand_formula():
    from sklearn.calibration import calibration_curve

    rng = np.random.default_rng(2)
    p = rng.uniform(0, 1, 500)
    p[:5] = [0.1, 0.2, 0.5, 0.9, 1.0]  # values on bin edges land where sklearn puts them
    y = (rng.uniform(0, 1, 500) < p ** 2).astype(float)
    ce = calibration_error(p, y, n_bins=10)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    assert [b.observed for b in ce.bins] == pytest.approx(prob_true)
    assert [b.predicted for b in ce.bins] == pytest.approx(prob_pred)
    hand = sum(b.n * abs(b.predicted - b.observed) for b in ce.bins) / 500
    assert ce.value == pytest.approx(hand)
    # on a 1-5 scale the gap is divided by the width: predicting 4 where humans say 3 is 1/4
    assert calibration_error([4.0] * 3, [3.0] * 3, value_range=(1, 5)).value == pytest.approx(0.25)


def test_divide_prior_by_hand():
    # a judge that says A 90% of the time on content-free input: A 0.9 / B 0.1 becomes 0.5 / 0.5
    assert divide_prior({"A": 0.9, "B": 0.1}, {"A": 0.9, "B": 0.1}) == pytest.approx({"A": 0.5, "B": 0.5})
    # 0.95 / 0.05 against that prior: (0.95 / 0.9) / (0.95 / 0.9 + 0.05 / 0.1) = 1.0556 / 1.5556
    assert divide_prior({"A": 0.95, "B": 0.05}, {"A": 0.9, "B": 0.1})["A"] == pytest.approx(1.0556 / 1.5556, abs=1e-4)


def test_margin_and_the_abstain_band_boundaries():
    assert margin({"A": 0.7, "B": 0.3}) == pytest.approx(0.4)
    assert margin({"1": 0.5, "2": 0.3, "3": 0.2}) == pytest.approx(0.2)
    band = AbstainBand(min_margin=0.4)
    assert band.reason({"A": 0.7, "B": 0.3}) is None  # exactly at the bound: counted
    assert "margin 0.380 < 0.4" in band.reason({"A": 0.69, "B": 0.31})
    flat = AbstainBand(max_entropy_bits=0.9)
    assert flat.reason({"A": 0.5, "B": 0.5}) == "entropy 1.000 bits > 0.9"
    assert flat.reason({"A": 0.9, "B": 0.1}) is None
    with pytest.raises(ValueError, match="needs max_entropy_bits"):
        AbstainBand()


def test_coverage_risk_by_hand():
    conf = [0.9, 0.1, 0.5, 0.7, 0.3]
    err = [0, 1, 1, 0, 1]
    cr = coverage_risk(conf, err)
    # most confident first: 0.9 (ok), 0.7 (ok), 0.5 (wrong), 0.3 (wrong), 0.1 (wrong)
    assert cr.coverage == pytest.approx((0.2, 0.4, 0.6, 0.8, 1.0))
    assert cr.risk == pytest.approx((0.0, 0.0, 1 / 3, 2 / 4, 3 / 5))
    assert cr.threshold == (0.9, 0.7, 0.5, 0.3, 0.1)
    r = risk_at_coverage(conf, err, coverage=0.8, n_resamples=200)
    assert r.risk.value == pytest.approx(0.5) and r.full.value == pytest.approx(0.6)
    assert r.change.value == pytest.approx(-0.1) and r.threshold == 0.3
