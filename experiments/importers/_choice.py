"""A model-graded choice judge: the prompt of an openai/evals model-graded spec (or a promptfoo model-graded
assertion) with its choice strings and their scores, asked through the harness's label machinery (exact label
probabilities where the provider has them, else parsed text with bounded retries, never a silent 0)."""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from judges._judge import to_result
from judges._labels import LabelQuery, ask_label
from judges.case import Case
from judges.client import ModelClient
from judges.results import JudgeFailure, Judgement, Result

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
class ChoiceJudge:
    """Asks ``prompt`` (filled with ``{input}``, ``{ideal}``, ``{completion}`` and ``args``) for one of ``choices``;
    the score is the probability-weighted choice score. ``criterion`` names it in records and annotations."""

    criterion: str
    prompt: str
    choices: tuple[tuple[str, float], ...]
    args: tuple[tuple[str, str], ...] = field(default=())
    explain: bool = True
    max_parse_retries: int = 2
    max_entropy_bits: float | None = None
    version: str = "1"
    #: a promptfoo threshold: the verdict's label is ``pass`` at or above it, else ``fail`` (the score is kept)
    pass_at: float | None = None
    #: a promptfoo assertion type whose per-test value fills ``fills`` (the case's reference holds its assertions)
    from_assert: str | None = None
    fills: str = "criteria"

    uses_model = True

    def __post_init__(self) -> None:
        if len(self.choices) < 2:
            raise ValueError(f"ChoiceJudge {self.criterion!r} needs at least two choices, got {self.choices!r}")
        known = {"input", "ideal", "completion", *dict(self.args), *([self.fills] if self.from_assert else [])}
        missing = [f for _, f, _, _ in string.Formatter().parse(self.prompt) if f and f not in known]
        if missing:
            raise ValueError(f"ChoiceJudge {self.criterion!r}: the prompt uses {missing}, which nothing fills; "
                             f"pass them in args (known: {sorted(known)})")

    @classmethod
    def from_spec(cls, criterion: str, prompt: str, scores: Mapping[str, float],
                  args: Mapping[str, str] | None = None) -> ChoiceJudge:
        """From a spec's prompt and ``{choice: score}``."""
        return cls(criterion, prompt, tuple((str(k), float(v)) for k, v in scores.items()),
                   tuple((str(k), str(v)) for k, v in (args or {}).items()))

    @property
    def judge_name(self) -> str:
        return f"choice:{self.criterion}"

    @property
    def metric_name(self) -> str:
        return self.criterion

    @property
    def scale(self) -> tuple[float, float]:
        values = [v for _, v in self.choices]
        return (min(values), max(values))

    def query(self, case: Case) -> LabelQuery:
        """The question about ``case``, answered after "Answer:" with one of the choices."""
        if case.output is None:
            raise ValueError(f"case {case.id!r} has no output to judge")
        from experiments.importers._scorers import case_assertions, ideals

        values = {"input": case.input, "ideal": " | ".join(ideals(case.expected)), "completion": case.output,
                  **dict(self.args)}
        if self.from_assert is not None:
            found = [a for a in case_assertions(case.expected) if a.get("type") == self.from_assert]
            if not found:
                raise ValueError(f"case {case.id!r} has no {self.from_assert!r} assertion to judge by")
            values[self.fills] = str(found[0].get("value", ""))
        text = self.prompt.format(**values)
        labels = tuple(c for c, _ in self.choices)
        return LabelQuery(f"{text}\n\nAnswer with one of: {', '.join(labels)}.", "Answer:", labels,
                          explain=self.explain)

    async def judge(self, client: ModelClient, case: Case) -> Result:
        try:
            query = self.query(case)
        except ValueError as exc:
            return JudgeFailure(self.judge_name, client.info.model, str(exc), flags=("not_evaluable",))
        answer = await ask_label(client, query, max_parse_retries=self.max_parse_retries)
        result = to_result(self.judge_name, client, answer, dict(self.choices), max_entropy_bits=self.max_entropy_bits)
        if self.pass_at is None or not isinstance(result, Judgement):
            return result
        return replace(result, label="pass" if result.score >= self.pass_at else "fail",
                       details={**result.details, "choice": result.label, "pass_at": self.pass_at})
