"""Any judge of this library as a deepeval metric, for ``deepeval.assert_test`` / ``deepeval.evaluate``.

    from deepeval import assert_test
    from deepeval.test_case import LLMTestCase
    from judges import GEval, get_model
    from judges.deepeval_metric import JudgeMetric

    metric = JudgeMetric(GEval("coherence", "The summary is well structured."), get_model(), threshold=0.6)
    assert_test(LLMTestCase(input=article, actual_output=summary), [metric])

How a deepeval ``LLMTestCase`` becomes a :class:`judges.Case`:

=====================================  ==========================================================
``input``                              ``Case.input``
``actual_output``                      ``Case.output`` (pointwise, G-Eval) or ``Case.output_a`` (pairwise)
``expected_output``                    ``Case.expected``
``retrieval_context`` or ``context``   ``Case.context`` (passages joined by blank lines; retrieval wins)
``metadata[baseline_key]``             ``Case.output_b`` for a :class:`judges.PairwiseJudge` (default key ``"output_b"``)
``name``                               ``Case.id`` (a content hash when unnamed)
=====================================  ==========================================================

Scores are put on deepeval's 0..1 scale: ``(score - low) / (high - low)`` for judges with a ``scale``;
a pairwise score is already 0..1 (1 = ``actual_output`` wins both orders, 0.5 = tie or the orders
disagree, 0 = the baseline wins). ``success`` is ``score >= threshold`` as in every deepeval metric.

A judge that gives no verdict (an unparseable reply after its bounded retries, a provider error)
never becomes a score: ``measure`` sets ``error`` and raises :class:`judges.JudgeError` with the raw
reply. deepeval then stops the test, or, with ``IGNORE_DEEPEVAL_ERRORS=1``, records the error and
fails the metric (``is_successful()`` is False whenever ``error`` is set).

Privacy: importing this module opts deepeval out of its telemetry unless you chose otherwise.
``DEEPEVAL_TELEMETRY_OPT_OUT=1`` stops the PostHog events and the anonymous-id file in the home
folder; ``DEEPEVAL_UPDATE_WARNING_OPT_IN=0`` stops the PyPI version check at import. Both are set
with ``setdefault``, so a value you exported yourself wins. deepeval is imported only here, never
by ``import judges`` (it takes seconds to import).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

# Set before deepeval is imported: its settings object reads the environment once, at import.
TELEMETRY_ENV: Mapping[str, str] = {
    "DEEPEVAL_TELEMETRY_OPT_OUT": "1",  # no PostHog events, no ~/.deepeval telemetry id file
    "DEEPEVAL_UPDATE_WARNING_OPT_IN": "0",  # no request to pypi.org at import
}
for _var, _value in TELEMETRY_ENV.items():
    os.environ.setdefault(_var, _value)

try:
    from deepeval.metrics import BaseMetric
    from deepeval.test_case import LLMTestCase
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "judges.deepeval_metric needs deepeval; install it with: pip install 'evalharness[deepeval]'"
    ) from exc

from judges.case import Case
from judges.client import ModelClient
from judges.errors import JudgeError
from judges.pairwise import PairwiseJudge
from judges.results import JudgeFailure, Judgement, Result

__all__ = ["TELEMETRY_ENV", "JudgeMetric", "to_case"]

T = TypeVar("T")


def _passages(items: Sequence[Any] | None) -> list[str]:
    # deepeval 4 allows RetrievedContextData objects (with .context) next to plain strings
    return [item if isinstance(item, str) else str(getattr(item, "context", item)) for item in items or ()]


def to_case(test_case: LLMTestCase, *, pairwise: bool = False, baseline_key: str = "output_b") -> Case:
    """Map a deepeval ``LLMTestCase`` onto a :class:`judges.Case` (see the module docstring for the table)."""
    if not isinstance(test_case, LLMTestCase):
        raise TypeError(f"JudgeMetric judges deepeval LLMTestCase objects, got {type(test_case).__name__}")
    if test_case.actual_output is None:
        raise ValueError(
            f"test case {test_case.name or test_case.input[:40]!r} has no actual_output to judge"
        )
    passages = _passages(test_case.retrieval_context) or _passages(test_case.context)
    context = "\n\n".join(passages) or None
    metadata = dict(test_case.metadata or {})
    case_id = (
        test_case.name
        or hashlib.sha256(
            "\x1f".join([test_case.input, test_case.actual_output, test_case.expected_output or ""]).encode()
        ).hexdigest()[:16]
    )
    if not pairwise:
        return Case(
            case_id,
            test_case.input,
            output=test_case.actual_output,
            context=context,
            expected=test_case.expected_output,
            metadata=metadata,
        )
    baseline = metadata.get(baseline_key)
    if baseline is None:
        raise ValueError(
            f"pairwise test case {case_id!r} needs the response to compare against in "
            f"LLMTestCase(metadata={{{baseline_key!r}: ...}})"
        )
    if not isinstance(baseline, str):
        raise TypeError(
            f"metadata[{baseline_key!r}] of pairwise test case {case_id!r} must be a string, got {baseline!r}"
        )
    return Case(
        case_id,
        test_case.input,
        context=context,
        expected=test_case.expected_output,
        output_a=test_case.actual_output,
        output_b=baseline,
        metadata=metadata,
    )


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion from synchronous code, even when called inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        # deepeval's own loop: the same one assert_test uses, so a provider's HTTP pool stays on one loop
        from deepeval.utils import get_or_create_event_loop

        loop = get_or_create_event_loop()
        if not loop.is_running():
            return loop.run_until_complete(coro)
    box: dict[str, Any] = {}

    def target() -> None:  # a loop is already running in this thread: use a private one in another
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="JudgeMetric.measure")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class JudgeMetric(BaseMetric):
    """A deepeval ``BaseMetric`` that runs one of this library's judges (pointwise, G-Eval, pairwise).

    ``client`` is the :class:`judges.ModelClient` to judge with; ``None`` means ``judges.get_model()``
    (the configured judge model), resolved on first use. ``threshold`` is on deepeval's 0..1 scale.
    Constructor arguments are stored under their own names because deepeval copies metrics by
    calling ``type(metric)(**vars(metric))``.
    """

    def __init__(
        self,
        judge: Any,
        client: ModelClient | None = None,
        threshold: float = 0.5,
        name: str | None = None,
        baseline_key: str = "output_b",
        async_mode: bool = True,
        strict_mode: bool = False,
        verbose_mode: bool = False,
    ) -> None:
        if not hasattr(judge, "judge") or not hasattr(judge, "judge_name"):
            raise TypeError(
                f"JudgeMetric needs a judge (PointwiseJudge, GEval, PairwiseJudge, ...), got {judge!r}"
            )
        if not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(
                f"threshold is on deepeval's 0..1 scale, got {threshold!r}; "
                "for a 1-5 judge, threshold 0.75 means a score of 4"
            )
        self.judge = judge
        self.client = client
        self.threshold = 1.0 if strict_mode else float(threshold)
        self.name = name
        self.baseline_key = baseline_key
        self.async_mode = async_mode
        self.strict_mode = strict_mode
        self.verbose_mode = verbose_mode
        self.include_reason = True
        self.evaluation_model = client.info.model if client is not None else None
        self.result: Result | None = None

    @property
    def __name__(self) -> str:  # deepeval reads the metric's display name from this property
        return self.name or self.judge.judge_name

    def _client(self) -> ModelClient:
        if self.client is None:
            from judges.config import get_model

            self.client = get_model()
            self.evaluation_model = self.client.info.model
        return self.client

    def normalise(self, score: float) -> float:
        """The judge's score on deepeval's 0..1 scale."""
        if isinstance(self.judge, PairwiseJudge):
            return float(score)
        scale = getattr(self.judge, "scale", None)
        if scale is None:
            return float(score)
        lo, hi = scale
        return (float(score) - lo) / (hi - lo)

    def measure(self, test_case: LLMTestCase, *args: Any, **kwargs: Any) -> float:
        """Judge ``test_case`` synchronously; returns the 0..1 score (raises JudgeError when the judge fails)."""
        return _run_sync(self.a_measure(test_case))

    async def a_measure(self, test_case: LLMTestCase, *args: Any, **kwargs: Any) -> float:
        """Judge ``test_case``; sets ``score``, ``reason``, ``success``, tokens; raises JudgeError on a judge failure."""
        case = to_case(
            test_case, pairwise=isinstance(self.judge, PairwiseJudge), baseline_key=self.baseline_key
        )
        client = self._client()
        self.error = None
        self.score = self.reason = self.success = None
        result = await self.judge.judge(client, case)
        self.result = result
        self.evaluation_model = result.judge_model
        self.evaluation_cost = None  # a local or self-hosted judge has no price list
        self.input_tokens = result.calls.prompt_tokens
        self.output_tokens = result.calls.completion_tokens
        if isinstance(result, JudgeFailure):
            self.error = f"{result.judge} gave no verdict after {result.attempts} attempt(s): {result.reason}"
            self.success = False
            raw = f"; raw reply: {result.raw[:500]!r}" if result.raw else ""
            raise JudgeError(f"{self.error}{raw}")
        assert isinstance(result, Judgement)
        self.score = self.normalise(result.score)
        self.score_breakdown = dict(result.label_probs or {})
        self.reason = self._reason(result)
        self.success = self.is_successful()
        return self.score

    def _reason(self, result: Judgement) -> str:
        parts = [f"{result.judge} scored {result.score:.3g} (label {result.label!r}"]
        if result.prob_source:
            parts.append(f", probabilities from {result.prob_source}")
        parts.append(")")
        if result.flags:
            parts.append(f"; flags: {', '.join(result.flags)}")
        if result.reasoning:
            parts.append(f". {result.reasoning}")
        return "".join(parts)

    def is_successful(self) -> bool:
        """False on an error or a missing score; otherwise ``score >= threshold``."""
        if self.error is not None or self.score is None:
            self.success = False
        else:
            self.success = self.score >= float(self.threshold or 0.0)
        return self.success
