"""The judge seam and the step every label-based judge shares: from a LabelAnswer to a result."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from judges._labels import LabelAnswer
from judges.case import Case
from judges.client import ModelClient
from judges.results import JudgeFailure, Judgement, Result
from judges.scoring import weighted_score


@runtime_checkable
class Judge(Protocol):
    """A small frozen config with one async method. Judges receive the client; none hard-codes a model."""

    @property
    def judge_name(self) -> str:
        """Kind and criterion, e.g. "geval:coherence"; names the scorer in records and tables."""
        ...

    @property
    def metric_name(self) -> str:
        """What it measures, e.g. "coherence": human labels of the same criterion are filed under it."""
        ...

    @property
    def scale(self) -> tuple[float, float]:
        """The lowest and highest score it gives."""
        ...

    @property
    def uses_model(self) -> bool:
        """True for LLM judges; deterministic scorers say False."""
        ...

    async def judge(self, client: ModelClient, case: Case) -> Result:
        """Judge one case; a reply that cannot be parsed gives a JudgeFailure, never a made-up score."""
        ...


def low_confidence_flags(answer: LabelAnswer, max_entropy_bits: float | None) -> tuple[str, ...]:
    ent = answer.entropy
    return ("low_confidence",) if max_entropy_bits is not None and ent is not None and ent > max_entropy_bits else ()


def to_result(
    judge_name: str,
    client: ModelClient,
    answer: LabelAnswer,
    values: dict[str, float],
    *,
    max_entropy_bits: float | None,
    details: dict[str, Any] | None = None,
) -> Result:
    """A Judgement scored as the probability-weighted value of the labels, or a JudgeFailure."""
    model = client.info.model
    if answer.label is None or answer.probs is None:
        return JudgeFailure(judge_name, model, answer.error or "no verdict", answer.raw, answer.attempts, calls=answer.calls)
    return Judgement(
        judge=judge_name,
        judge_model=model,
        score=weighted_score(answer.probs, values),
        label=answer.label,
        reasoning=answer.reasoning,
        label_probs=answer.probs,
        prob_source=answer.source,
        entropy=answer.entropy,
        flags=low_confidence_flags(answer, max_entropy_bits),
        raw=answer.raw,
        calls=answer.calls,
        details=details or {},
    )


def scale_labels(scale: tuple[int, int]) -> tuple[tuple[str, ...], dict[str, float]]:
    lo, hi = scale
    if not (isinstance(lo, int) and isinstance(hi, int)) or hi <= lo:
        raise ValueError(f"scale must be two integers (low, high) with low < high, got {scale!r}")
    labels = tuple(str(v) for v in range(lo, hi + 1))
    return labels, {lab: float(lab) for lab in labels}


def case_block(case: Case) -> str:
    parts = [f"Input:\n{case.input}"]
    if case.context:
        parts.append(f"Context:\n{case.context}")
    if case.expected:
        parts.append(f"Reference answer:\n{case.expected}")
    if case.output is None:
        raise ValueError(f"case {case.id!r} has no output to judge")
    parts.append(f"Response:\n{case.output}")
    return "\n\n".join(parts)
