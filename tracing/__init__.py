"""OpenTelemetry tracing with OpenInference attributes, exported to a local Arize Phoenix.

``setup()`` sends spans to Phoenix; ``llm_span``/``evaluator_span``/``chain_span``/
``retriever_span``/``traced`` record them; ``annotate_spans`` writes verdicts back onto spans;
``python -m tracing.phoenix_server start`` runs Phoenix locally; ``tracing.production_log`` reads
the production log (JSONL file or Phoenix LLM spans) as rows. See docs/tracing.md.
"""

from tracing._processor import DeliveryStats
from tracing.annotations import AnnotatorKind, SpanAnnotation, annotate_spans
from tracing.errors import (
    AnnotationError,
    PhoenixServerError,
    ProductionLogError,
    ProviderConflictError,
    TracingConfigError,
    TracingError,
)
from tracing.pricing import DEFAULT_PRICES, ModelPrice, PriceTable, default_price_table, estimate_cost
from tracing.redaction import (
    DEFAULT_RULES,
    RedactingSpanExporter,
    RedactingSpanProcessor,
    RedactionRule,
    Redactor,
)
from tracing.setup import TracingHandle, setup, setup_from_env
from tracing.spans import (
    ChainCall,
    EvaluatorCall,
    LLMCall,
    RetrieverCall,
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
    "DEFAULT_RULES",
    "AnnotationError",
    "AnnotatorKind",
    "ChainCall",
    "DeliveryStats",
    "EvaluatorCall",
    "LLMCall",
    "ModelPrice",
    "PhoenixServerError",
    "PriceTable",
    "ProductionLogError",
    "ProviderConflictError",
    "RedactingSpanExporter",
    "RedactingSpanProcessor",
    "RedactionRule",
    "Redactor",
    "RetrieverCall",
    "SpanAnnotation",
    "TracingConfigError",
    "TracingError",
    "TracingHandle",
    "annotate_spans",
    "chain_span",
    "current_span_ids",
    "default_price_table",
    "estimate_cost",
    "evaluator_span",
    "llm_span",
    "retriever_span",
    "setup",
    "setup_from_env",
    "span_ids",
    "traced",
]
