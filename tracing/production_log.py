"""The production log: one row per LLM call, read from the JSONL file or from Phoenix's LLM spans.

A row has exactly :data:`LOG_COLUMNS`, the columns ``examples/qa_app.py`` writes. ``drift/`` and the
review queues read production traffic only through this module, so both sources give them the
same row whichever way they arrive:

* :func:`iter_rows` / :func:`read_rows` read the JSONL file (a malformed line is named by file and line);
* :func:`rows_from_spans` maps span dicts as ``phoenix.client.Client().spans.get_spans()`` returns
  them; :func:`rows_from_phoenix` fetches them from a Phoenix project (``arize-phoenix-client``,
  imported on use).

Phoenix may hand span attributes back flat (``{"llm.latency_ms": 12.0}``, ``{"metadata.topic": "x"}``),
nested (``{"llm": {"latency_ms": 12.0}}``) or a mix of both; every form gives the same row.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from openinference.semconv.trace import SpanAttributes

from tracing.errors import ProductionLogError
from tracing.spans import LLM_COST_USD, LLM_LATENCY_MS, LLM_TPOT_MS, LLM_TTFT_MS

__all__ = ["LOG_COLUMNS", "iter_rows", "read_rows", "row_from_span", "rows_from_phoenix", "rows_from_spans"]

#: The columns of a production-log row, in the order the example app writes them.
LOG_COLUMNS: tuple[str, ...] = (
    "timestamp", "prompt", "response", "model", "topic", "language", "latency_ms", "ttft_ms", "tpot_ms",
    "prompt_tokens", "completion_tokens", "cost_usd", "judge_score", "label", "session_id", "user_id",
    "trace_id", "span_id",
)  # fmt: skip

# Log column <- span attribute. The rest come from the span itself (time, ids) or from its
# OpenInference ``metadata`` attribute (topic, language, judge_score, label).
_FROM_ATTRIBUTE: dict[str, str] = {
    "prompt": SpanAttributes.INPUT_VALUE,
    "response": SpanAttributes.OUTPUT_VALUE,
    "model": SpanAttributes.LLM_MODEL_NAME,
    "latency_ms": LLM_LATENCY_MS,
    "ttft_ms": LLM_TTFT_MS,
    "tpot_ms": LLM_TPOT_MS,
    "prompt_tokens": SpanAttributes.LLM_TOKEN_COUNT_PROMPT,
    "completion_tokens": SpanAttributes.LLM_TOKEN_COUNT_COMPLETION,
    "cost_usd": LLM_COST_USD,
    "session_id": SpanAttributes.SESSION_ID,
    "user_id": SpanAttributes.USER_ID,
}
_FROM_METADATA = ("topic", "language", "judge_score", "label")
_NUMERIC = frozenset(
    {
        "latency_ms",
        "ttft_ms",
        "tpot_ms",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "judge_score",
        "label",
    }
)


def iter_rows(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL production log, one at a time (blank lines skipped); for logs too big for a list.

    Raises :class:`ProductionLogError` naming the file and line of a line that is not a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        raise ProductionLogError(
            f"production log {path} does not exist; pass the file the app writes (examples/qa_app.py --log)"
        )
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ProductionLogError(
                    f"{path}:{lineno}: line {lineno} is not valid JSON ({exc.msg}); fix or remove that line"
                ) from exc
            if not isinstance(row, dict):
                raise ProductionLogError(
                    f"{path}:{lineno}: line {lineno} is a JSON {type(row).__name__}, not an object; "
                    "each line must be one logged call"
                )
            yield row


def read_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All rows of a JSONL production log as a list (see :func:`iter_rows`)."""
    return list(iter_rows(path))


def row_from_span(span: Mapping[str, Any]) -> dict[str, Any]:
    """The production-log row of one span dict (``context``, ``start_time``, ``end_time``, ``attributes``).

    Missing values are None; ``latency_ms`` falls back to ``end_time - start_time`` when the span has
    no ``llm.latency_ms``.
    """
    attrs = span.get("attributes") or {}
    if not isinstance(attrs, Mapping):
        raise ProductionLogError(
            f"span {_span_name(span)} has attributes of type {type(attrs).__name__}; expected a mapping "
            "as phoenix.client's spans.get_spans() returns"
        )
    row: dict[str, Any] = dict.fromkeys(LOG_COLUMNS)
    for column, name in _FROM_ATTRIBUTE.items():
        row[column] = _attribute(attrs, name)
    meta = _as_mapping(_attribute(attrs, SpanAttributes.METADATA))
    for column in _FROM_METADATA:
        # Phoenix returns the metadata JSON flattened ("metadata.topic"); other readers keep it whole.
        value = meta.get(column)
        row[column] = value if value is not None else _attribute(attrs, f"{SpanAttributes.METADATA}.{column}")
    for column in _NUMERIC:
        row[column] = _number(row[column])
    start, end = _time(span.get("start_time")), _time(span.get("end_time"))
    row["timestamp"] = start.isoformat() if start is not None else None
    if row["latency_ms"] is None and start is not None and end is not None:
        row["latency_ms"] = (end - start).total_seconds() * 1000.0
    context = span.get("context") or {}
    row["trace_id"] = _missing_to_none(context.get("trace_id"))
    row["span_id"] = _missing_to_none(context.get("span_id"))
    for column in ("prompt", "response", "model", "topic", "language", "session_id", "user_id"):
        row[column] = _missing_to_none(row[column])
    return row


def rows_from_spans(spans: Iterable[Mapping[str, Any]], *, llm_only: bool = True) -> list[dict[str, Any]]:
    """Production-log rows of span dicts; with ``llm_only`` spans of another ``span_kind`` are skipped."""
    return [
        row_from_span(span)
        for span in spans
        if not llm_only or str(span.get("span_kind") or "LLM").upper() == "LLM"
    ]


def rows_from_phoenix(
    project: str = "default",
    *,
    base_url: str | None = None,
    client: Any = None,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    limit: int = 100_000,
    timeout: int = 60,
) -> list[dict[str, Any]]:
    """Production-log rows of the LLM spans of a Phoenix ``project``.

    ``client`` is a ``phoenix.client.Client`` (or anything with ``.spans.get_spans``); by default one
    is made for ``base_url`` (else ``PHOENIX_COLLECTOR_ENDPOINT``, else http://127.0.0.1:6006).
    Raises :class:`ProductionLogError` when the client is not installed or Phoenix refuses.
    """
    if client is None:
        from tracing._config import resolve_base_url

        try:
            from phoenix.client import Client
        except ImportError as exc:
            raise ProductionLogError(
                "reading spans from Phoenix needs arize-phoenix-client; install it with "
                "`pip install 'evalharness[phoenix-client]'`"
            ) from exc
        base_url = resolve_base_url(base_url)
        client = Client(base_url=base_url)
    import httpx  # a core dependency; the Phoenix client raises its errors

    try:
        spans = client.spans.get_spans(
            project_identifier=project,
            span_kind="LLM",
            start_time=start_time,
            end_time=end_time,
            limit=limit,
            timeout=timeout,
        )
    except httpx.HTTPStatusError as exc:
        hint = " (no such project, or it has no spans yet)" if exc.response.status_code == 404 else ""
        raise ProductionLogError(
            f"Phoenix at {base_url or 'the given client'} refused spans of project {project!r}: "
            f"HTTP {exc.response.status_code}{hint}; check the project name in the Phoenix UI"
        ) from exc
    except httpx.HTTPError as exc:
        raise ProductionLogError(
            f"cannot reach Phoenix at {base_url or 'the given client'}: {exc}; "
            "is it running (python -m tracing.phoenix_server status)?"
        ) from exc
    return rows_from_spans(spans)


def _attribute(attrs: Mapping[str, Any], dotted: str) -> Any:
    """``attrs[dotted]`` whether the name is stored flat, nested, or flat below a nested prefix."""
    if dotted in attrs:
        return attrs[dotted]
    parts = dotted.split(".")
    for i in range(len(parts) - 1, 0, -1):  # longest stored prefix first: "llm" then the rest
        child = attrs.get(".".join(parts[:i]))
        if isinstance(child, Mapping):
            found = _attribute(child, ".".join(parts[i:]))
            if found is not None:
                return found
    return None


def _as_mapping(value: Any) -> Mapping[str, Any]:
    # OpenInference stores ``metadata`` as a JSON string; Phoenix may return it parsed.
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}


def _missing_to_none(value: Any) -> Any:
    # Span frames (pandas) use NaN for a missing value; a row uses None as the JSONL log does.
    return None if isinstance(value, float) and math.isnan(value) else value


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    if hasattr(value, "item"):  # a numpy scalar from a span frame
        return _number(value.item())
    return None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):  # also pandas.Timestamp (span frames drop NaT before they get here)
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError as exc:
            raise ProductionLogError(
                f"span start/end time {value!r} is not ISO 8601 (e.g. 2026-01-31T12:00:00+00:00)"
            ) from exc
    return None


def _span_name(span: Mapping[str, Any]) -> str:
    context = span.get("context") or {}
    return f"{span.get('name')!r} ({context.get('span_id')})"
