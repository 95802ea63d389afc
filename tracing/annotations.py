"""The one annotation writer: every verdict and human label goes onto its span in Phoenix through here.

One naming rule (:func:`verdict_annotation`): the annotation's **name is the criterion** (what was measured),
its **identifier is the source** (``ci`` for the pytest plugin, ``monitor`` for online evaluation,
``span_eval`` for per-span evaluation, ``human`` for reviewers), and its annotator kind says who decided:
CODE for a deterministic scorer, LLM for a judge, HUMAN for a reviewer. Phoenix keeps one annotation per
(span, name, identifier), so a rerun replaces its verdicts and a judge's and a person's verdicts on one
criterion stand side by side.

:func:`annotate_spans` writes them through the Phoenix client (``arize-phoenix-client``,
``spans.log_span_annotations``) in batches, retrying a Phoenix that is down, slow or not yet holding the
span (it stores exported spans asynchronously) until ``retry_for_s`` is spent. Each verdict it writes also
leaves as an OpenTelemetry ``gen_ai.evaluation.result`` log record parented to its span, when an OTLP logs
endpoint is configured (:mod:`tracing.evaluation_events`).
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tracing._config import resolve_base_url
from tracing.errors import AnnotationError

if TYPE_CHECKING:
    import httpx

    from tracing.evaluation_events import EvaluationEvents

log = logging.getLogger(__name__)

AnnotatorKind = Literal["LLM", "CODE", "HUMAN"]
#: Where a verdict came from: the identifier of its annotation (Phoenix upserts on span, name, identifier).
SOURCES = ("ci", "monitor", "span_eval", "human")
_KINDS = ("LLM", "CODE", "HUMAN")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class SpanAnnotation:
    """One annotation of one span: a judge verdict (LLM/CODE) or a human label (HUMAN)."""

    span_id: str
    name: str
    annotator_kind: AnnotatorKind
    score: float | None = None
    label: str | None = None
    explanation: str | None = None
    metadata: Mapping[str, Any] | None = None
    identifier: str = field(default="")
    #: the evaluated span's trace (32 hex digits), so its evaluation event is parented to the span; not sent
    #: to Phoenix, which knows the trace from the span. ``metadata["trace_id"]`` serves too.
    trace_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.span_id, str) or not _SPAN_ID.fullmatch(self.span_id):
            raise AnnotationError(
                f"span_id {self.span_id!r} is not 16 lowercase hex digits; use tracing.span_ids(span)[1]"
            )
        if not self.name or self.name == "note":
            raise AnnotationError(
                f"annotation name {self.name!r} is empty or reserved ('note'); choose another"
            )
        if self.annotator_kind not in _KINDS:
            raise AnnotationError(f"annotator_kind {self.annotator_kind!r} must be one of {_KINDS}")
        if self.score is not None and (
            not isinstance(self.score, (int, float)) or not math.isfinite(self.score)
        ):
            raise AnnotationError(f"score {self.score!r} must be a finite number or None")
        if self.trace_id is not None and not _TRACE_ID.fullmatch(str(self.trace_id)):
            raise AnnotationError(
                f"trace_id {self.trace_id!r} is not 32 lowercase hex digits; use tracing.span_ids(span)[0]"
            )

    def to_payload(self) -> dict[str, Any]:
        """The JSON item Phoenix expects in ``data``."""
        return {
            "span_id": self.span_id,
            "name": self.name,
            "annotator_kind": self.annotator_kind,
            "result": {"score": self.score, "label": self.label, "explanation": self.explanation},
            "metadata": dict(self.metadata or {}),
            "identifier": self.identifier,
        }


def verdict_annotation(
    span_id: str,
    *,
    criterion: str,
    source: str,
    kind: AnnotatorKind,
    score: float | None = None,
    label: str | None = None,
    explanation: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    trace_id: str | None = None,
) -> SpanAnnotation:
    """The annotation of one verdict under the one naming rule: name = criterion, identifier = source.
    ``trace_id`` parents its evaluation event to the span (else ``metadata["trace_id"]`` when present); one that
    is not an OpenTelemetry trace id (a production-log row's ``row-7``) leaves the event unparented."""
    if source not in SOURCES:
        raise AnnotationError(f"annotation source {source!r} is not one of {SOURCES}")
    return SpanAnnotation(span_id, criterion, kind, score=score, label=label,
                          explanation=explanation[:4000] if explanation else explanation,
                          metadata={"source": source, **dict(metadata or {})}, identifier=source,
                          trace_id=trace_id if trace_id and _TRACE_ID.fullmatch(trace_id) else None)


def annotate_spans(
    annotations: Sequence[SpanAnnotation],
    *,
    endpoint: str | None = None,
    sync: bool = True,
    timeout_s: float = 10.0,
    retry_for_s: float = 0.0,
    batch: int = 500,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    events: EvaluationEvents | bool = True,
    on_events_problem: Callable[[str], None] | None = None,
) -> list[str]:
    """Write ``annotations`` to Phoenix in batches of ``batch``; returns the annotation ids (empty when
    ``sync=False``: Phoenix then queues them and answers with none).

    ``endpoint`` defaults like ``tracing.setup()``'s: ``PHOENIX_COLLECTOR_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_*``,
    then the server ``python -m tracing.phoenix_server start`` recorded (whatever its port), then
    http://127.0.0.1:6006. ``PHOENIX_API_KEY`` is sent as a bearer token and never appears in an error.
    ``sync=True`` makes Phoenix insert before replying and fail with 404 for spans it has not stored yet;
    ``sync=False`` queues them server-side. A batch that fails for a reason that can pass (unreachable, 404
    for a span not stored yet, 408/429/5xx) is retried with backoff until ``retry_for_s`` is spent.
    Raises :class:`AnnotationError` when Phoenix refuses, or is still failing at the deadline: the batches
    before the failing one are written (the error says how many).

    Every annotation is also emitted as a ``gen_ai.evaluation.result`` log record before the Phoenix write, so
    Phoenix being down loses no event: ``events=True`` sends them where :func:`tracing.evaluation_events.
    default_events` says (nowhere when no logs endpoint is configured), an ``EvaluationEvents`` sends them there,
    ``False`` sends none. Events that do not arrive never raise: the reason is logged as a warning and passed
    to ``on_events_problem``.
    """
    if not annotations:
        return []
    if batch < 1:
        raise AnnotationError(f"batch must be >= 1, got {batch}")
    sink = _events_sink(events, on_events_problem)
    if sink is not None:
        sink.emit(annotations)
    try:
        return _write(annotations, endpoint=endpoint, sync=sync, timeout_s=timeout_s, retry_for_s=retry_for_s,
                      batch=batch, transport=transport, sleep=sleep)
    finally:
        if sink is not None:
            _report_events(sink.flush(timeout_s), on_events_problem)


def _events_sink(events: EvaluationEvents | bool,
                 on_problem: Callable[[str], None] | None) -> EvaluationEvents | None:
    """Where the evaluation events go; a configuration that cannot be used is reported, never raised."""
    if events is False:
        return None
    if events is not True:
        return events
    from tracing.errors import TracingConfigError
    from tracing.evaluation_events import default_events

    try:
        return default_events()
    except TracingConfigError as exc:
        _report_events(f"evaluation events not sent: {exc}", on_problem)
        return None


def _report_events(problem: str | None, on_problem: Callable[[str], None] | None) -> None:
    if problem is None:
        return
    log.warning("%s", problem)
    if on_problem is not None:
        on_problem(problem)


def _write(
    annotations: Sequence[SpanAnnotation],
    *,
    endpoint: str | None,
    sync: bool,
    timeout_s: float,
    retry_for_s: float,
    batch: int,
    transport: httpx.BaseTransport | None,
    sleep: Callable[[float], None],
) -> list[str]:
    """The Phoenix write of :func:`annotate_spans`."""
    import httpx  # imported on use: `import tracing` stays light for code that never annotates

    try:
        from phoenix.client import Client
    except ImportError as exc:
        raise AnnotationError(
            "writing annotations to Phoenix needs arize-phoenix-client; install it with "
            "`pip install 'evalharness[phoenix-client]'`"
        ) from exc
    base = resolve_base_url(endpoint)
    headers = {"authorization": f"Bearer {key}"} if (key := os.environ.get("PHOENIX_API_KEY")) else {}
    deadline = time.monotonic() + max(0.0, retry_for_s)
    written, ids = 0, []
    with httpx.Client(base_url=base, timeout=timeout_s, transport=transport, headers=headers) as http:
        client = Client(base_url=base, http_client=http)
        for i in range(0, len(annotations), batch):
            part = [a.to_payload() for a in annotations[i : i + batch]]
            delay, attempts = 0.25, 0
            while True:
                attempts += 1
                try:
                    inserted = client.spans.log_span_annotations(span_annotations=part, sync=sync)  # type: ignore[arg-type]
                    ids += [str(item["id"]) for item in inserted or []]
                    break
                except (httpx.HTTPError, ValueError) as exc:  # ValueError: a reply that is not the JSON Phoenix sends
                    error, retryable = _failure(exc, base)
                    left = deadline - time.monotonic()
                    if not retryable or left <= 0:
                        done = f"; {written} of {len(annotations)} written before it" if written else ""
                        tried = f" (after {attempts} attempts)" if attempts > 1 else ""
                        raise AnnotationError(f"{error}{tried}{done}") from exc
                    wait = min(delay, left)
                    log.info("annotating %d spans failed, retrying in %.2fs: %s", len(part), wait, error)
                    sleep(wait)
                    delay = min(delay * 2, 8.0)
            written += len(part)
    return ids


def _failure(exc: Exception, base: str) -> tuple[str, bool]:
    """What went wrong with a write, for the error message, and whether a retry can help."""
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        status, text = exc.response.status_code, exc.response.text[:300]
        if status == 404:
            return (f"Phoenix does not know some of these spans yet ({text}); flush the tracing handle "
                    "(handle.force_flush()) before annotating, or pass sync=False"), True
        return f"Phoenix rejected the annotations: HTTP {status} {text}", status >= 500 or status in (408, 429)
    if isinstance(exc, ValueError):
        return f"{base}/v1/span_annotations answered with something that is not Phoenix's JSON ({exc})", False
    return (f"cannot reach Phoenix at {base}/v1/span_annotations: {exc}; is it running "
            "(python -m tracing.phoenix_server status)?"), True
