"""Flattening of messages, documents and values into OpenInference span attributes."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from openinference.semconv.trace import DocumentAttributes, MessageAttributes, SpanAttributes

# Attribute values are capped so one huge prompt cannot blow up the export queue's memory.
MAX_VALUE_CHARS = 32_000


def to_text(value: Any) -> str:
    """A string for ``input.value``/``output.value``: strings as-is, anything else as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…[truncated]"


def mime_of(value: Any) -> str:
    """OpenInference mime type matching :func:`to_text`."""
    return "text/plain" if isinstance(value, str) else "application/json"


def message_attributes(prefix: str, messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``llm.input_messages.N.message.role/content`` (or output) for chat-style messages."""
    out: dict[str, Any] = {}
    for i, message in enumerate(messages):
        base = f"{prefix}.{i}."
        role = message.get("role")
        if role is not None:
            out[base + MessageAttributes.MESSAGE_ROLE] = str(role)
        content = message.get("content")
        if content is not None:
            out[base + MessageAttributes.MESSAGE_CONTENT] = to_text(content)
        if (name := message.get("name")) is not None:
            out[base + MessageAttributes.MESSAGE_NAME] = str(name)
    return out


def document_attributes(documents: Sequence[Any]) -> dict[str, Any]:
    """``retrieval.documents.N.document.content/id/score/metadata`` from dicts or plain strings."""
    out: dict[str, Any] = {}
    for i, doc in enumerate(documents):
        base = f"{SpanAttributes.RETRIEVAL_DOCUMENTS}.{i}."
        if isinstance(doc, str):
            out[base + DocumentAttributes.DOCUMENT_CONTENT] = to_text(doc)
            continue
        if not isinstance(doc, Mapping):
            raise TypeError(
                f"retrieval document {i} is a {type(doc).__name__}; pass a str or a mapping with "
                "'content' and optional 'id', 'score', 'metadata'"
            )
        if (content := doc.get("content")) is not None:
            out[base + DocumentAttributes.DOCUMENT_CONTENT] = to_text(content)
        if (doc_id := doc.get("id")) is not None:
            out[base + DocumentAttributes.DOCUMENT_ID] = str(doc_id)
        if (score := doc.get("score")) is not None:
            out[base + DocumentAttributes.DOCUMENT_SCORE] = float(score)
        if (metadata := doc.get("metadata")) is not None:
            out[base + DocumentAttributes.DOCUMENT_METADATA] = to_text(metadata)
    return out
