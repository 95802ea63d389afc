"""Detectors fitted once on a reference and scored on current windows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

import drift


@pytest.fixture
def frames():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(3)
    n = 2000
    ref = pd.DataFrame({"latency_ms": rng.lognormal(6, 0.3, n), "tokens": rng.poisson(100, n).astype(float),
                        "topic": rng.choice(["a", "b", "c"], n), "model": ["m1"] * n})
    same = pd.DataFrame({"latency_ms": rng.lognormal(6, 0.3, n), "tokens": rng.poisson(100, n).astype(float),
                         "topic": rng.choice(["a", "b", "c"], n), "model": ["m1"] * n})
    shifted = pd.DataFrame({"latency_ms": rng.lognormal(6.4, 0.3, n), "tokens": rng.poisson(140, n).astype(float),
                            "topic": rng.choice(["a", "b", "c", "d"], n), "model": ["m2"] * n})
    return ref, same, shifted


SCHEMA = drift.Schema(numeric=["latency_ms", "tokens"], categorical=["topic", "model"])


def test_numeric_detector_equals_functions(frames) -> None:
    ref, _, cur = frames
    det = drift.NumericDriftDetector("latency_ms")
    assert det.fit(ref["latency_ms"]) is det
    f = det.score(cur["latency_ms"])
    assert f.test("psi").statistic == pytest.approx(drift.psi(ref["latency_ms"], cur["latency_ms"]).statistic, rel=1e-12)
    assert f.test("js").statistic == pytest.approx(drift.js(ref["latency_ms"], cur["latency_ms"]).statistic, rel=1e-12)
    exact = ks_2samp(ref["latency_ms"], cur["latency_ms"])
    assert f.test("ks").statistic == exact.statistic and f.test("ks").pvalue == exact.pvalue
    assert f.drifted and f.primary == "psi"


def test_detector_scores_many_windows_without_refit(frames) -> None:
    ref, same, cur = frames
    det = drift.NumericDriftDetector("tokens").fit(ref["tokens"])
    edges = det.edges_.copy()
    assert not det.score(same["tokens"]).drifted
    assert det.score(cur["tokens"]).drifted
    np.testing.assert_array_equal(det.edges_, edges)


def test_dataset_detector_share_verdict(frames) -> None:
    ref, same, cur = frames
    det = drift.DatasetDriftDetector(SCHEMA).fit(ref)
    quiet = det.score(same)
    assert not quiet.drifted and quiet.n_drifted == 0 and quiet.n_features == 4
    loud = det.score(cur)
    assert loud.drifted and loud.n_drifted == 4 and loud.drift_share == 1.0
    assert loud.feature("topic").test("psi").details["unseen"] == ["d"]
    assert any("unseen" in w for w in loud.warnings)
    assert loud.to_dict()["features"][0]["column"] == "latency_ms"


def test_share_threshold_decides(frames) -> None:
    ref, same, _ = frames
    cur = same.copy()
    cur["model"] = "m2"  # one of four features drifts
    assert drift.DatasetDriftDetector(SCHEMA, share_threshold=0.5).fit(ref).score(cur).drifted is False
    assert drift.DatasetDriftDetector(SCHEMA, share_threshold=0.25).fit(ref).score(cur).drifted is True


def test_missing_column_in_current_names_it(frames) -> None:
    ref, same, _ = frames
    det = drift.DatasetDriftDetector(SCHEMA).fit(ref)
    with pytest.raises(drift.SchemaError, match=r"current data lacks schema column\(s\) \['topic'\]"):
        det.score(same.drop(columns=["topic"]))


def test_empty_current_window_raises(frames) -> None:
    ref, same, _ = frames
    det = drift.DatasetDriftDetector(SCHEMA).fit(ref)
    with pytest.raises(drift.EmptyDataError, match="no rows"):
        det.score(same.iloc[0:0])


def test_all_missing_columns_are_skipped_with_reason(frames) -> None:
    ref, same, _ = frames
    ref = ref.assign(judge_score=np.nan)
    cur = same.assign(judge_score=np.nan, latency_ms=np.nan)
    schema = drift.Schema(numeric=["latency_ms", "tokens", "judge_score"], categorical=["topic"])
    res = drift.DatasetDriftDetector(schema).fit(ref).score(cur)
    assert res.feature("judge_score").status == "skipped"
    assert "reference column 'judge_score' has no finite values" in res.feature("judge_score").reason
    assert any("judge_score" in w for w in res.warnings)
    lat = res.feature("latency_ms")
    assert lat.status == "skipped" and lat.dropped["nan"] == len(cur)
    assert res.n_features == 2  # skipped columns do not count in the drift share


def test_nan_counts_reported(frames) -> None:
    ref, same, _ = frames
    cur = same.copy()
    cur.loc[:9, "latency_ms"] = np.nan
    cur.loc[10:12, "latency_ms"] = np.inf
    f = drift.NumericDriftDetector("latency_ms").fit(ref["latency_ms"]).score(cur["latency_ms"])
    assert f.dropped == {"nan": 10, "posinf": 3, "neginf": 0}
    assert f.n_current == len(cur) - 13


def test_constant_column_is_noted() -> None:
    f = drift.NumericDriftDetector("c").fit(np.ones(100)).score(np.ones(100) * 2)
    assert f.drifted and any("constant" in w for w in f.warnings)


def test_unfitted_and_bad_config() -> None:
    with pytest.raises(drift.ConfigError, match="not fitted"):
        drift.NumericDriftDetector("x").score([1.0])
    with pytest.raises(drift.ConfigError, match="unknown numeric drift method"):
        drift.NumericDriftDetector("x", methods=["psi", "wasserstein"])
    with pytest.raises(drift.SchemaError, match="both numeric and categorical"):
        drift.Schema(numeric=["a"], categorical=["a"])
    with pytest.raises(drift.ConfigError, match="share_threshold"):
        drift.DatasetDriftDetector(drift.Schema(numeric=["a"]), share_threshold=0)


def test_tiny_window_warns(frames) -> None:
    ref, same, _ = frames
    det = drift.NumericDriftDetector("tokens").fit(ref["tokens"])
    with pytest.warns(drift.LowPowerWarning, match="'tokens'"):
        f = det.score(same["tokens"].iloc[:5])
    assert any("low power" in w for w in f.warnings)
