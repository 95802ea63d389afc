"""Pointwise rubric judge: one response, one score on a configurable scale."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from judges._judge import case_block, judge_fingerprint, scale_labels, to_result
from judges._labels import LabelQuery, ask_label
from judges.abstention import AbstainBand
from judges.calibration import IsotonicMap, content_free_cases, content_free_prior
from judges.case import Case
from judges.client import ModelClient
from judges.errors import JudgeError
from judges.results import JudgeFailure, Result


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
    """Grades one response against ``rubric`` on ``scale``; the score is probability-weighted when possible.

    ``contextual``: divide out the judge's label prior on content-free inputs (estimated once per model).
    ``calibration``: an isotonic map of the score fitted on human labels (``python -m judges meta-eval``).
    ``abstain``: verdicts this unsure are flagged ``abstained`` (sent to review, left out of aggregates).
    """

    criterion: str
    rubric: str
    scale: tuple[int, int] = (1, 5)
    examples: tuple[FewShotExample, ...] = field(default=())
    explain: bool = True
    max_parse_retries: int = 2
    max_entropy_bits: float | None = 1.5
    version: str = "1"
    contextual: bool = False
    calibration: IsotonicMap | None = None
    abstain: AbstainBand | None = None

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

    def query(self, case: Case) -> LabelQuery:
        """The question about ``case``: its prompt, the "Score:" marker and the scale's labels."""
        labels, _ = scale_labels(self.scale)
        return LabelQuery(self.prompt(case), "Score:", labels, explain=self.explain)

    async def prior(self, client: ModelClient) -> dict[str, float]:
        """The judge's label prior on this model, from content-free inputs (memoised per process)."""
        plain = replace(self, contextual=False, calibration=None, abstain=None, explain=False)
        queries = [plain.query(c) for c in content_free_cases("pointwise")]
        return await content_free_prior(client, judge_fingerprint(plain), queries,
                                        max_parse_retries=self.max_parse_retries)

    async def judge(self, client: ModelClient, case: Case) -> Result:
        _, values = scale_labels(self.scale)
        answer = await ask_label(client, self.query(case), max_parse_retries=self.max_parse_retries)
        try:
            prior = await self.prior(client) if self.contextual and answer.probs is not None else None
        except JudgeError as exc:
            return JudgeFailure(self.judge_name, client.info.model, str(exc), answer.raw, answer.attempts,
                                calls=answer.calls)
        return to_result(self.judge_name, client, answer, values, max_entropy_bits=self.max_entropy_bits,
                         prior=prior, calibration=self.calibration, abstain=self.abstain)
