"""OpenTelemetry tracing with OpenInference attributes, exported to a local Arize Phoenix.

``setup()`` sends spans to Phoenix; ``llm_span``/``evaluator_span``/``chain_span``/
``retriever_span``/``traced`` record them; ``annotate_spans`` writes verdicts back onto spans;
``python -m tracing.phoenix_server start`` runs Phoenix locally; ``tracing.production_log`` reads
the production log (JSONL file or Phoenix LLM spans) as rows. See docs/tracing.md.
"""

from tracing.annotations import SpanAnnotation, annotate_spans
from tracing.errors import (
    AnnotationError,
    ConfigError,
    PhoenixServerError,
    ProductionLogError,
    ProviderConflictError,
    TracingConfigError,
    TracingError,
)
from tracing.pricing import DEFAULT_PRICES, ModelPrice, PriceTable, estimate_cost
from tracing.redaction import RedactingSpanProcessor, RedactionRule, Redactor
from tracing.setup import TracingHandle, setup, setup_from_env
from tracing.span_select import SpanSelector
from tracing.spans import (
    chain_span,
    current_span_ids,
    evaluator_span,
    llm_span,
    retriever_span,
    span_ids,
    traced,
)

__all__ = [
    "DEFAULT_PRICES",
    "AnnotationError",
    "ConfigError",
    "ModelPrice",
    "PhoenixServerError",
    "PriceTable",
    "ProductionLogError",
    "ProviderConflictError",
    "RedactingSpanProcessor",
    "RedactionRule",
    "Redactor",
    "SpanAnnotation",
    "SpanSelector",
    "TracingConfigError",
    "TracingError",
    "TracingHandle",
    "annotate_spans",
    "chain_span",
    "current_span_ids",
    "estimate_cost",
    "evaluator_span",
    "llm_span",
    "retriever_span",
    "setup",
    "setup_from_env",
    "span_ids",
    "traced",
]
