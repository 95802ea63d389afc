"""How tests become verdicts: Holm's correction, the nulls at given sizes, the effect floor, the fixed rule."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2

import drift
from drift.binning import histogram, quantile_edges
from drift.nulls import binned_nulls, chi2_rows, js_rows, power, psi_rows, rows_needed
from stats import holm, holm_levels, welch_pvalue, wilson_interval


def test_holm_equals_statsmodels() -> None:
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2, 0.04])
    adjusted, fraction = holm(p), holm_levels(p)
    reject, expected, _, _ = multitest.multipletests(p, alpha=0.05, method="holm")
    np.testing.assert_allclose(adjusted, expected, rtol=1e-12)
    assert list(adjusted <= 0.05) == list(reject)
    assert fraction[np.argmin(p)] == pytest.approx(1 / 6) and fraction[np.argmax(p)] == 1.0
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])  # by hand: 3p, max(2p, .03), max(p, .06)
    with pytest.raises(ValueError, match="NaN"):
        holm([0.1, float("nan")])


def test_the_one_wilson_and_welch_equal_scipy_and_hand_values() -> None:
    # drift, judges and monitor share one copy of each (the stats package); drift imports nothing of judges
    from scipy.stats import binomtest, ttest_ind

    import judges.stats

    assert drift.wilson_interval is wilson_interval is judges.stats.wilson_interval
    assert judges.stats.holm is holm and judges.stats.welch_pvalue is welch_pvalue
    assert wilson_interval(3, 10) == pytest.approx((0.1078, 0.6032), abs=1e-4)  # Wilson 95%, 3 of 10, by hand
    ci = binomtest(42, 57).proportion_ci(confidence_level=0.9, method="wilson")
    assert wilson_interval(42, 57, 0.9) == (ci.low, ci.high)
    assert wilson_interval(0, 0) != wilson_interval(0, 0)  # (nan, nan)
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 1, 50), rng.normal(0.3, 2, 80)
    assert welch_pvalue(a, b) == pytest.approx(ttest_ind(b, a, equal_var=False).pvalue, rel=1e-12)
    assert welch_pvalue(np.full(5, 4.0), np.full(5, 4.0)) == 1.0 and welch_pvalue(np.full(5, 4.0), np.full(5, 3.0)) == 0.0


@pytest.mark.filterwarnings("ignore::drift.LowPowerWarning")
@pytest.mark.parametrize("ref,cur", [([50, 30, 20, 0], [30, 30, 40, 5]), ([10, 0, 5, 7], [3, 4, 9, 0]),
                                     ([1000, 1, 0], [990, 0, 11])])
def test_vectorised_statistics_equal_the_functions(ref: list[int], cur: list[int]) -> None:
    # The simulated nulls compute the statistic the same way as the reported one, eps rule included.
    r, c = np.array([ref, ref], float), np.array([cur, cur], float)
    assert psi_rows(r, c)[1] == pytest.approx(drift.psi_from_counts(ref, cur).statistic, rel=1e-12)
    assert js_rows(r, c)[0] == pytest.approx(drift.js_from_counts(ref, cur).statistic, rel=1e-12)
    keys = [str(i) for i in range(len(ref))]
    x2 = drift.chi2(drift.CategoricalSummary(dict(zip(keys, ref, strict=True))),
                    drift.CategoricalSummary(dict(zip(keys, cur, strict=True))), threshold=0.05)
    assert chi2_rows(r, c)[0] == pytest.approx(x2.statistic, rel=1e-12)


def test_null_is_chi2_for_large_counts_and_simulated_for_small() -> None:
    rng = np.random.default_rng(1)
    big = binned_nulls([300] * 10, [310] * 9 + [210], binning="reference-quantiles")
    assert big["psi"].name == "chi2-approx"
    assert big["psi"].critical(0.05) == pytest.approx((1 / 3000 + 1 / 3000) * chi2.isf(0.05, 9))
    ref = rng.normal(size=60)
    edges = quantile_edges(ref, 10)
    small = binned_nulls(histogram(ref, edges), histogram(rng.normal(size=60), edges), binning="reference-quantiles")
    assert small["psi"].name == "dirichlet-multinomial"
    cat = binned_nulls([40, 30, 20, 1], [45, 25, 25, 0], binning="fixed")
    assert cat["chi2"].name == "permutation"
    # A simulated critical value is a quantile of the null: about 5% of draws lie above it.
    crit = small["psi"].critical(0.05)
    draws = small["psi"].sampler.draws("psi", 2000)  # type: ignore[attr-defined]
    assert 0.03 < np.mean(draws >= crit) < 0.07


def test_simulated_p_value_resolves_the_smallest_level() -> None:
    # A shift far beyond the null: p is bounded by the number of draws, which must reach alpha / k.
    null = binned_nulls([30] * 10, [0] * 5 + [60] * 5, binning="reference-quantiles")["psi"]
    p = null.pvalue(5.0, resolution=0.05 / 40)
    assert p <= 0.05 / 40 / 10


def test_psi_decision_uses_critical_value_and_floor() -> None:
    big = [100_000] * 10
    moved = [101_000] * 5 + [99_000] * 5  # PSI 1e-4: significant at 1e6 rows, far below the 0.01 floor
    res = drift.psi_from_counts(big, moved)
    assert res.pvalue < 1e-6 and res.statistic > res.critical_value
    assert res.effect < res.threshold == 0.01 and not res.drifted
    assert drift.psi_from_counts(big, moved, decision=drift.Decision(min_effect=drift.MinEffect(psi=0.0))).drifted


def test_fixed_rule_reproduces_the_old_thresholds() -> None:
    fixed = drift.Decision(rule="fixed")
    r = drift.psi_from_counts([50, 30, 20], [30, 30, 40], decision=fixed)
    assert r.drifted == (r.statistic >= 0.1) and r.threshold == 0.1 and r.pvalue is None
    assert drift.psi_from_counts([50, 30, 20], [30, 30, 40], threshold=0.3).drifted is False
    a, b = np.arange(100.0), np.arange(100.0) + 30
    assert drift.ks(a, b, decision=fixed).drifted == (drift.ks(a, b).pvalue < 0.05)


def test_power_and_rows_needed_agree() -> None:
    needed = rows_needed(10_000, 9, 0.05 / 10, 0.1, 0.8)
    assert needed is not None
    assert power(10_000, needed, 9, 0.005, 0.1) >= 0.8 > power(10_000, needed - 5, 9, 0.005, 0.1)
    assert rows_needed(100, 9, 0.005, 0.1, 0.8) is None  # the reference itself is too small


def test_dataset_family_is_the_primary_tests_of_all_features() -> None:
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    n = 2000

    def frame(shift: float) -> pd.DataFrame:
        return pd.DataFrame({"a": rng.normal(shift, 1, n), "b": rng.normal(size=n), "c": rng.choice(list("xyz"), n)})

    det = drift.DatasetDriftDetector(drift.Schema(numeric=["a", "b"], categorical=["c"])).fit(frame(0))
    res = det.score(frame(0.3))
    a = res.feature("a").test("psi")
    assert a.details["family_size"] == 3 and a.details["level"] == pytest.approx(0.05 / 3)
    assert res.drifted and res.status == "drift" and res.pvalue == a.adjusted_pvalue
    assert res.feature("b").status == "ok" and res.feature("c").status == "ok"
    # A series of four windows is one family of 4 x 3 primary tests.
    series = det.score_series([frame(0), frame(0), frame(0), frame(0.3)])
    assert series[0].feature("a").test("psi").details["family_size"] == 12
    assert [s.drifted for s in series] == [False, False, False, True]


def test_decision_validates_its_fields() -> None:
    for bad in ({"rule": "loose"}, {"alpha": 0}, {"power": 1.0}, {"detectable_psi": 0}):
        with pytest.raises(drift.ConfigError):
            drift.Decision(**bad)
