"""Numeric drift functions against scipy, Evidently 0.7 and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial import distance
from scipy.stats import ks_2samp

import drift
from drift.binning import histogram, quantile_edges


@pytest.fixture
def samples() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    return rng.normal(0, 1, 4000), rng.normal(0.15, 1.2, 3000)


@pytest.mark.parametrize("n_ref,n_cur", [(50, 80), (3000, 2000), (20000, 15000)])
def test_ks_equals_scipy_ks_2samp(n_ref: int, n_cur: int) -> None:
    # Small samples take scipy's exact path, large ones the asymptotic one: both must match.
    rng = np.random.default_rng(n_ref)
    a, b = rng.normal(size=n_ref), rng.normal(0.1, 1, size=n_cur)
    ours, ref = drift.ks(a, b), ks_2samp(a, b)
    assert ours.statistic == ref.statistic
    assert ours.pvalue == ref.pvalue
    # Calibrated rule: significant and at least the effect floor (D >= 0.04); the old rule on request.
    assert ours.drifted == (ref.pvalue <= 0.05 and ref.statistic >= 0.04)
    assert drift.ks(a, b, threshold=0.05).drifted == (ref.pvalue < 0.05)


@pytest.mark.parametrize("method", ["auto", "asymp", "exact"])
def test_ks_with_ties_equals_scipy(method: str) -> None:
    # Token counts have many ties; above 10 000 rows our merge-based path replaces scipy's search.
    rng = np.random.default_rng(9)
    n = 30_000 if method != "exact" else 3000
    a, b = rng.poisson(120, n).astype(float), rng.poisson(121, n - 7).astype(float)
    ours, ref = drift.ks(a, b, method=method), ks_2samp(a, b, method=method)
    assert (ours.statistic, ours.pvalue) == (ref.statistic, ref.pvalue)
    same = drift.ks(a, a[::-1].copy(), method=method)
    assert same.statistic == 0.0 and same.pvalue == 1.0


def test_psi_and_js_equal_evidently_given_evidently_binning(samples) -> None:
    pd = pytest.importorskip("pandas")
    ev_psi = pytest.importorskip("evidently.legacy.calculations.stattests.psi")
    ev_js = pytest.importorskip("evidently.legacy.calculations.stattests.jensenshannon")
    from evidently.legacy.core import ColumnType

    a, b = samples
    # Evidently bins numeric columns with > 20 distinct values by Sturges' rule on both samples.
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
    ev_p, ev_p_drift = ev_psi._psi(pd.Series(a), pd.Series(b), ColumnType.Numerical, 0.1)
    ev_j, _ = ev_js._jensenshannon(pd.Series(a), pd.Series(b), ColumnType.Numerical, 0.1)
    ours_p = drift.psi(a, b, bins=edges)
    ours_j = drift.js(a, b, bins=edges)
    assert ours_p.statistic == pytest.approx(ev_p, rel=1e-12)
    assert drift.psi(a, b, bins=edges, threshold=0.1).drifted == bool(ev_p_drift)  # Evidently's rule: PSI >= 0.1
    assert ours_j.statistic == pytest.approx(ev_j, rel=1e-12)


def test_psi_with_empty_bins_uses_evidentlys_fill_rule() -> None:
    pd = pytest.importorskip("pandas")
    ev_psi = pytest.importorskip("evidently.legacy.calculations.stattests.psi")
    from evidently.legacy.core import ColumnType

    rng = np.random.default_rng(7)
    a = rng.uniform(0, 1, 2000)
    b = rng.uniform(0.5, 1.5, 2000)  # half the bins are empty in each sample
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
    ev, _ = ev_psi._psi(pd.Series(a), pd.Series(b), ColumnType.Numerical, 0.1)
    assert drift.psi(a, b, bins=edges).statistic == pytest.approx(ev, rel=1e-12)


def test_psi_hand_computed() -> None:
    from scipy.stats import chi2

    r = np.array([0.5, 0.3, 0.2])
    c = np.array([0.3, 0.3, 0.4])
    expected = float(np.sum((r - c) * np.log(r / c)))
    res = drift.psi_from_counts([500, 300, 200], [300, 300, 400])
    assert res.statistic == pytest.approx(expected, rel=1e-14)
    assert res.method == "psi" and res.details["log_base"] == "e"
    # 200+ values per bin: PSI / (1/M + 1/N) is chi-square with bins - 1 degrees of freedom under no drift.
    scale = 1 / 1000 + 1 / 1000
    assert res.details["null"] == "chi2-approx"
    assert res.pvalue == pytest.approx(chi2.sf(expected / scale, 2), rel=1e-12)
    assert res.critical_value == pytest.approx(scale * chi2.isf(0.05, 2), rel=1e-12)
    assert res.drifted and res.effect == res.statistic and res.threshold == 0.01
    assert drift.psi_from_counts([500, 300, 200], [300, 300, 400], threshold=0.25).drifted is False  # old rule


def test_js_equals_scipy_jensenshannon_and_base_2() -> None:
    p, q = [10, 0, 5, 7], [3, 4, 9, 0]
    assert drift.js_from_counts(p, q).statistic == pytest.approx(distance.jensenshannon(p, q), rel=1e-12)
    assert drift.js_from_counts(p, q, base=2).statistic == pytest.approx(distance.jensenshannon(p, q, base=2), rel=1e-12)


def test_default_edges_are_reference_deciles_with_open_outer_bins(samples) -> None:
    a, b = samples
    edges = quantile_edges(a, 10)
    assert edges[0] == -np.inf and edges[-1] == np.inf
    np.testing.assert_allclose(edges[1:-1], np.quantile(a, np.linspace(0, 1, 11)[1:-1]))
    counts = histogram(a, edges)
    assert counts.sum() == a.size and np.all(np.abs(counts - a.size / 10) <= 1)
    res = drift.psi(a, b)
    assert res.details["n_bins"] == 10
    # Current values beyond the reference range land in the outer bins instead of being dropped.
    far = drift.psi(a, np.full(100, 1e9))
    assert far.statistic > 5 and far.drifted


def test_identical_samples_have_zero_distance(samples) -> None:
    a, _ = samples
    assert drift.psi(a, a).statistic == 0.0
    assert drift.js(a, a).statistic == 0.0
    assert drift.ks(a, a).pvalue == 1.0


def test_nan_and_inf_are_dropped_and_counted() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=500)
    b = np.concatenate([rng.normal(size=500), [np.nan] * 7, [np.inf] * 2, [-np.inf]])
    res = drift.psi(a, b)
    assert res.details["dropped_current"] == {"nan": 7, "posinf": 2, "neginf": 1}
    assert res.statistic == pytest.approx(drift.psi(a, b[np.isfinite(b)]).statistic)
    assert drift.ks(a, b).statistic == ks_2samp(a, b[np.isfinite(b)]).statistic


def test_constant_reference_gets_three_bins_and_detects_change() -> None:
    a = np.full(200, 3.0)
    edges = quantile_edges(a, 10)
    assert list(edges[1:-1]) == [3.0, np.nextafter(3.0, np.inf)]
    assert drift.psi(a, np.full(200, 3.0)).statistic == 0.0
    moved = drift.psi(a, np.full(200, 4.0))
    assert moved.drifted and math.isfinite(moved.statistic)


def test_all_missing_column_raises_naming_column() -> None:
    with pytest.raises(drift.EmptyDataError, match="'latency_ms'.*no finite values"):
        drift.psi([1.0, 2.0, 3.0], [np.nan, np.nan], column="latency_ms")


def test_strings_in_numeric_column_raise_schema_error() -> None:
    with pytest.raises(drift.SchemaError, match="'model'.*'gpt-4'.*categorical"):
        drift.psi([1.0, 2.0], ["gpt-4", "x"], column="model")


@pytest.mark.parametrize("bins", [1, 0, [1.0], [3.0, 2.0]])
def test_bad_bins_raise_config_error(bins) -> None:
    with pytest.raises(drift.ConfigError, match="bin"):
        drift.psi(np.arange(100.0), np.arange(100.0), bins=bins)


def test_tiny_samples_warn_about_low_power() -> None:
    with pytest.warns(drift.LowPowerWarning, match="'ttft_ms'.*low power"):
        res = drift.ks([1.0, 2.0, 3.0], [2.0, 3.0, 4.0], column="ttft_ms")
    assert res.pvalue == ks_2samp([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]).pvalue


def test_ks_from_counts_is_close_lower_bound(samples) -> None:
    a, b = samples
    edges = quantile_edges(a, 1000)
    approx = drift.ks_from_counts(histogram(a, edges), histogram(b, edges))
    exact = ks_2samp(a, b)
    assert approx.statistic <= exact.statistic + 1e-12
    assert exact.statistic - approx.statistic <= approx.details["max_bin_share"] + 1e-12
