"""A summarizer (a declarative prompt on the local model) as the task under test, scored with ROUGE-L and G-Eval."""

import pytest

from experiments import EvalSuite, Gate, PromptTask, RougeL
from judges import GEval

SUMMARIZER = PromptTask(
    name="summarizer",
    version="1",
    template="Summarise the article in one sentence.\n\nArticle:\n{input}\n\nSummary:",
    max_tokens=60,
    stop=("\n\n",),
)

SUMMARIES = EvalSuite(
    name="summaries",
    dataset="summarization.jsonl",
    kind="summarization",
    task=SUMMARIZER,
    scorers=(
        RougeL(),  # against the reference summary: gates
        GEval(
            name="Coherence",
            criterion="The summary is well-structured, faithful to the article and states its key facts without invention.",
        ),
    ),
    gate=Gate(max_drop=0.02),
)


@pytest.mark.parametrize("case", SUMMARIES.cases(), ids=lambda c: c.id)
def test_summary(case, evaluate):
    evaluate(SUMMARIES, case)


def test_summaries_gate(evaluate_suite):
    evaluate_suite(SUMMARIES)
