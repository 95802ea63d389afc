"""Configure the global TracerProvider to send spans to Phoenix over OTLP/HTTP (protobuf)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter

from tracing._config import PROJECT_HEADER, PROJECT_RESOURCE_ATTRIBUTE, resolve_target
from tracing._processor import BoundedBatchSpanProcessor, DeliveryStats
from tracing.errors import ProviderConflictError, TracingConfigError
from tracing.redaction import RedactingSpanExporter, Redactor

logger = logging.getLogger(__name__)

TRACER_NAME = "evalharness.tracing"
TRACING_ENV = "EVALHARNESS_TRACING"


@dataclass(eq=False)
class TracingHandle:
    """What :func:`setup` configured: flush it, shut it down, and watch what it dropped."""

    project: str
    endpoint: str
    provider: TracerProvider
    owns_provider: bool
    _batcher: BoundedBatchSpanProcessor
    _processor: SpanProcessor

    @property
    def dropped_spans(self) -> int:
        """Spans that will never reach Phoenix: queue full, export failed, or left at shutdown."""
        return self._batcher.stats().dropped

    def stats(self) -> DeliveryStats:
        """Delivery counters by reason (enqueued, exported, dropped_*)."""
        return self._batcher.stats()

    @property
    def tracer(self) -> trace.Tracer:
        """A tracer of this handle's provider (pass it as ``tracer=`` to target a non-global provider)."""
        return self.provider.get_tracer(TRACER_NAME)

    def force_flush(self, timeout_s: float = 10.0) -> bool:
        """Export every span ended so far; False when ``timeout_s`` passed first (e.g. Phoenix down)."""
        return self._batcher.force_flush(int(timeout_s * 1000))

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Flush within ``timeout_s`` then stop exporting; spans still queued count as dropped.

        The processor stays registered on the provider (the SDK cannot remove one) but ignores spans.
        """
        self._batcher.shutdown(int(timeout_s * 1000))


def setup(
    endpoint: str | None = None,
    project: str | None = None,
    *,
    redact: bool | Redactor = True,
    use_existing_provider: bool = True,
    exporter_timeout_s: float = 2.0,
    max_queue_size: int = 2048,
    max_export_batch_size: int = 512,
    schedule_delay_s: float = 0.5,
    tracer_provider: TracerProvider | None = None,
    exporter: SpanExporter | None = None,
) -> TracingHandle:
    """Send spans to Phoenix: a bounded batch processor plus an OTLP/HTTP protobuf exporter.

    Endpoint and project resolve as described in :func:`tracing._config.resolve_target`. With no
    SDK provider installed, a new one is made global with the resource attribute
    ``openinference.project.name``. If the application already installed an SDK TracerProvider the
    processor is added to it (its resource is kept; the project travels in the ``x-project-name``
    header), or :class:`ProviderConflictError` is raised when ``use_existing_provider=False``.
    ``tracer_provider`` targets a specific provider instead of the global one; ``exporter``
    replaces the OTLP exporter (tests, other back-ends). ``redact`` masks personal data and secrets
    before export (``True``: default rules; a :class:`Redactor`: custom rules; ``False``: off).
    """
    if not exporter_timeout_s > 0:
        raise TracingConfigError(f"exporter_timeout_s must be > 0 seconds, got {exporter_timeout_s!r}")
    if not isinstance(max_queue_size, int) or max_queue_size < 1:
        raise TracingConfigError(f"max_queue_size must be a positive int, got {max_queue_size!r}")
    if not isinstance(max_export_batch_size, int) or max_export_batch_size < 1:
        raise TracingConfigError(
            f"max_export_batch_size must be a positive int, got {max_export_batch_size!r}"
        )
    if not schedule_delay_s > 0:
        raise TracingConfigError(f"schedule_delay_s must be > 0 seconds, got {schedule_delay_s!r}")
    target = resolve_target(endpoint, project)

    owns = False
    provider = tracer_provider
    if provider is None:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            if not use_existing_provider:
                raise ProviderConflictError(
                    "an SDK TracerProvider is already installed; pass use_existing_provider=True to add "
                    "the Phoenix exporter to it, or configure it yourself and skip tracing.setup()"
                )
            provider = current
        elif isinstance(current, trace.ProxyTracerProvider):
            provider = TracerProvider(resource=Resource.create({PROJECT_RESOURCE_ATTRIBUTE: target.project}))
            trace.set_tracer_provider(provider)
            owns = True
        else:
            raise ProviderConflictError(
                f"the global tracer provider is a {type(current).__name__}, not an OpenTelemetry SDK "
                "TracerProvider, so no exporter can be added to it; pass tracer_provider=... explicitly"
            )

    headers = {PROJECT_HEADER: target.project}
    if api_key := os.environ.get("PHOENIX_API_KEY"):
        headers["authorization"] = f"Bearer {api_key}"
    if exporter is None:
        # Imported here: it pulls in requests and protobuf, which `import tracing` should not pay for.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    span_exporter = exporter or OTLPSpanExporter(
        endpoint=target.traces_url, headers=headers, timeout=exporter_timeout_s
    )
    if redact:
        # Masked on the export thread, so the application's calls do not pay for the regexes.
        span_exporter = RedactingSpanExporter(
            span_exporter, redact if isinstance(redact, Redactor) else Redactor()
        )
    batcher = BoundedBatchSpanProcessor(
        span_exporter,
        max_queue_size=max_queue_size,
        max_export_batch_size=max_export_batch_size,
        schedule_delay_s=schedule_delay_s,
        # Bounds the flush at interpreter exit (the SDK's atexit hook) when Phoenix is unreachable.
        shutdown_timeout_s=2 * exporter_timeout_s + 1.0,
    )
    processor: SpanProcessor = batcher
    provider.add_span_processor(processor)
    logger.info("tracing to %s (project %r, redaction %s)", target.traces_url, target.project, bool(redact))
    return TracingHandle(
        project=target.project,
        endpoint=target.base_url,
        provider=provider,
        owns_provider=owns,
        _batcher=batcher,
        _processor=processor,
    )


def setup_from_env(**kwargs: object) -> TracingHandle | None:
    """Call :func:`setup` when ``EVALHARNESS_TRACING`` is 1/true/yes/on, else return None."""
    value = os.environ.get(TRACING_ENV, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return None
    if value not in ("1", "true", "yes", "on"):
        raise TracingConfigError(
            f"{TRACING_ENV}={value!r}: use 1/true/yes/on to enable tracing or 0 to disable"
        )
    return setup(**kwargs)  # type: ignore[arg-type]
