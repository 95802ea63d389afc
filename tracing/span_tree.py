"""Stored spans of any kind as a tree: the reader behind trajectories and per-span evaluation.

Spans arrive as dicts in the shape ``phoenix.client.Client().spans.get_spans()`` returns (``name``,
``context.trace_id/span_id``, ``parent_id``, ``span_kind``, ``start_time``, ``status_code``,
``attributes``), from Phoenix (:func:`spans_from_phoenix`) or from an in-process exporter
(:func:`span_dicts`), and are read by :func:`span_nodes`. Attributes may be flat or nested, as in
:mod:`tracing.production_log`. A span whose parent is not in the set is kept and listed as an orphan.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from openinference.semconv.trace import SpanAttributes

from tracing.errors import ProductionLogError
from tracing.production_log import _attribute, _missing_to_none, _time

__all__ = ["SpanNode", "SpanTree", "span_dicts", "span_nodes", "spans_from_phoenix"]


@dataclass(frozen=True)
class SpanNode:
    """One stored span, with what evaluators read of it."""

    span_id: str
    trace_id: str
    parent_id: str | None
    name: str
    kind: str  # OpenInference span kind, upper case ("LLM", "TOOL", "AGENT", "RETRIEVER", ...)
    start: datetime | None
    status: str  # "OK", "ERROR" or "UNSET"
    status_message: str
    attributes: Mapping[str, Any] = field(repr=False)

    def attribute(self, dotted: str) -> Any:
        """An attribute by its dotted name, stored flat or nested."""
        return _missing_to_none(_attribute(self.attributes, dotted))

    @property
    def input(self) -> str | None:
        value = self.attribute(SpanAttributes.INPUT_VALUE)
        return None if value is None else str(value)

    @property
    def output(self) -> str | None:
        value = self.attribute(SpanAttributes.OUTPUT_VALUE)
        return None if value is None else str(value)

    @property
    def documents(self) -> list[str]:
        """The contents of a RETRIEVER span's documents, in order."""
        docs = self.attribute(SpanAttributes.RETRIEVAL_DOCUMENTS)
        if isinstance(docs, list):
            return [str(d.get("document", d).get("content", "")) if isinstance(d, Mapping) else str(d) for d in docs]
        found: list[str] = []
        for i in range(1000):  # flat: retrieval.documents.0.document.content, ...
            content = self.attribute(f"{SpanAttributes.RETRIEVAL_DOCUMENTS}.{i}.document.content")
            if content is None:
                break
            found.append(str(content))
        return found


@dataclass(frozen=True)
class SpanTree:
    """Spans of one or more traces, ordered by start time, with parent and child lookups."""

    nodes: tuple[SpanNode, ...]
    orphans: tuple[str, ...]  # span ids whose parent span is not in the set (a partial trace)

    def by_id(self, span_id: str) -> SpanNode | None:
        return next((n for n in self.nodes if n.span_id == span_id), None)

    def children(self, span_id: str) -> list[SpanNode]:
        return [n for n in self.nodes if n.parent_id == span_id]

    def ancestors(self, span_id: str) -> list[SpanNode]:
        """Parent first, then its parent, up to the root or to the first missing parent."""
        out: list[SpanNode] = []
        node = self.by_id(span_id)
        seen = {span_id}
        while node is not None and node.parent_id and node.parent_id not in seen:
            seen.add(node.parent_id)
            node = self.by_id(node.parent_id)
            if node is not None:
                out.append(node)
        return out

    def of_kind(self, kind: str) -> list[SpanNode]:
        return [n for n in self.nodes if n.kind == kind.upper()]


def span_nodes(spans: Iterable[Mapping[str, Any]]) -> SpanTree:
    """Read span dicts into a :class:`SpanTree`; a span without an id is a ProductionLogError naming it."""
    nodes: list[SpanNode] = []
    for span in spans:
        if not isinstance(span, Mapping):
            raise ProductionLogError(f"a span must be a mapping as phoenix.client returns, got {type(span).__name__}")
        context = span.get("context") or {}
        span_id = context.get("span_id") or span.get("span_id")
        if not span_id:
            raise ProductionLogError(f"span {span.get('name')!r} has no context.span_id; cannot place it in a trace")
        attrs = span.get("attributes") or {}
        if not isinstance(attrs, Mapping):
            raise ProductionLogError(f"span {span.get('name')!r} has attributes of type {type(attrs).__name__}")
        kind = span.get("span_kind") or _attribute(attrs, SpanAttributes.OPENINFERENCE_SPAN_KIND) or "UNKNOWN"
        nodes.append(SpanNode(
            span_id=str(span_id), trace_id=str(context.get("trace_id") or span.get("trace_id") or ""),
            parent_id=_missing_to_none(span.get("parent_id")) or None, name=str(span.get("name") or ""),
            kind=str(kind).upper(), start=_time(span.get("start_time")),
            status=str(span.get("status_code") or "UNSET").upper(), status_message=str(span.get("status_message") or ""),
            attributes=attrs))
    epoch = datetime.min.replace(tzinfo=UTC)
    nodes.sort(key=lambda n: (n.start.astimezone(UTC) if n.start and n.start.tzinfo else
                              (n.start.replace(tzinfo=UTC) if n.start else epoch)))
    ids = {n.span_id for n in nodes}
    orphans = tuple(n.span_id for n in nodes if n.parent_id is not None and n.parent_id not in ids)
    return SpanTree(tuple(nodes), orphans)


def span_dicts(spans: Sequence[Any]) -> list[dict[str, Any]]:
    """OpenTelemetry SDK ``ReadableSpan``s (e.g. from an ``InMemorySpanExporter``) as Phoenix-shaped dicts."""
    out: list[dict[str, Any]] = []
    for s in spans:
        attrs = dict(s.attributes or {})
        parent = s.parent
        out.append({
            "name": s.name,
            "context": {"trace_id": format(s.context.trace_id, "032x"), "span_id": format(s.context.span_id, "016x")},
            "parent_id": format(parent.span_id, "016x") if parent is not None else None,
            "span_kind": attrs.get(SpanAttributes.OPENINFERENCE_SPAN_KIND, "UNKNOWN"),
            "start_time": datetime.fromtimestamp(s.start_time / 1e9, UTC).isoformat() if s.start_time else None,
            "end_time": datetime.fromtimestamp(s.end_time / 1e9, UTC).isoformat() if s.end_time else None,
            "status_code": s.status.status_code.name,
            "status_message": s.status.description or "",
            "attributes": json.loads(json.dumps(attrs, default=list)),  # tuples to lists: plain JSON
        })
    return out


def spans_from_phoenix(project: str = "default", *, trace_id: str | None = None, base_url: str | None = None,
                       client: Any = None, limit: int = 10_000, timeout: int = 60) -> list[dict[str, Any]]:
    """Span dicts of every kind from a Phoenix ``project`` (only ``trace_id``'s when given)."""
    if client is None:
        from tracing._config import resolve_base_url

        try:
            from phoenix.client import Client
        except ImportError as exc:
            raise ProductionLogError("reading spans from Phoenix needs arize-phoenix-client; install it with "
                                     "`pip install 'evalharness[phoenix-client]'`") from exc
        base_url = resolve_base_url(base_url)
        client = Client(base_url=base_url)
    import httpx

    kwargs: dict[str, Any] = {"project_identifier": project, "limit": limit, "timeout": timeout}
    if trace_id is not None:
        kwargs["trace_ids"] = [trace_id]
    try:
        spans = client.spans.get_spans(**kwargs)
    except httpx.HTTPError as exc:
        raise ProductionLogError(f"cannot read spans of project {project!r} from Phoenix at "
                                 f"{base_url or 'the given client'}: {exc}") from exc
    return [dict(s) for s in spans]
