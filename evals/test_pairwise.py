"""A/B preferences judged in both orders: win rate, position consistency and length-controlled win rate."""

import pytest

from judges import EvalSuite, Gate, PairwiseJudge

PREFERENCES = EvalSuite(
    name="pairwise-helpfulness",
    dataset="pairwise_prefs.jsonl",
    kind="pairwise",
    judge=PairwiseJudge(criterion="helpfulness and correctness"),
    # no per-case threshold: a single A/B verdict is not a failure; the suite gates on the win rate
    gate=Gate(min=0.2, metric="win_rate", on="ci_low"),
)


@pytest.mark.parametrize("case", PREFERENCES.cases(), ids=lambda c: c.id)
def test_preference(case, evaluate):
    evaluate(PREFERENCES, case)


def test_preferences_gate(evaluate_suite):
    evaluate_suite(PREFERENCES)
