"""Pointwise rubric judge: one response, one score on a configurable scale."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from judges._judge import case_block, scale_labels, to_result
from judges._labels import LabelQuery, ask_label
from judges.case import Case
from judges.client import ModelClient
from judges.results import Result


@dataclass(frozen=True)
class FewShotExample:
    """A graded example shown to the judge (for instance, exported from human review)."""

    input: str
    output: str
    score: float
    reasoning: str = ""


def load_few_shot(path: str | Path) -> tuple[FewShotExample, ...]:
    """Read few-shot examples from JSONL rows {"input", "output", "score", "reasoning"}."""
    rows = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if line.strip():
            d = json.loads(line)
            try:
                rows.append(FewShotExample(d["input"], d["output"], float(d["score"]), d.get("reasoning", "")))
            except KeyError as exc:
                raise ValueError(f"{path}:{n}: few-shot row lacks field {exc}") from exc
    return tuple(rows)


@dataclass(frozen=True)
class PointwiseJudge:
    """Grades one response against ``rubric`` on ``scale``; the score is probability-weighted when possible."""

    criterion: str
    rubric: str
    scale: tuple[int, int] = (1, 5)
    examples: tuple[FewShotExample, ...] = field(default=())
    explain: bool = True
    max_parse_retries: int = 2
    max_entropy_bits: float | None = 1.5
    version: str = "1"

    @property
    def judge_name(self) -> str:
        return f"pointwise:{self.criterion}"

    @property
    def metric_name(self) -> str:
        return self.criterion

    uses_model = True

    def prompt(self, case: Case) -> str:
        lo, hi = self.scale
        shots = "".join(
            f"\nExample:\nInput: {e.input}\nResponse: {e.output}\nScore: {e.score:g}" + (f"\nReason: {e.reasoning}" if e.reasoning else "") + "\n"
            for e in self.examples
        )
        return (
            f"Grade the response for {self.criterion} on a scale from {lo} (worst) to {hi} (best).\n"
            f"Rubric:\n{self.rubric}\n{shots}\n{case_block(case)}"
        )

    async def judge(self, client: ModelClient, case: Case) -> Result:
        labels, values = scale_labels(self.scale)
        q = LabelQuery(self.prompt(case), "Score:", labels, explain=self.explain)
        answer = await ask_label(client, q, max_parse_retries=self.max_parse_retries)
        return to_result(self.judge_name, client, answer, values, max_entropy_bits=self.max_entropy_bits)
