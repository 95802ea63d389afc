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
from functools import cached_property
from typing import Any

from openinference.semconv.trace import SpanAttributes

from tracing.errors import ProductionLogError
from tracing.production_log import _as_mapping, _attribute, _missing_to_none, _time

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
    end: datetime | None = None

    def attribute(self, dotted: str) -> Any:
        """An attribute by its dotted name, stored flat or nested."""
        return _missing_to_none(_attribute(self.attributes, dotted))

    def value(self, dotted: str) -> Any:
        """:meth:`attribute`, also looking inside OpenInference's JSON ``metadata`` (``metadata.topic``)."""
        found = self.attribute(dotted)
        if found is None and dotted.startswith(f"{SpanAttributes.METADATA}."):
            found = _as_mapping(self.attribute(SpanAttributes.METADATA)).get(dotted.split(".", 1)[1])
        return found

    @property
    def latency_s(self) -> float | None:
        if self.start is None or self.end is None:
            return None
        try:
            return max(0.0, (self.end - self.start).total_seconds())
        except TypeError:  # one aware, one naive
            return None

    def messages(self, which: str = "input") -> list[dict[str, str]]:
        """``llm.input_messages`` (or ``"output"``) as ``[{"role", "content"}]``, stored flat or as a list."""
        prefix = SpanAttributes.LLM_INPUT_MESSAGES if which == "input" else SpanAttributes.LLM_OUTPUT_MESSAGES
        stored = self.attribute(prefix)
        out: list[dict[str, str]] = []
        if isinstance(stored, list):
            for m in stored:
                m = m.get("message", m) if isinstance(m, Mapping) else {}
                content = m.get("content", _attribute(m, "message.content"))
                role = m.get("role", _attribute(m, "message.role"))
                if content is not None:
                    out.append({"role": str(role or ""), "content": str(content)})
            return out
        for i in range(1000):  # flat: llm.input_messages.0.message.role / .content
            content = self.attribute(f"{prefix}.{i}.message.content")
            role = self.attribute(f"{prefix}.{i}.message.role")
            if content is None and role is None:
                break
            out.append({"role": str(role or ""), "content": "" if content is None else str(content)})
        return out

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
            return [_document_content(d) for d in docs]
        found: list[str] = []
        for i in range(1000):  # flat: retrieval.documents.0.document.content, ...
            content = self.attribute(f"{SpanAttributes.RETRIEVAL_DOCUMENTS}.{i}.document.content")
            if content is None:
                break
            found.append(str(content))
        return found


def _document_content(doc: Any) -> str:
    if not isinstance(doc, Mapping):
        return str(doc)
    inner = doc.get("document", doc)
    if isinstance(inner, Mapping) and "content" in inner:
        return str(inner["content"])
    return str(doc.get("document.content", ""))  # a list item whose keys stayed flat


@dataclass(frozen=True)
class SpanTree:
    """Spans of one or more traces, ordered by start time, with parent and child lookups."""

    nodes: tuple[SpanNode, ...]
    orphans: tuple[str, ...]  # span ids whose parent span is not in the set (a partial trace)

    @cached_property
    def _index(self) -> tuple[dict[str, SpanNode], dict[str, list[SpanNode]], dict[str, list[SpanNode]]]:
        by_id: dict[str, SpanNode] = {}
        children: dict[str, list[SpanNode]] = {}
        traces: dict[str, list[SpanNode]] = {}
        for n in self.nodes:
            by_id.setdefault(n.span_id, n)
            if n.parent_id:
                children.setdefault(n.parent_id, []).append(n)
            traces.setdefault(n.trace_id, []).append(n)
        return by_id, children, traces

    def by_id(self, span_id: str) -> SpanNode | None:
        return self._index[0].get(span_id)

    def children(self, span_id: str) -> list[SpanNode]:
        return list(self._index[1].get(span_id, ()))

    def trace(self, trace_id: str) -> list[SpanNode]:
        """The spans of one trace, in start order."""
        return list(self._index[2].get(trace_id, ()))

    def descendants(self, span_id: str) -> list[SpanNode]:
        """Children, their children and so on (breadth first)."""
        out: list[SpanNode] = []
        seen = {span_id}
        queue = [span_id]
        while queue:
            for child in self._index[1].get(queue.pop(0), ()):
                if child.span_id not in seen:
                    seen.add(child.span_id)
                    out.append(child)
                    queue.append(child.span_id)
        return out

    def missing_ancestor(self, span_id: str) -> str | None:
        """The id of the first ancestor of ``span_id`` that is not stored (None when the chain reaches a root)."""
        chain = [self.by_id(span_id), *self.ancestors(span_id)]
        last = chain[-1]
        if last is None or not last.parent_id or last.parent_id in {n.span_id for n in chain if n is not None}:
            return None
        return last.parent_id

    def preceding(self, span_id: str, kind: str) -> list[SpanNode]:
        """Spans of ``kind`` in the same trace that started before ``span_id`` (its ancestors included,
        its descendants not), nearest first."""
        node = self.by_id(span_id)
        if node is None:
            return []
        below = {d.span_id for d in self.descendants(span_id)}
        out: list[SpanNode] = []
        for n in self.trace(node.trace_id):
            if n.span_id == span_id:
                break
            if n.kind == kind.upper() and n.span_id not in below:
                out.append(n)
        return out[::-1]

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
            attributes=attrs, end=_time(span.get("end_time"))))
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
                       client: Any = None, limit: int = 10_000, timeout: int = 60,
                       trace_ids: Sequence[str] | None = None, start_time: datetime | None = None,
                       end_time: datetime | None = None) -> list[dict[str, Any]]:
    """Span dicts of every kind from a Phoenix ``project`` (only ``trace_id``'s, or ``trace_ids``', when given;
    only spans starting in ``[start_time, end_time)`` when given). At most ``limit`` spans are read."""
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
    ids = [*([trace_id] if trace_id is not None else []), *(trace_ids or [])]
    if ids:
        kwargs["trace_ids"] = ids
    if start_time is not None:
        kwargs["start_time"] = start_time
    if end_time is not None:
        kwargs["end_time"] = end_time
    try:
        spans = client.spans.get_spans(**kwargs)
    except httpx.HTTPStatusError as exc:
        hint = (" (no such project, or it has no spans yet; check the project name in the Phoenix UI)"
                if exc.response.status_code == 404 else "")
        raise ProductionLogError(f"Phoenix at {base_url or 'the given client'} refused spans of project {project!r}: "
                                 f"HTTP {exc.response.status_code}{hint}") from exc
    except httpx.HTTPError as exc:
        raise ProductionLogError(f"cannot read spans of project {project!r} from Phoenix at "
                                 f"{base_url or 'the given client'}: {exc}; is it running "
                                 "(python -m tracing.phoenix_server status)?") from exc
    return [dict(s) for s in spans]
