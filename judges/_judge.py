"""The judge seam and the step every label-based judge shares: from a LabelAnswer to a result."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from judges._labels import LabelAnswer
from judges.abstention import ABSTAINED
from judges.case import Case
from judges.client import ModelClient
from judges.results import JudgeFailure, Judgement, Result
from judges.scoring import weighted_score
from judges.stats import entropy

if TYPE_CHECKING:
    from judges.abstention import AbstainBand
    from judges.calibration import IsotonicMap


class NamedJudge:
    """Mixin for a judge or scorer whose ``judge_name`` is a fixed ``name`` and whose metric (the criterion its
    labels are filed under) is that name in words: ``name = "step_efficiency"`` gives "step efficiency"."""

    name: ClassVar[str] = ""

    @property
    def judge_name(self) -> str:
        return self.name

    @property
    def metric_name(self) -> str:
        return self.judge_name.replace("_", " ")


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


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"type": type(value).__name__,
                **{f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.compare}}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return type(value).__name__  # a client or another live object: its kind, not its address


def judge_config(judge: object) -> dict[str, Any]:
    """A judge's configuration as plain JSON: its class and every field (live objects by their kind)."""
    out = _plain(judge)
    return out if isinstance(out, dict) else {"type": type(judge).__name__}


def judge_fingerprint(judge: object) -> str:
    """A stable hash of a judge's configuration (its class and every field), e.g. to match it with its evidence.

    A judge may define ``fingerprint`` itself (a wrapper gives its inner judge's).
    """
    own = getattr(judge, "fingerprint", None)
    if isinstance(own, str):
        return own
    payload = json.dumps(judge_config(judge), sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def to_result(
    judge_name: str,
    client: ModelClient,
    answer: LabelAnswer,
    values: dict[str, float],
    *,
    max_entropy_bits: float | None,
    details: dict[str, Any] | None = None,
    prior: Mapping[str, float] | None = None,
    calibration: IsotonicMap | None = None,
    abstain: AbstainBand | None = None,
) -> Result:
    """A Judgement scored as the probability-weighted value of the labels, or a JudgeFailure.

    ``prior``: divided out of the label distribution first (contextual calibration); ``calibration``: an
    isotonic map applied to the weighted score; ``abstain``: flags the verdict ``abstained`` when the
    (calibrated) distribution falls in the band. The raw distribution and score stay in ``details``.
    """
    model = client.info.model
    if answer.label is None or answer.probs is None:
        return JudgeFailure(judge_name, model, answer.error or "no verdict", answer.raw, answer.attempts, calls=answer.calls)
    extra: dict[str, Any] = dict(details or {})
    probs = answer.probs
    label = answer.label
    ent = answer.entropy
    if prior is not None:
        from judges.calibration import divide_prior  # judges.calibration imports this module

        probs = divide_prior(answer.probs, prior)
        label = max(probs, key=lambda k: probs[k])
        ent = entropy(probs)
        extra.update(raw_probs=answer.probs, prior=dict(prior))
    score = weighted_score(probs, values)
    if calibration is not None:
        extra["uncalibrated_score"] = score
        lo, hi = min(values.values()), max(values.values())
        score = min(hi, max(lo, calibration(score)))
    flags: tuple[str, ...] = ()
    if max_entropy_bits is not None and ent is not None and ent > max_entropy_bits:
        flags += ("low_confidence",)
    abstained = abstain.reason(probs) if abstain is not None else None
    if abstained:
        flags += (ABSTAINED,)
        extra["abstained"] = abstained
    return Judgement(
        judge=judge_name,
        judge_model=model,
        score=score,
        label=label,
        reasoning=answer.reasoning,
        label_probs=probs,
        prob_source=answer.source,
        entropy=ent,
        flags=flags,
        raw=answer.raw,
        calls=answer.calls,
        details=extra,
    )


def scale_labels(scale: tuple[int, int]) -> tuple[tuple[str, ...], dict[str, float]]:
    labels, values = _scale_labels(tuple(scale))
    return labels, dict(values)


@functools.lru_cache(maxsize=64)
def _scale_labels(scale: tuple[int, int]) -> tuple[tuple[str, ...], dict[str, float]]:
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
