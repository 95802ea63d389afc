"""The judge-score series and its alerts: hand-computed values, and error rates measured by simulation."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from monitor_helpers import NOW

from monitor.config import EvaluatorConfig, QualityConfig
from monitor.quality import _html, _svg, compare, quality_report, worse, write_quality
from monitor.runner import EXIT_ALERT, EXIT_ERROR, EXIT_OK, RunResult, _meaning
from stats import holm, welch_pvalue

Q = QualityConfig(bucket="1d", current=timedelta(days=1), reference=timedelta(days=7), min_n=30)


def ev(**kw):
    return EvaluatorConfig(**{"name": "helpfulness", "rubric": "r", "sample_rate": 1.0, **kw})


def frame(ref_scores, cur_scores, *, topics=None, failures=0):
    """A scores-table frame: ``ref_scores`` spread over the 7 reference days, ``cur_scores`` over the last day."""
    rows = []
    for scores, start, span in ((ref_scores, NOW - timedelta(days=8), 7), (cur_scores, NOW - timedelta(days=1), 1)):
        for i, s in enumerate(scores):
            t = start + timedelta(days=span) * (i + 0.5) / len(scores)
            rows.append({"evaluator": "helpfulness", "timestamp": t, "score": float(s), "failure": None,
                         "model": "m1", "topic": (topics[i % len(topics)] if topics else "all"), "language": "en"})
    for i in range(failures):
        rows.append({"evaluator": "helpfulness", "timestamp": NOW - timedelta(hours=1 + i % 20), "score": np.nan,
                     "failure": "no verdict", "model": "m1", "topic": "all", "language": "en"})
    out = pd.DataFrame(rows)
    out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True)
    return out


def test_buckets_hold_the_mean_and_the_fail_rate_with_their_intervals():
    cur = [1.0] * 3 + [4.0] * 7
    report = quality_report(frame([4.0] * 70, cur, failures=2), [ev()], Q, until=NOW)
    c = report.evaluators[0].current
    assert c.n == 10 and c.mean == pytest.approx(3.1) and c.mean_low < 3.1 < c.mean_high
    assert c.fail_rate == pytest.approx(0.3)
    assert (c.fail_low, c.fail_high) == pytest.approx((0.1078, 0.6032), abs=1e-4)  # Wilson 95%, 3 of 10
    assert c.judge_failures == 2 and c.judge_failure_rate == pytest.approx(2 / 12)
    days = [b for b in report.evaluators[0].series if b.n]
    assert sum(b.n for b in days) == 80 and len(report.evaluators[0].series) == 9  # empty days are listed too


def test_min_mean_alert_needs_the_whole_interval_below_the_bound():
    rng = np.random.default_rng(1)
    low = rng.normal(2.5, 0.5, 200)
    e = ev(alert={"min_mean_score": 3.0, "on_change": False})
    assert quality_report(frame(low, low), [e], Q, until=NOW).alerting
    at_bound = ev(alert={"min_mean_score": 2.5, "on_change": False})  # the CI straddles 2.5
    assert not quality_report(frame(low, low), [at_bound], Q, until=NOW).alerting


def test_fail_rate_alert_needs_the_whole_interval_above_the_bound():
    cur = [1.0] * 40 + [4.0] * 60  # 40% fail, Wilson CI about [31%, 50%]
    assert quality_report(frame(cur, cur), [ev(alert={"max_fail_rate": 0.25, "on_change": False})], Q,
                          until=NOW).alerting
    assert not quality_report(frame(cur, cur), [ev(alert={"max_fail_rate": 0.35, "on_change": False})], Q,
                              until=NOW).alerting


def test_too_little_data_is_its_own_state_and_never_alerts():
    report = quality_report(frame([4.0] * 100, [1.0] * 5), [ev()], Q, until=NOW)
    assert report.evaluators[0].overall.status == "too little data" and not report.alerting


def test_the_slice_that_moved_is_named():
    rng = np.random.default_rng(2)
    ref = rng.normal(4.0, 0.6, 1400)
    cur = rng.normal(4.0, 0.6, 600)
    cur[::2] -= 1.0  # "coding" is every other row of the current window
    report = quality_report(frame(ref, cur, topics=["coding", "math"]), [ev()], Q, until=NOW)
    e = report.evaluators[0]
    assert e.moved_slices == ["topic=coding"]
    assert e.alerts and "mean fell" in e.alerts[0]


def test_welch_matches_scipy_and_handles_constant_samples():
    from scipy.stats import ttest_ind

    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 1, 50), rng.normal(0.3, 2, 80)
    assert welch_pvalue(a, b) == pytest.approx(ttest_ind(b, a, equal_var=False).pvalue, rel=1e-9)
    assert welch_pvalue(np.full(5, 4.0), np.full(5, 4.0)) == 1.0
    assert welch_pvalue(np.full(5, 4.0), np.full(5, 3.0)) == 0.0


def test_holm_adjustment():
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06])


def test_change_alarm_error_rates_by_simulation():
    """The change alarm (the decision quality_report makes per evaluator): false alarms under no change stay
    at about alpha; a 0.25-point drop of the mean (sd 1, 300 verdicts a day against a week of 1,400) is caught
    in at least 90% of days. Measured: see docs/monitoring.md."""
    rng = np.random.default_rng(3)

    def alarm_rate(drop: float, runs: int = 250) -> float:
        hits = 0
        for _ in range(runs):
            ref = pd.DataFrame({"score": np.clip(np.round(rng.normal(3.8, 1.0, 1400)), 1, 5)})
            cur = pd.DataFrame({"score": np.clip(np.round(rng.normal(3.8 - drop, 1.0, 300)), 1, 5)})
            hits += bool(worse(compare("all", ref, cur, 3.0, 30), 0.05))
        return hits / runs

    false_alarms, power = alarm_rate(0.0), alarm_rate(0.25)
    assert false_alarms <= 0.08  # two tests (mean, fail rate), each counted only when it moved for the worse
    assert power >= 0.9


def test_report_files(tmp_path):
    report = quality_report(frame([4.0] * 70, [3.0] * 40), [ev()], Q, until=NOW)
    paths = write_quality(report, tmp_path)
    html = paths["quality_html"].read_text()
    assert "<svg" in html and "helpfulness" in html and "<script" not in html
    assert '"alerting"' in paths["quality_json"].read_text()


def test_one_status_for_the_header_the_line_and_the_table():
    rng = np.random.default_rng(5)
    report = quality_report(frame(rng.normal(2.8, 0.6, 700), rng.normal(2.5, 0.6, 300)), [ev()], Q, until=NOW)
    e = report.evaluators[0]
    assert e.alerts and "mean fell" in e.alerts[0]
    assert report.alerting and e.status == "alert" and e.overall.status == "alert"  # the `all` row says so too
    line = report.line()
    assert line.startswith("quality: ALERT ") and "(alert)" in line and "(ok)" not in line
    html = _html(report)
    assert "<td>all</td>" in html and html.split("<td>all</td>")[1].split("</tr>")[0].endswith("<td>alert</td>")
    calm = quality_report(frame([4.0] * 70, [4.0] * 40), [ev()], Q, until=NOW)
    assert not calm.alerting and calm.evaluators[0].status == "ok" and "(ok)" in calm.line()
    bound = quality_report(frame([4.0] * 5, [2.0] * 40), [ev(alert={"min_mean_score": 3.0})], Q, until=NOW)
    assert bound.evaluators[0].status == "alert" and bound.alerting  # a bound alert with too little reference


def test_agreement_is_a_table_and_times_are_to_the_second():
    import dataclasses

    report = quality_report(frame([4.0] * 70, [3.0] * 40), [ev()], Q, until=NOW + timedelta(microseconds=123456))
    e = dataclasses.replace(report.evaluators[0], agreement={"n_items": 12, "kappa_qw": 0.61, "kappa_ci": [0.3, 0.8],
                                                             "spearman_rho": 0.7, "spearman_p": 0.01})
    html = _html(dataclasses.replace(report, evaluators=(e,)))
    assert "<table class='agreement'>" in html and "0.61 [0.30, 0.80]" in html and '"n_items"' not in html
    assert not __import__("re").search(r"T\d\d:\d\d:\d\d\.\d", html)  # no fractions of a second
    assert NOW.strftime("%Y-%m-%dT%H:%M:%S") in html


def test_the_chart_draws_one_bucket():
    report = quality_report(frame([4.0] * 70, [3.0] * 40), [ev()], Q, until=NOW)
    one = [b for b in report.evaluators[0].series if b.mean is not None][-1:]
    svg = _svg(one)
    assert "<circle" in svg and "<line" in svg and "NaN" not in svg and "nan" not in svg
    assert "<polyline" in _svg(report.evaluators[0].series)


@pytest.mark.parametrize("code,fired,said", [
    (EXIT_OK, [], "ok"), (EXIT_ALERT, ["quality alert"], "quality alert"), (EXIT_ALERT, ["drift"], "drift"),
    (EXIT_ALERT, ["quality alert", "drift"], "quality alert and drift"), (EXIT_ERROR, ["drift"], "error; also drift"),
])
def test_the_exit_line_says_what_fired(code, fired, said):
    assert _meaning(RunResult("r", exit_code=code, fired=fired)) == said
