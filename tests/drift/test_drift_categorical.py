"""Categorical drift against Evidently 0.7's stattests and scipy's chi-square."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chi2_contingency

import drift
from drift.binning import category_counts


@pytest.fixture
def cats() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    ref = rng.choice(["billing", "shipping", "returns", "other"], 3000, p=[0.4, 0.3, 0.2, 0.1])
    cur = rng.choice(["billing", "shipping", "returns", "other", "crypto"], 2500, p=[0.3, 0.3, 0.15, 0.1, 0.15])
    return ref, cur


def test_psi_and_js_equal_evidently_including_unseen_category(cats) -> None:
    pd = pytest.importorskip("pandas")
    ev_psi = pytest.importorskip("evidently.legacy.calculations.stattests.psi")
    ev_js = pytest.importorskip("evidently.legacy.calculations.stattests.jensenshannon")
    from evidently.legacy.core import ColumnType

    ref, cur = cats
    ev_p, _ = ev_psi._psi(pd.Series(ref), pd.Series(cur), ColumnType.Categorical, 0.1)
    ev_j, _ = ev_js._jensenshannon(pd.Series(ref), pd.Series(cur), ColumnType.Categorical, 0.1)
    p = drift.psi_categorical(ref, cur)
    j = drift.js_categorical(ref, cur)
    assert p.statistic == pytest.approx(ev_p, rel=1e-12)
    assert j.statistic == pytest.approx(ev_j, rel=1e-12)
    assert p.details["unseen"] == ["crypto"]
    assert p.details["unseen_share"] == pytest.approx(np.mean(cur == "crypto"))


def test_chi2_equals_scipy_contingency(cats) -> None:
    ref, cur = cats
    keys = ["billing", "shipping", "returns", "other", "crypto"]
    table = np.array([[np.sum(ref == k) for k in keys], [np.sum(cur == k) for k in keys]])
    stat, p, dof, _ = chi2_contingency(table, correction=False)
    res = drift.chi2(ref, cur)
    assert res.statistic == pytest.approx(stat, rel=1e-12)
    assert res.pvalue == pytest.approx(p, rel=1e-9, abs=1e-300)
    assert res.details["dof"] == dof and res.drifted


def test_same_distribution_does_not_drift() -> None:
    rng = np.random.default_rng(1)
    a = rng.choice(list("abc"), 5000, p=[0.5, 0.3, 0.2])
    b = rng.choice(list("abc"), 5000, p=[0.5, 0.3, 0.2])
    assert not drift.psi_categorical(a, b).drifted
    assert not drift.js_categorical(a, b).drifted
    assert drift.chi2(a, b).pvalue > 0.01


def test_missing_values_are_counted_not_categories() -> None:
    s = category_counts(["a", None, "b", float("nan"), "a", 1, "1"])
    assert s.counts == {"a": 2, "b": 1, "1": 2}
    assert s.n_missing == 2


def test_single_category_in_both_is_no_drift() -> None:
    res = drift.chi2(["x"] * 50, ["x"] * 40)
    assert res.pvalue == 1.0 and not res.drifted


def test_all_missing_current_raises_naming_column() -> None:
    with pytest.raises(drift.EmptyDataError, match="'topic'"):
        drift.psi_categorical(["a", "b"] * 20, [None, None], column="topic")
