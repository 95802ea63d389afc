"""A choice judge: a prompt of your own answered with one of fixed choices, each with a score.

The classification evaluator of Phoenix, DeepEval's DAG leaves and openai/evals' model-graded specs: the judge
asks ``prompt`` (a format string over the case's ``{input}``, ``{output}``, ``{expected}``, ``{context}`` and
``args``) for one of ``choices`` after "Answer:", through the same label machinery as the other judges (exact
label probabilities where the provider has them, else parsed text with bounded retries, never a silent 0). The
score is the probability-weighted choice score; the label the most likely choice, or ``pass``/``fail`` against
``pass_at``.

    ChoiceJudge("refusal", "Did the reply refuse a harmless request?\\n{input}\\n{output}", (("Y", 0.0), ("N", 1.0)))
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from judges._judge import to_result
from judges._labels import LabelQuery, ask_label
from judges.case import Case
from judges.client import ModelClient
from judges.results import JudgeFailure, Judgement, Result

#: the case's fields a prompt may name
CASE_FIELDS = ("input", "output", "expected", "context")


@dataclass(frozen=True)
class ChoiceJudge:
    """Asks ``prompt`` for one of ``choices`` (``(label, score)`` pairs); ``criterion`` names it in records and
    annotations. Subclasses that fill other fields override :meth:`fields` and :meth:`values`."""

    criterion: str
    prompt: str
    choices: tuple[tuple[str, float], ...]
    args: tuple[tuple[str, str], ...] = field(default=())
    explain: bool = True
    max_parse_retries: int = 2
    max_entropy_bits: float | None = None
    version: str = "1"
    #: the verdict's label is ``pass`` at or above this score, else ``fail`` (the score is kept)
    pass_at: float | None = None

    uses_model = True

    def __post_init__(self) -> None:
        if len(self.choices) < 2:
            raise ValueError(f"ChoiceJudge {self.criterion!r} needs at least two choices, got {self.choices!r}")
        known = {*self.fields(), *dict(self.args)}
        missing = [f for _, f, _, _ in string.Formatter().parse(self.prompt) if f and f not in known]
        if missing:
            raise ValueError(f"ChoiceJudge {self.criterion!r}: the prompt uses {missing}, which nothing fills; "
                             f"pass them in args (known: {sorted(known)})")

    @classmethod
    def from_spec(cls, criterion: str, prompt: str, scores: Mapping[str, float],
                  args: Mapping[str, str] | None = None) -> ChoiceJudge:
        """From a prompt and ``{choice: score}``."""
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

    def fields(self) -> tuple[str, ...]:
        """The names the prompt may use besides ``args``."""
        return CASE_FIELDS

    def values(self, case: Case) -> dict[str, str]:
        """What fills the prompt for ``case``; a ValueError says why the case cannot be judged."""
        if case.output is None:
            raise ValueError(f"case {case.id!r} has no output to judge")
        return {"input": case.input, "output": case.output, "expected": case.expected or "",
                "context": case.context or ""}

    def query(self, case: Case) -> LabelQuery:
        """The question about ``case``, answered after "Answer:" with one of the choices."""
        text = self.prompt.format(**{**self.values(case), **dict(self.args)})
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
