"""The model-graded choice judge of an imported suite: the prompt of an openai/evals model-graded spec (or a promptfoo model-graded
assertion) with its choice strings and their scores, asked through the harness's label machinery (exact label
probabilities where the provider has them, else parsed text with bounded retries, never a silent 0)."""

from __future__ import annotations

from dataclasses import dataclass

from judges.case import Case
from judges.choice import ChoiceJudge

# The built-in specs, in the harness's words; their semantics (inputs, choices, scores) are openai/evals'
# modelgraded/fact.yaml and closedqa.yaml (MIT). `fact` has no choice scores there: D (a disagreement) scores 0,
# the other choices 1 (as promptfoo's factuality assertion decides it).
FACT_PROMPT = """Compare a submitted answer with an expert answer to a question.
[BEGIN DATA]
[Question]: {input}
[Expert]: {ideal}
[Submission]: {completion}
[END DATA]
Compare only the factual content; ignore style, grammar and punctuation. Pick one option:
(A) The submission is a subset of the expert answer and fully consistent with it.
(B) The submission is a superset of the expert answer and fully consistent with it.
(C) The submission has the same details as the expert answer.
(D) The submission and the expert answer disagree.
(E) They differ, but the differences do not matter for factuality."""
CLOSEDQA_PROMPT = """Assess a submitted answer to a task against a criterion.
[BEGIN DATA]
[Task]: {input}
[Submission]: {completion}
[Criterion]: {criteria}
[END DATA]
Does the submission meet the criterion? Answer Y or N."""
RUBRIC_PROMPT = """Grade an output against a rubric.
[BEGIN DATA]
[Input]: {input}
[Output]: {completion}
[Rubric]: {criteria}
[END DATA]
Does the output satisfy the rubric? Answer Y or N."""
#: the criteria closedqa's spec names (openai/evals modelgraded/closedqa.yaml args), by key
CLOSEDQA_CRITERIA = {"relevance": "relevance: Is the submission referring to a real quote from the text?",
                     "conciseness": "conciseness: Is the answer concise and to the point?",
                     "correct": "correctness: Is the answer correct?"}
BUILTIN_SPECS: dict[str, tuple[str, dict[str, float]]] = {
    "fact": (FACT_PROMPT, {"A": 1.0, "B": 1.0, "C": 1.0, "D": 0.0, "E": 1.0}),
    "closedqa": (CLOSEDQA_PROMPT, {"Y": 1.0, "N": 0.0}),
}


@dataclass(frozen=True)
class ImportedChoiceJudge(ChoiceJudge):
    """A :class:`judges.choice.ChoiceJudge` over an imported case: the prompt fills openai/evals' names
    (``{input}``, ``{ideal}`` — the case's ideal answers joined with `` | `` — and ``{completion}``) and, for a
    promptfoo assertion, ``fills`` from the case's ``from_assert`` assertion."""

    #: a promptfoo assertion type whose per-test value fills ``fills`` (the case's reference holds its assertions)
    from_assert: str | None = None
    fills: str = "criteria"

    def fields(self) -> tuple[str, ...]:
        return ("input", "ideal", "completion", *([self.fills] if self.from_assert else []))

    def values(self, case: Case) -> dict[str, str]:
        if case.output is None:
            raise ValueError(f"case {case.id!r} has no output to judge")
        from experiments.importers._scorers import case_assertions, ideals

        values = {"input": case.input, "ideal": " | ".join(ideals(case.expected)), "completion": case.output}
        if self.from_assert is not None:
            found = [a for a in case_assertions(case.expected) if a.get("type") == self.from_assert]
            if not found:
                raise ValueError(f"case {case.id!r} has no {self.from_assert!r} assertion to judge by")
            values[self.fills] = str(found[0].get("value", ""))
        return values
