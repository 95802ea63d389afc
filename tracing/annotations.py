"""Evaluation results and human labels written back onto spans in Phoenix.

Phoenix specifics: ``POST {base}/v1/span_annotations`` with ``{"data": [...]}``; each item has
``span_id``, ``name``, ``annotator_kind`` (LLM, CODE or HUMAN), ``result`` (score, label,
explanation), ``metadata`` and ``identifier`` (non-empty: upsert instead of append).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tracing._config import resolve_base_url
from tracing.errors import AnnotationError

if TYPE_CHECKING:
    import httpx

AnnotatorKind = Literal["LLM", "CODE", "HUMAN"]
_KINDS = ("LLM", "CODE", "HUMAN")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")


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


def annotate_spans(
    annotations: Sequence[SpanAnnotation],
    *,
    endpoint: str | None = None,
    sync: bool = True,
    timeout_s: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> list[str]:
    """Write ``annotations`` to Phoenix; returns the new annotation ids (empty when ``sync=False``).

    ``endpoint`` defaults like ``tracing.setup()``'s: ``PHOENIX_COLLECTOR_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_*``,
    then the server ``python -m tracing.phoenix_server start`` recorded (whatever its port), then
    http://127.0.0.1:6006. ``PHOENIX_API_KEY`` is sent as a bearer token and never appears in an error.
    ``sync=True`` makes Phoenix insert before replying and fail with 404 for spans it has not
    stored yet (flush the tracing handle first); ``sync=False`` queues them server-side.
    Raises :class:`AnnotationError` when Phoenix is unreachable or refuses the request.
    """
    if not annotations:
        return []
    import httpx  # imported on use: `import tracing` stays light for code that never annotates

    base = resolve_base_url(endpoint)
    headers = {"content-type": "application/json"}
    if api_key := os.environ.get("PHOENIX_API_KEY"):
        headers["authorization"] = f"Bearer {api_key}"
    body = {"data": [a.to_payload() for a in annotations]}
    url = f"{base}/v1/span_annotations"
    try:
        with httpx.Client(timeout=timeout_s, transport=transport) as client:
            response = client.post(url, params={"sync": str(sync).lower()}, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise AnnotationError(
            f"cannot reach Phoenix at {url}: {exc}; is it running (python -m tracing.phoenix_server status)?"
        ) from exc
    if response.status_code == 404:
        raise AnnotationError(
            f"Phoenix does not know some of these spans yet ({response.text[:300]}); "
            "flush the tracing handle (handle.force_flush()) before annotating, or pass sync=False"
        )
    if response.is_error:
        raise AnnotationError(
            f"Phoenix rejected the annotations: HTTP {response.status_code} {response.text[:300]}"
        )
    return [item["id"] for item in response.json().get("data", [])]
