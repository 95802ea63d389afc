"""Every gate kind decides as documented; each test would catch a one-line mutation of the decision.

Records are built by hand (the scores are given), so the tests pin ``summarize``/``decide_gate`` alone.
"""

from __future__ import annotations

import pytest

from experiments.record import Alignment, CaseRecord, Comparison, Interval, Score, ScorerInfo, TaskRun
from experiments.suite import Gate, decide_gate, summarize

SCORER = ScorerInfo(scorer="pointwise:q", criterion="q", kind="judge", scale=(1.0, 5.0), threshold=3.0)
PAIR = ScorerInfo(scorer="pairwise:q", criterion="q", kind="judge", scale=(0.0, 1.0), pairwise=True)
# these tests pin the checks themselves: the judge is qualified (tests/experiments/test_alignment_gate.py
# covers judges that are not)
QUALIFIED = Alignment(judge="q", judge_model="m", source="evidence.json", n_labels=80, metric="cohen_kappa",
                      agreement=Interval(value=0.7, low=0.55, high=0.82, n=80),
                      error_rate=Interval(value=0.15, low=0.08, high=0.23, n=80))


def rec(i: int, score: float | None, *, threshold: float | None = 3.0, scorer: str = "pointwise:q",
        task_error: str | None = None, details: dict | None = None) -> CaseRecord:
    s = Score(scorer=scorer, criterion="q", kind="judge", score=score, threshold=threshold,
              passed=None if score is None or threshold is None else score >= threshold,
              failure="unparseable" if score is None else None, details=details or {})
    return CaseRecord(case_id=f"c{i}", input="x", output="y", scores=[] if task_error else [s],
                      task=TaskRun(output=None if task_error else "y", error=task_error))


def gate_of(records, gate, scorer=SCORER, kind="summarization", comparisons=(), alignment=QUALIFIED):
    return summarize([scorer], records, kind=kind, gate=gate, comparisons=comparisons, alignment=alignment).gate


def test_mean_on_ci_low_fails_where_the_point_estimate_passes():
    records = [rec(i, s) for i, s in enumerate([3.0, 5.0, 3.0, 5.0, 3.0, 5.0])]  # mean 4.0, CI roughly [3.3, 4.7]
    assert gate_of(records, Gate(min=3.9, metric="mean", on="point")).passed is True
    low = gate_of(records, Gate(min=3.9, metric="mean", on="ci_low"))
    assert low.passed is False and "mean 95% CI low" in low.reason and "< 3.9" in low.reason
    assert gate_of(records, Gate(min=3.2, metric="mean", on="ci_low")).passed is True


def test_mean_gate_is_a_minimum_not_a_maximum():
    records = [rec(i, 2.0) for i in range(8)]
    assert gate_of(records, Gate(min=2.5, on="point")).passed is False
    assert gate_of(records, Gate(min=1.5, on="point")).passed is True


def test_pass_rate_gate_uses_the_threshold_verdicts():
    records = [rec(i, s) for i, s in enumerate([4.0, 4.0, 4.0, 2.0])]  # 3 of 4 pass at threshold 3
    assert gate_of(records, Gate(min=0.7, metric="pass_rate", on="point")).passed is True
    assert gate_of(records, Gate(min=0.8, metric="pass_rate", on="point")).passed is False
    # the mean (3.5) would clear 0.8 easily: the gate must read the pass rate, not the mean
    no_threshold = [rec(i, 4.0, threshold=None) for i in range(4)]
    g = gate_of(no_threshold, Gate(min=0.5, metric="pass_rate", on="point"))
    assert g.passed is False and "no pass_rate" in g.reason


def test_win_rate_gate_reads_the_win_rate_not_the_loss_rate():
    # 7 wins (1.0), 1 tie, 2 losses of candidate A: win rate 0.75, loss rate 0.2
    scores = [1.0] * 7 + [0.5] + [0.0] * 2
    records = [rec(i, s, threshold=None, scorer="pairwise:q") for i, s in enumerate(scores)]
    passed = gate_of(records, Gate(min=0.7, metric="win_rate", on="point"), scorer=PAIR, kind="pairwise")
    assert passed.passed is True and "win_rate estimate 0.750" in passed.reason
    assert gate_of(records, Gate(min=0.8, metric="win_rate", on="point"), scorer=PAIR, kind="pairwise").passed is False
    flipped = [rec(i, 1.0 - s, threshold=None, scorer="pairwise:q") for i, s in enumerate(scores)]
    assert gate_of(flipped, Gate(min=0.7, metric="win_rate", on="point"), scorer=PAIR, kind="pairwise").passed is False


def test_judge_failure_rate_fails_the_gate_even_when_the_mean_passes():
    records = [rec(i, 5.0) for i in range(7)] + [rec(7 + i, None) for i in range(3)]  # 30% failures
    g = gate_of(records, Gate(min=1.0, on="point", max_judge_failure_rate=0.2))
    assert g.passed is False and "judge failures 30% > 20%" in g.reason
    assert gate_of(records, Gate(min=1.0, on="point", max_judge_failure_rate=0.3)).passed is True


def test_task_errors_fail_the_gate():
    records = [rec(i, 5.0) for i in range(9)] + [rec(9, None, task_error="TimeoutError")]
    g = gate_of(records, Gate(min=1.0, on="point", max_task_error_rate=0.05))
    assert g.passed is False and "task errors 10% > 5%" in g.reason
    assert gate_of(records, Gate(min=1.0, on="point", max_task_error_rate=0.1)).passed is True


def comparison(pvalue: float, diff: float = -0.4) -> Comparison:
    return Comparison(baseline_run_id="b", baseline_source="b.json", scorer="pointwise:q", n_paired=50,
                      baseline_mean=4.0, mean=4.0 + diff, mean_diff=diff, low=diff - 0.1, high=diff + 0.1,
                      pvalue=pvalue, max_drop=0.1, alpha=0.05, margin=0.2, improved=1, regressed=10, unchanged=39)


def test_regression_gate_fails_only_on_a_significant_drop():
    records = [rec(i, 4.0) for i in range(10)]
    fail = gate_of(records, Gate(max_drop=0.1), comparisons=[comparison(0.001)])
    assert fail.passed is False and "significant regression" in fail.reason
    ok = gate_of(records, Gate(max_drop=0.1), comparisons=[comparison(0.2, diff=-0.05)])
    assert ok.passed is True and "≥ α 0.05" in ok.reason
    # alpha is the decision's level: the same p-value passes at a stricter alpha
    assert gate_of(records, Gate(max_drop=0.1, alpha=0.0005), comparisons=[comparison(0.001)]).passed is True


def test_regression_gate_without_a_baseline_says_so():
    g = gate_of([rec(i, 4.0) for i in range(5)], Gate(max_drop=0.1))
    assert g.passed is True and "regression not tested: no baseline" in g.reason


def test_refused_baseline_fails_the_regression_gate():
    summary = summarize([SCORER], [rec(i, 4.0) for i in range(5)], kind="summarization", gate=None,
                        baseline_note="judge model differs", alignment=QUALIFIED)
    g = decide_gate(Gate(max_drop=0.1), summary, baseline_refused=True)
    assert g.passed is False and "baseline refused: judge model differs" in g.reason


def test_gate_settings_are_checked():
    with pytest.raises(ValueError, match="min=... .* or max_drop"):
        Gate()
    with pytest.raises(ValueError, match="max_drop must be >= 0"):
        Gate(max_drop=-0.1)
    with pytest.raises(ValueError, match="metric 'median'"):
        Gate(min=1, metric="median")  # type: ignore[arg-type]


def test_summary_counts_and_cis():
    records = [rec(i, s) for i, s in enumerate([1.0, 2.0, 3.0, 4.0, 5.0])] + [rec(5, None)]
    s = summarize([SCORER], records, kind="summarization", gate=None)
    sc = s.scorer()
    assert s.n == 6 and s.judge_failures == 1 and sc.n_scored == 5 and sc.failures == 1
    assert sc.mean.value == pytest.approx(3.0) and sc.mean.low < 3.0 < sc.mean.high
    assert sc.pass_rate.value == pytest.approx(0.6) and sc.below_threshold == 2
