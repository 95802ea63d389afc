"""Summaries of news articles, graded for faithfulness and coherence with G-Eval (probability-weighted)."""

import pytest

from judges import EvalSuite, Gate, GEval

COHERENCE = EvalSuite(
    name="summaries-coherence",
    dataset="summarization.jsonl",
    kind="summarization",
    judge=GEval(
        name="Coherence",
        criterion="The summary is well-structured, faithful to the article and states its key facts without invention.",
    ),
    threshold=2.0,
    # the lower bound of the 95% CI of the mean score must clear 2.0 on the 1-5 scale
    gate=Gate(min=2.0, metric="mean", on="ci_low"),
)


@pytest.mark.parametrize("case", COHERENCE.cases(), ids=lambda c: c.id)
def test_summary_coherence(case, evaluate):
    evaluate(COHERENCE, case)


def test_summaries_gate(evaluate_suite):
    evaluate_suite(COHERENCE)
