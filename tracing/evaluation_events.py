"""OpenTelemetry evaluation events: every verdict the one annotation writer sends to Phoenix also leaves as a
``gen_ai.evaluation.result`` log record (OpenTelemetry GenAI semantic conventions), parented to the evaluated span.

The record goes through the OpenTelemetry Logs API (span events are being deprecated for this) to whichever
OTLP endpoint is configured: a collector, a vendor back-end, or anything that speaks OTLP logs. Attributes:

- ``gen_ai.evaluation.name`` (required): the criterion, the same as the annotation's name;
- ``gen_ai.evaluation.score.value`` / ``gen_ai.evaluation.score.label`` / ``gen_ai.evaluation.explanation``:
  the annotation's score, label and explanation, each when present;
- ``gen_ai.response.id``: when the verdict's metadata carries ``response_id``;
- ``error.type``: ``judge_failure`` or ``not_evaluable`` for a verdict without a score;
- the harness's extras under ``evalharness.evaluation.*`` (:data:`NAMESPACE`): ``annotator_kind``,
  ``source``, ``criterion``, ``span_id`` and the verdict's metadata (``scorer``, ``judge_model``,
  ``prob_source``, ``entropy``, ``passed``, ``threshold``, ``run_id``, ``suite``, ``case_id`` ...), with
  label probabilities flattened to ``evalharness.evaluation.label_probs.<label>``.

Where they go (:func:`default_events`): nowhere when ``EVALHARNESS_EVAL_EVENTS=off``; else to the application's
own SDK ``LoggerProvider`` when it installed one globally; else over OTLP/HTTP to
``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT`` (a full URL such as ``http://127.0.0.1:4318/v1/logs``) or to
``EVALHARNESS_EVAL_EVENTS=<url>``; else nowhere. Phoenix (13.x) takes traces but not OTLP logs: it gets the
same verdicts as annotations, so point the logs endpoint at a collector, not at Phoenix.
Delivery never raises: what did not arrive is counted and said (:meth:`EvaluationEvents.flush`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tracing.errors import TracingConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
    from opentelemetry.sdk._logs.export import LogRecordExporter

    from tracing.annotations import SpanAnnotation

log = logging.getLogger(__name__)

EVENT_NAME = "gen_ai.evaluation.result"
EVALUATION_NAME = "gen_ai.evaluation.name"
SCORE_VALUE = "gen_ai.evaluation.score.value"
SCORE_LABEL = "gen_ai.evaluation.score.label"
EXPLANATION = "gen_ai.evaluation.explanation"
RESPONSE_ID = "gen_ai.response.id"
ERROR_TYPE = "error.type"
#: The harness's own attributes (not in the convention) live under this prefix.
NAMESPACE = "evalharness.evaluation."
LOGGER_NAME = "evalharness.evaluation"
EVENTS_ENV = "EVALHARNESS_EVAL_EVENTS"
LOGS_ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"
_FAILURE_LABELS = ("judge_failure", "not_evaluable")
_HEX = {16: re.compile(r"[0-9a-f]{16}"), 32: re.compile(r"[0-9a-f]{32}")}
# metadata keys that are the convention's, not extras
_CONVENTION_KEYS = {"response_id", "trace_id"}


def evaluation_attributes(annotation: SpanAnnotation) -> dict[str, Any]:
    """The log record's attributes for one annotation: the convention's, then the harness's extras."""
    meta = dict(annotation.metadata or {})
    attrs: dict[str, Any] = {EVALUATION_NAME: annotation.name}
    if annotation.score is not None:
        attrs[SCORE_VALUE] = float(annotation.score)
    if annotation.label is not None:
        attrs[SCORE_LABEL] = str(annotation.label)
    if annotation.explanation:
        attrs[EXPLANATION] = annotation.explanation
    if meta.get("response_id"):
        attrs[RESPONSE_ID] = str(meta["response_id"])
    if annotation.score is None and annotation.label in _FAILURE_LABELS:
        attrs[ERROR_TYPE] = annotation.label
    attrs[NAMESPACE + "annotator_kind"] = annotation.annotator_kind
    attrs[NAMESPACE + "source"] = annotation.identifier or str(meta.get("source", ""))
    attrs[NAMESPACE + "criterion"] = annotation.name
    attrs[NAMESPACE + "span_id"] = annotation.span_id
    for key, value in meta.items():
        if key in _CONVENTION_KEYS or key == "source" or value is None:
            continue
        if key == "label_probs" and isinstance(value, Mapping):
            for label, p in value.items():
                attrs[f"{NAMESPACE}label_probs.{str(label).strip()}"] = float(p)
            continue
        attrs[NAMESPACE + key] = _attribute_value(value)
    return attrs


def _attribute_value(value: Any) -> Any:
    """An OpenTelemetry attribute value: a primitive, a list of one primitive type, else JSON text."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    return json.dumps(value, sort_keys=True, default=str)


def _span_context(annotation: SpanAnnotation) -> Any:
    """The OpenTelemetry context of the evaluated span, or None without a valid trace id to parent to."""
    from opentelemetry import trace

    trace_id = annotation.trace_id or (annotation.metadata or {}).get("trace_id")
    if not isinstance(trace_id, str) or not _HEX[32].fullmatch(trace_id) or not _HEX[16].fullmatch(
            annotation.span_id):
        return None
    ctx = trace.SpanContext(int(trace_id, 16), int(annotation.span_id, 16), is_remote=True,
                            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED))
    return trace.set_span_in_context(trace.NonRecordingSpan(ctx))


@dataclass
class _Delivery:
    """What the exporter did with the records (counted on the export thread)."""

    exported: int = 0
    failed: int = 0
    last_error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


class _CountingExporter:
    """Wraps a log record exporter and counts what it delivered and what it did not."""

    def __init__(self, inner: LogRecordExporter, delivery: _Delivery) -> None:
        self._inner, self._delivery = inner, delivery

    def export(self, batch: Sequence[ReadableLogRecord]) -> Any:
        from opentelemetry.sdk._logs.export import LogRecordExportResult

        try:
            result = self._inner.export(batch)
            error = "" if result == LogRecordExportResult.SUCCESS else "collector unreachable or refused"
        except Exception as exc:  # noqa: BLE001 - an exporter that raises must not kill the export thread
            result, error = LogRecordExportResult.FAILURE, f"{type(exc).__name__}: {exc}"
        with self._delivery.lock:
            if error:
                self._delivery.failed += len(batch)
                self._delivery.last_error = error
            else:
                self._delivery.exported += len(batch)
        return result

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))

    def shutdown(self) -> None:
        self._inner.shutdown()


class EvaluationEvents:
    """Where evaluation events go: a ``LoggerProvider`` and, when the harness made it, what it delivered."""

    def __init__(self, provider: LoggerProvider, *, where: str, delivery: _Delivery | None = None,
                 owns_provider: bool = False) -> None:
        self.provider, self.where, self.owns_provider = provider, where, owns_provider
        self._delivery = delivery
        self._logger = provider.get_logger(LOGGER_NAME)
        self.emitted = 0

    def emit(self, annotations: Sequence[SpanAnnotation]) -> int:
        """One ``gen_ai.evaluation.result`` record per annotation, parented to its span; returns how many."""
        from opentelemetry._logs import SeverityNumber

        for a in annotations:
            self._logger.emit(timestamp=time.time_ns(), context=_span_context(a), event_name=EVENT_NAME,
                              severity_number=SeverityNumber.INFO, severity_text="INFO",
                              attributes=evaluation_attributes(a))
        self.emitted += len(annotations)
        return len(annotations)

    def flush(self, timeout_s: float = 10.0) -> str | None:
        """Export what is queued; returns why some records did not arrive (None when all did, or when the
        application's own provider delivers them and says nothing back)."""
        done = self.provider.force_flush(int(timeout_s * 1000))
        if self._delivery is None:
            return None if done else f"evaluation events not flushed to {self.where} within {timeout_s:g}s"
        with self._delivery.lock:
            failed, exported, error = self._delivery.failed, self._delivery.exported, self._delivery.last_error
        lost = self.emitted - exported
        if lost <= 0:
            return None
        why = error if failed else f"not flushed within {timeout_s:g}s"
        # short enough for the eval summary's 120 columns; docs/tracing.md says where events go and how to stop them
        return f"{lost} of {self.emitted} evaluation events not delivered to {self.where} ({why})"

    def shutdown(self) -> None:
        """Stop the provider the harness made (an application's own provider is left alone)."""
        if self.owns_provider:
            self.provider.shutdown()


def setup_evaluation_events(
    endpoint: str | None = None,
    *,
    exporter: LogRecordExporter | None = None,
    timeout_s: float = 2.0,
    headers: Mapping[str, str] | None = None,
) -> EvaluationEvents:
    """A ``LoggerProvider`` that exports evaluation events over OTLP/HTTP (protobuf) to ``endpoint`` (a full
    logs URL; default ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``), or to ``exporter`` (tests: the SDK's
    ``InMemoryLogRecordExporter``). Not installed globally: the application's own logs are not touched."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource

    if not timeout_s > 0:
        raise TracingConfigError(f"timeout_s must be > 0 seconds, got {timeout_s!r}")
    if exporter is None:
        url = logs_endpoint(endpoint)
        if url is None:
            raise TracingConfigError(f"no OTLP logs endpoint: pass endpoint=... or set {LOGS_ENDPOINT_ENV} "
                                     "(e.g. http://127.0.0.1:4318/v1/logs, an OpenTelemetry Collector)")
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        exporter, where = OTLPLogExporter(endpoint=url, headers=dict(headers or {}), timeout=timeout_s), url
    else:
        where = type(exporter).__name__
    delivery = _Delivery()
    provider = LoggerProvider(resource=Resource.create({"service.name": "evalharness"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(
        _CountingExporter(exporter, delivery), schedule_delay_millis=500,  # type: ignore[arg-type]
        export_timeout_millis=int(timeout_s * 1000)))
    return EvaluationEvents(provider, where=where, delivery=delivery, owns_provider=True)


def logs_endpoint(endpoint: str | None = None) -> str | None:
    """The OTLP/HTTP logs URL: ``endpoint``, ``EVALHARNESS_EVAL_EVENTS`` when it is a URL, else
    ``OTEL_EXPORTER_OTLP_LOGS_ENDPOINT``; None when none is set. A value that is not http(s) is refused."""
    from urllib.parse import urlsplit

    env = os.environ.get(EVENTS_ENV, "").strip()
    candidates = [("endpoint", endpoint), (EVENTS_ENV, env if "://" in env else None),
                  (LOGS_ENDPOINT_ENV, os.environ.get(LOGS_ENDPOINT_ENV, "").strip() or None)]
    found = next(((s, v) for s, v in candidates if v), None)
    if found is None:
        return None
    source, url = found
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TracingConfigError(f"{source}={url!r} is not an http(s) URL; use e.g. "
                                 "'http://127.0.0.1:4318/v1/logs' (an OpenTelemetry Collector's OTLP/HTTP logs)")
    return url


_DEFAULT: dict[str, EvaluationEvents] = {}
_DEFAULT_LOCK = threading.Lock()


def default_events() -> EvaluationEvents | None:
    """The events destination configured for this process (module docstring), made once per logs URL."""
    from opentelemetry import _logs
    from opentelemetry.sdk._logs import LoggerProvider

    switch = os.environ.get(EVENTS_ENV, "").strip().lower()
    if switch in ("0", "off", "false", "no"):
        return None
    if switch and switch not in ("1", "on", "true", "yes") and "://" not in switch:
        raise TracingConfigError(f"{EVENTS_ENV}={switch!r}: use off, on or an OTLP/HTTP logs URL "
                                 "(e.g. http://127.0.0.1:4318/v1/logs)")
    current = _logs.get_logger_provider()
    if isinstance(current, LoggerProvider):
        return EvaluationEvents(current, where="the application's LoggerProvider")
    url = logs_endpoint()
    if url is None:
        return None
    with _DEFAULT_LOCK:
        if url not in _DEFAULT:
            _DEFAULT[url] = setup_evaluation_events(url)
        return _DEFAULT[url]
