"""Windows over time, the operations panel, and concept drift from labels."""

from __future__ import annotations

import numpy as np
import pytest
from drift_logs import make_log_rows

import drift
from drift.concept import concept_drift
from drift.windows import parse_window

pd = pytest.importorskip("pandas")


@pytest.fixture
def feats():
    ref = drift.prepare(pd.DataFrame(make_log_rows(1200, seed=1, hours=24)))
    cur = drift.prepare(pd.DataFrame(make_log_rows(1200, seed=2, shift=True, start="2026-01-02T00:00:00Z", hours=24)))
    return ref, cur


@pytest.mark.parametrize("spec,kind,value", [("1d", "time", "1D"), ("6h", "time", "6h"), ("15min", "time", "15min"),
                                             ("500", "rows", 500), (500, "rows", 500)])
def test_parse_window(spec, kind, value) -> None:
    w = parse_window(spec)
    assert w.kind == kind and (w.freq if kind == "time" else w.rows) == value


@pytest.mark.parametrize("spec", ["daily", "0h", "-5", "1w"])
def test_bad_window_raises(spec) -> None:
    with pytest.raises(drift.ConfigError, match="window"):
        parse_window(spec)


def test_hourly_windows_include_empty_gaps() -> None:
    t = pd.to_datetime(["2026-01-01T00:10Z", "2026-01-01T00:50Z", "2026-01-01T03:05Z"])
    frame = pd.DataFrame({"timestamp": t, "x": [1.0, 2.0, 3.0]})
    wins = drift.split_windows(frame, "1h")
    assert [w.n_rows for w in wins] == [2, 0, 0, 1]
    assert wins[1].start == pd.Timestamp("2026-01-01T01:00Z") and wins[1].end == pd.Timestamp("2026-01-01T02:00Z")


def test_row_windows_cover_all_rows(feats) -> None:
    _, cur = feats
    wins = drift.split_windows(cur, 500)
    assert [w.n_rows for w in wins] == [500, 500, 200]


def test_time_window_without_timestamps_names_fix() -> None:
    with pytest.raises(drift.SchemaError, match="'timestamp'.*row window"):
        drift.split_windows(pd.DataFrame({"x": [1.0]}), "1h")


def test_drift_over_time_scores_each_window_and_reports_empty(feats) -> None:
    ref, cur = feats
    det = drift.DatasetDriftDetector(drift.Schema(numeric=["prompt_chars", "latency_ms"], categorical=["topic"])).fit(ref)
    gap = cur[(cur["timestamp"] < "2026-01-02T06:00Z") | (cur["timestamp"] >= "2026-01-02T12:00Z")]
    res = drift.drift_over_time(det, gap, "6h")
    assert [r.n_rows > 0 for r in res] == [True, False, True, True]
    assert res[1].result is None and "empty" in res[1].reason
    assert all(r.result.drifted for r in res if r.result is not None)
    whole = det.score(gap)
    assert sum(r.n_rows for r in res) == whole.n_current_rows


def test_ops_panel_matches_numpy(feats) -> None:
    _, cur = feats
    wins = drift.split_windows(cur, "6h")
    ops = drift.ops_panel(wins)
    for w, o in zip(wins, ops):
        assert o.n_requests == w.n_rows
        assert o.duration_s == 6 * 3600
        assert o.latency_p95 == pytest.approx(np.percentile(w.frame["latency_ms"], 95))
        assert o.ttft_p50 == pytest.approx(np.percentile(w.frame["ttft_ms"], 50))
        assert o.tpot_p95 == pytest.approx(np.percentile(w.frame["tpot_ms"], 95))
        assert o.requests_per_s == pytest.approx(w.n_rows / 21600)
        assert o.tokens_per_s == pytest.approx(w.frame["completion_tokens"].sum() / 21600)


def test_wilson_and_ztest_match_statsmodels() -> None:
    sm = pytest.importorskip("statsmodels.stats.proportion")
    for x, n in [(0, 10), (7, 10), (420, 500), (50, 50)]:
        lo, hi = drift.wilson_interval(x, n)
        ref_lo, ref_hi = sm.proportion_confint(x, n, alpha=0.05, method="wilson")
        assert lo == pytest.approx(ref_lo, abs=1e-12) and hi == pytest.approx(ref_hi, abs=1e-12)
    z, p = drift.two_proportion_ztest(420, 500, 300, 450)
    z_ref, p_ref = sm.proportions_ztest([300, 420], [450, 500])
    assert z == pytest.approx(z_ref, rel=1e-12) and p == pytest.approx(p_ref, rel=1e-10)


def test_concept_drift_detects_lower_pass_rate(feats) -> None:
    ref, cur = feats
    same = drift.prepare(pd.DataFrame(make_log_rows(1200, seed=9, start="2026-01-02T00:00:00Z", hours=24)))
    changed = concept_drift(ref, drift.split_windows(cur, "12h"))
    stable = concept_drift(ref, drift.split_windows(same, "12h"))
    assert all(c.pass_rate.changed for c in changed)
    assert all(c.pass_rate.value < 0.75 for c in changed)
    assert not any(c.pass_rate.changed for c in stable)
    c = changed[0]
    assert c.pass_rate.ci_low <= c.pass_rate.value <= c.pass_rate.ci_high
    # Judge metrics use the labelled rows that also have a judge score (about 90% of them here).
    w0 = drift.split_windows(cur, "12h")[0].frame
    both = w0["label"].notna() & w0["judge_score"].notna()
    assert c.accuracy.n == int(both.sum())
    agree = ((w0["judge_score"][both] >= 0.5) == (w0["label"][both] >= 0.5)).sum()
    assert c.accuracy.successes == int(agree)


def test_judge_metrics_against_labels() -> None:
    frame = pd.DataFrame({"label": [1, 1, 0, 0, 1, np.nan], "judge_score": [0.9, 0.2, 0.1, 0.8, 0.7, 0.5]})
    w = drift.split_windows(frame, 10)
    (c,) = concept_drift(frame, w)
    assert c.n_labeled == 5
    assert (c.accuracy.successes, c.accuracy.n) == (3, 5)
    assert (c.precision.successes, c.precision.n) == (2, 3)
    assert (c.recall.successes, c.recall.n) == (2, 3)
    assert c.pass_rate.pvalue == pytest.approx(1.0)


def test_rate_over_a_sub_second_burst_is_not_reported() -> None:
    # 40 cached replies logged within 60 ms once read as "641 req/s"; a rate needs a span of a second or more.
    t = pd.Timestamp("2026-01-01T00:00:00Z") + pd.to_timedelta(np.linspace(0, 0.06, 40), unit="s")
    burst = pd.DataFrame({"timestamp": t, "latency_ms": 1.0, "completion_tokens": 10.0})
    (ops,) = drift.ops_panel([drift.windows.Window("all", t.min(), t.max(), burst)])
    assert np.isnan(ops.requests_per_s) and np.isnan(ops.tokens_per_s) and ops.latency_p95 == 1.0
    t = pd.Timestamp("2026-01-01T00:00:00Z") + pd.to_timedelta(np.arange(40) * 2.0, unit="s")
    steady = burst.assign(timestamp=t)
    (ops,) = drift.ops_panel([drift.windows.Window("all", t.min(), t.max(), steady)])
    assert ops.requests_per_s == pytest.approx(0.5) and ops.tokens_per_s == pytest.approx(5.0)


def test_identical_series_are_drawn_once_with_both_names() -> None:
    from drift import svg

    chart = svg.lines(["a", "b"], {"latency p95": [1.0, 2.0], "TTFT p95": [1.0, 2.0], "p50": [0.5, 1.0]})
    assert chart.count("<polyline") == 2 and "latency p95 = TTFT p95" in chart


def test_series_alarms_are_corrected_across_windows(feats) -> None:
    ref, _ = feats
    same = drift.prepare(pd.DataFrame(make_log_rows(2400, seed=4, start="2026-01-02T00:00:00Z", hours=24)))
    det = drift.DatasetDriftDetector(drift.Schema(numeric=["prompt_chars", "latency_ms", "ttft_ms"],
                                                  categorical=["topic", "language"])).fit(ref)
    res = drift.drift_over_time(det, same, "2h")
    assert len(res) == 12 and not any(r.result.drifted for r in res)
    level = res[0].result.features[0].tests[0].details
    assert level["family_size"] == 12 * 5  # Holm over every window's features
