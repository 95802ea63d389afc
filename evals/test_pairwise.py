"""Two prompts of one task judged head to head, in both orders: win rate, consistency, length control."""

import pytest

from experiments import EvalSuite, Gate, PromptTask
from judges import PairwiseJudge

TERSE = PromptTask(name="assistant-terse", version="1", max_tokens=48, stop=("\n\n",),
                   template="Answer in one short sentence.\nQuestion: {input}\nAnswer:")
CAREFUL = PromptTask(name="assistant-careful", version="1", max_tokens=48, stop=("\n\n",),
                     template="You are a careful assistant. Answer the question correctly and helpfully.\n"
                              "Question: {input}\nAnswer:")

PROMPTS = EvalSuite(
    name="prompt-ab",
    dataset="pairwise_prefs.jsonl",   # its prompts; the two responses come from the two tasks
    kind="pairwise",
    task=CAREFUL,     # candidate A
    task_b=TERSE,     # candidate B
    # verdicts from P(A) averaged over both orders (the default rule): the embedded judge prefers slot A
    # whatever it reads, so the per-order rule tied every case and the gate "passed" on ties alone
    judge=PairwiseJudge(criterion="helpfulness and correctness"),
    # A (the careful prompt) must not lose clearly: the lower bound of its win rate's 95% CI stays above 0.2.
    # The gate binds only for a judge qualified against human labels (evals/judge_evidence/): the embedded
    # judge's kappa on 60 LLMBar pairs is too low, so on it this gate is advisory (docs/judges.md).
    gate=Gate(min=0.2, metric="win_rate", on="ci_low"),
)


@pytest.mark.parametrize("case", PROMPTS.cases(), ids=lambda c: c.id)
def test_prompt_ab(case, evaluate):
    evaluate(PROMPTS, case)


def test_prompt_ab_gate(evaluate_suite):
    evaluate_suite(PROMPTS)
