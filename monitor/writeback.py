"""Verdicts back where people look: Phoenix span annotations and review-queue items.

Annotations are made by the verdict's own ``Score.annotation`` (name = criterion, identifier ``monitor``)
and written by the one writer, ``tracing.annotate_spans``: Phoenix keeps one annotation per (span, name,
identifier), so writing a verdict again replaces it instead of adding a second one. A write that fails
(Phoenix down, slow, or not yet holding the span) is retried by the writer until the retry budget is
spent, then raises :class:`WriteBackError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from monitor.config import EvaluatorConfig
from monitor.errors import WriteBackError
from monitor.scores import TraceScore
from tracing._config import trace_url

__all__ = ["ANNOTATION_IDENTIFIER", "review_items", "trace_url", "verdict_annotations", "write_annotations"]

#: Phoenix upserts annotations with the same (span, name, identifier): reruns replace, never duplicate.
ANNOTATION_IDENTIFIER = "monitor"


def verdict_annotations(verdicts: Sequence[TraceScore]) -> list[Any]:
    """One annotation per verdict that has a span (its ``Score`` under the one naming rule, source ``monitor``)."""
    return [v.result.annotation(v.span_id, source=ANNOTATION_IDENTIFIER,
                                metadata={"evaluator": v.evaluator, "version": v.version, "sample_rate": v.sample_rate,
                                          "run_id": v.run_id})
            for v in verdicts if v.span_id is not None]


def write_annotations(
    verdicts: Sequence[TraceScore],
    *,
    url: str | None,
    timeout_s: float,
    retry_budget_s: float,
    sync: bool = True,
    annotate: Callable[..., list[str]] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Write the verdicts' annotations to Phoenix at ``url`` (``annotate`` stands in for the writer in tests);
    returns how many were written."""
    from tracing import AnnotationError, annotate_spans

    items = verdict_annotations(verdicts)
    if not items:
        return 0
    send = annotate or annotate_spans
    try:
        send(items, endpoint=url, sync=sync, timeout_s=timeout_s, retry_for_s=retry_budget_s, sleep=sleep)
    except AnnotationError as exc:
        raise WriteBackError(f"{exc} (the {retry_budget_s:g}s retry budget is spent; the verdicts stay pending "
                             "and are written by the next run)") from exc
    return len(items)


def review_items(verdicts: Sequence[TraceScore], evaluators: Mapping[str, EvaluatorConfig],
                 phoenix_url: str | None) -> list[Any]:
    """Escalation items for the doubtful verdicts, each with a link to its trace in Phoenix."""
    from review import JudgeView, NewItem

    out = []
    for v in verdicts:
        if not v.review_reason or v.input is None or v.output is None:
            continue
        ev, r = evaluators.get(v.evaluator), v.result
        link = trace_url(phoenix_url, v.trace_id)
        out.append(NewItem(
            queue="escalation",
            # one item per verdict: rerunning the monitor over the same traces queues nothing twice
            source_id=f"online:{v.evaluator}:{v.version}:{v.key}",
            input=v.input,
            output=v.output,
            criterion=r.criterion,
            scale=(float(ev.scale[0]), float(ev.scale[1])) if ev is not None else None,
            judge_score=r.score,
            judges=(JudgeView(r.judge_model, r.score, r.label_probs, r.reasoning or r.failure),),
            reason=f"online {v.evaluator}: {v.review_reason}" + (f" · trace {link}" if link else ""),
            priority=float(v.review_reason.count(";") + 1),
            trace_id=None if v.trace_id.startswith("row-") else v.trace_id,
            span_id=v.span_id,
            meta={
                "source": "monitor",
                "evaluator": v.evaluator,
                "version": v.version,
                "trace_url": link,
                "timestamp": v.timestamp.isoformat(),
                "flags": list(r.flags),
                "failure": r.failure,
                "model": v.model,
                "topic": v.topic,
                "language": v.language,
            },
        ))
    return out
