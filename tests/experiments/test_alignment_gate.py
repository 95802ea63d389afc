"""The alignment gate: a gate on an LLM judge binds only with evidence that the judge agrees with humans.

Each test would catch a one-line mutation of the decision (a flipped comparison, a check dropped, a
deterministic scorer made to need evidence, ties counted as a pass).
"""

from __future__ import annotations

import numpy as np
import pytest
from evidence_fakes import evidence

from experiments.alignment import alignment_of, load_evidence
from experiments.record import Alignment, CaseRecord, Interval, Score, ScorerInfo, TaskRun
from experiments.suite import Gate, summarize, to_score
from judges import Judgement, PairwiseJudge, PointwiseJudge
from judges._judge import judge_fingerprint
from judges.meta_eval import write_meta_eval

JUDGE = ScorerInfo(scorer="pointwise:q", criterion="q", kind="judge", scale=(1.0, 5.0), threshold=3.0)
SCORER = ScorerInfo(scorer="token_f1", criterion="token_f1", kind="scorer", scale=(0.0, 1.0))
PAIR = ScorerInfo(scorer="pairwise:q", criterion="q", kind="judge", scale=(0.0, 1.0), pairwise=True)


def rec(i: int, score: float | None, scorer: str = "pointwise:q", kind: str = "judge", flags=(), details=None,
        task_error: str | None = None) -> CaseRecord:
    s = Score(scorer=scorer, criterion="q", kind=kind, score=score, flags=list(flags), details=details or {},
              failure=None if score is not None else "unparseable")
    return CaseRecord(case_id=f"c{i}", input="x", output="y", scores=[] if task_error else [s],
                      task=TaskRun(output=None if task_error else "y", error=task_error))


def align(n: int = 80, low: float = 0.55, source: str | None = "e.json") -> Alignment:
    return Alignment(judge="pointwise:q", judge_model="m", source=source, n_labels=n, metric="quadratic_kappa",
                     agreement=Interval(value=low + 0.15, low=low, high=low + 0.3, n=n),
                     error_rate=Interval(value=0.2, low=0.12, high=0.3, n=n))


def gate(records, g, info=JUDGE, alignment=None):
    return summarize([info], records, kind="summarization", gate=g, alignment=alignment).gate


FAILING = [rec(i, 2.0) for i in range(10)]  # mean 2.0: fails Gate(min=3)
PASSING = [rec(i, 4.0) for i in range(10)]


def test_without_evidence_the_gate_is_advisory_and_says_so():
    g = gate(FAILING, Gate(min=3.0, on="point"))
    assert g.passed is None and g.advisory.startswith("no evidence: no meta-evaluation of pointwise:q found")
    assert "would fail: mean estimate 2.000 < 3.0" in g.reason
    ok = gate(PASSING, Gate(min=3.0, on="point"))
    assert ok.passed is None and "would pass" in ok.reason  # an unproven judge never says PASS either


def test_strict_alignment_fails_instead():
    g = gate(PASSING, Gate(min=3.0, on="point", alignment="strict"))
    assert g.passed is False and "judge not qualified (no evidence" in g.reason and g.advisory is None


def test_too_few_labels_boundary():
    assert "too few labels: 49 human labels < 50" in gate(PASSING, Gate(min=3.0), alignment=align(n=49)).advisory
    bound = gate(PASSING, Gate(min=3.0, on="point"), alignment=align(n=50))
    assert bound.advisory is None and bound.passed is True  # exactly the minimum binds


def test_agreement_ci_low_boundary_and_level():
    low = gate(FAILING, Gate(min=3.0, on="point"), alignment=align(low=0.39))
    assert low.passed is None and "agreement too low: quadratic_kappa 95% CI low 0.390 < 0.4" in low.advisory
    at = gate(FAILING, Gate(min=3.0, on="point"), alignment=align(low=0.4))
    assert at.passed is False and at.advisory is None  # qualified: the failing check now binds
    assert gate(FAILING, Gate(min=3.0, on="point", min_agreement=0.3), alignment=align(low=0.39)).passed is False


def test_a_binding_verdict_states_the_judges_error_rate():
    g = gate(PASSING, Gate(min=3.0, on="point"), alignment=align())
    assert g.passed is True
    assert "judge evidence: quadratic_kappa 0.70 [0.55, 0.85] on 80 human labels, disagrees with humans on 20% [12%, 30%]" in g.reason


def test_deterministic_scorers_need_no_evidence():
    records = [rec(i, 0.2, scorer="token_f1", kind="scorer") for i in range(10)]
    g = gate(records, Gate(min=0.5, on="point"), info=SCORER)
    assert g.passed is False and g.advisory is None


def test_task_errors_bind_even_when_the_judge_is_unproven():
    records = PASSING[:8] + [rec(8 + i, None, task_error="boom") for i in range(2)]
    g = gate(records, Gate(min=3.0, on="point"))
    assert g.passed is False and "task errors 20% > 5%" in g.reason and g.advisory is not None


def pair(i: int, score: float, identical: bool = False) -> CaseRecord:
    return rec(i, score, scorer="pairwise:q", details={"identical": identical, "consistent": False})


def test_the_pairwise_gate_refuses_all_ties_on_differing_candidates():
    ties = [pair(i, 0.5) for i in range(10)]
    g = summarize([PAIR], ties, kind="pairwise", gate=Gate(min=0.2, metric="win_rate"), alignment=align()).gate
    assert g.passed is False and "every one of the 10 verdicts on differing candidates is a tie" in g.reason
    one = [pair(0, 1.0)] + ties[1:]  # one decisive verdict: the win-rate check decides
    assert summarize([PAIR], one, kind="pairwise", gate=Gate(min=0.2, metric="win_rate"),
                     alignment=align()).gate.passed is True
    same = [pair(i, 0.5, identical=True) for i in range(10)]  # identical candidates: a tie is the right answer
    assert summarize([PAIR], same, kind="pairwise", gate=Gate(min=0.2, metric="win_rate"),
                     alignment=align()).gate.passed is True


def test_abstained_verdicts_leave_the_aggregates_and_the_pass_fail():
    from judges.results import Judgement

    j = Judgement(judge="pointwise:q", judge_model="m", score=1.0, flags=("abstained",))
    s = to_score(PointwiseJudge("q", "r"), j, threshold=3.0)
    assert s.abstained and s.passed is None  # neither passed nor failed: a human decides
    records = PASSING[:8] + [rec(8, 1.0, flags=("abstained",)), rec(9, 1.0, flags=("abstained",))]
    summary = summarize([JUDGE], records, kind="summarization", gate=None)
    sc = summary.scorer()
    assert sc.abstained == 2 and sc.n_scored == 8 and sc.failures == 0 and sc.mean.value == pytest.approx(4.0)


def test_evidence_is_found_by_configuration_and_model(tmp_path):
    judge = PairwiseJudge("helpfulness")
    info = ScorerInfo(scorer=judge.judge_name, criterion="helpfulness", kind="judge",
                      fingerprint=judge_fingerprint(judge))
    write_meta_eval(evidence(judge, "gemma", kappa=(0.5, 0.3, 0.7)), tmp_path / "old.json")
    write_meta_eval(evidence(judge, "gemma", kappa=(0.6, 0.45, 0.75), created="2026-02-01T00:00:00+0000"),
                    tmp_path / "new.json")
    write_meta_eval(evidence(PairwiseJudge("helpfulness", rule="per_order"), "gemma"), tmp_path / "other.json")
    (tmp_path / "junk.json").write_text("{}")
    found = load_evidence(tmp_path)
    assert len(found) == 3  # the junk file is skipped with a warning
    a = alignment_of(found, info, "gemma")
    assert a.source.endswith("new.json") and a.agreement.low == 0.45 and a.n_labels == 80
    other_model = alignment_of(found, info, "gpt-4o")
    assert other_model.source is None and "another judge model" in other_model.note
    other_config = ScorerInfo(scorer=judge.judge_name, criterion="h", kind="judge",
                              fingerprint=judge_fingerprint(PairwiseJudge("helpfulness", tie_margin=0.1)))
    note = alignment_of(found, other_config, "gemma").note
    assert "another configuration of the judge" in note
    assert load_evidence(tmp_path / "missing") == []
    assert sorted(name for _, name in load_evidence(tmp_path, root=tmp_path)) == ["new.json", "old.json", "other.json"]


def test_fingerprints_follow_the_configuration():
    assert judge_fingerprint(PairwiseJudge("q")) == judge_fingerprint(PairwiseJudge("q"))
    assert judge_fingerprint(PairwiseJudge("q")) != judge_fingerprint(PairwiseJudge("q", contextual=True))
    from experiments.suite import VersusBaseline

    assert judge_fingerprint(VersusBaseline(PairwiseJudge("q"))) == judge_fingerprint(PairwiseJudge("q"))


@pytest.mark.parametrize(("p_agree", "n", "bound"), [(0.7, 50, 0.08)])
def test_error_rate_an_unqualified_judge_is_let_through(p_agree, n, bound):
    """A judge whose true kappa is exactly the level (0.4) must rarely qualify: the CI low is a one-sided 2.5% test.

    Balanced A/B labels, the judge right with probability 0.7: kappa = 2 * 0.7 - 1 = 0.4.
    """
    from judges.stats import kappa_ci

    rng = np.random.default_rng(7)
    runs, passed = 120, 0
    for _ in range(runs):
        human = rng.choice(["A", "B"], n)
        right = rng.uniform(size=n) < p_agree
        judge = np.where(right, human, np.where(human == "A", "B", "A"))
        passed += kappa_ci(list(human), list(judge), labels=["A", "B", "tie"], n_resamples=200, seed=None).low >= 0.4
    # nominal 2.5% (docs/judges.md: 2.5% at n = 50 over 400 simulated meta-evaluations); the bound allows
    # for the simulation's own error with 120 runs
    assert passed / runs <= bound


def test_power_a_good_judge_qualifies_on_100_labels():
    from judges.stats import kappa_ci

    rng = np.random.default_rng(8)
    runs, passed = 60, 0
    for _ in range(runs):
        human = rng.choice(["A", "B"], 100)
        right = rng.uniform(size=100) < 0.9  # kappa 0.8
        judge = np.where(right, human, np.where(human == "A", "B", "A"))
        passed += kappa_ci(list(human), list(judge), labels=["A", "B", "tie"], n_resamples=200, seed=None).low >= 0.4
    assert passed / runs >= 0.95


def test_judgement_flags_reach_the_record():
    j = Judgement(judge="pairwise:q", judge_model="m", score=0.5, flags=("abstained",), details={"identical": False})
    s = to_score(PairwiseJudge("q"), j, threshold=None)
    assert s.flags == ["abstained"] and s.abstained
