"""Fixed outputs: answers already written in the dataset, graded pointwise with the retrieved context (no task)."""

import pytest

from experiments import EvalSuite, Gate
from judges import PointwiseJudge

FAITHFULNESS = EvalSuite(
    name="rag-faithfulness",
    dataset="rag_qa.jsonl",
    kind="rag",
    judge=PointwiseJudge(
        criterion="faithfulness",
        rubric=(
            "5: fully supported by the context and answers the question\n"
            "3: partly supported or incomplete\n"
            "1: contradicts the context or does not answer"
        ),
        explain=True,
    ),
    threshold=2.0,
    # advisory until the faithfulness judge has a meta-evaluation on >= 50 human labels (docs/judges.md)
    gate=Gate(min=2.0, metric="mean", on="ci_low"),
)


@pytest.mark.parametrize("case", FAITHFULNESS.cases(), ids=lambda c: c.id)
def test_rag_faithfulness(case, evaluate):
    evaluate(FAITHFULNESS, case)


def test_rag_gate(evaluate_suite):
    evaluate_suite(FAITHFULNESS)
