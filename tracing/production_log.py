"""The one production row: a production request, read from the JSONL log or from its trace in Phoenix.

A row has exactly :data:`LOG_COLUMNS`, the columns ``examples/qa_app.py`` writes. ``drift/``, the monitor
and the review queues read production traffic only through this module, so both sources give them the
same row whichever way they arrive:

* :func:`iter_rows` / :func:`read_rows` read the JSONL file. A line that is not a JSON object is skipped,
  counted and named (:class:`LogProblems`), or stops the read with ``strict=True``; a half-written last line
  (no newline yet: the app is still appending) is left for the next read, never reported as corrupt.
* :func:`rows_from_spans` maps span dicts as ``phoenix.client.Client().spans.get_spans()`` returns them,
  one row per **request**: the trace's root span (``parent_id`` None). Its ``input.value`` is the user's
  input (the last user message when the root is itself an LLM span whose input is a message list), its
  ``output.value`` the reply. An app that knows its own figures of the call (latency on its own clock,
  time to first token, tokens, model) records them on the root span with :func:`row_attributes`, under
  :data:`ROW_ATTRIBUTE_PREFIX`, and the reader gives them back as they were logged; a root that is an LLM
  span gives its measured ``llm.*`` figures. A feature a source does not have is None (missing), never 0.
  :func:`rows_from_phoenix` fetches the root spans of a Phoenix project (``arize-phoenix-client``,
  imported on use).

Phoenix may hand span attributes back flat (``{"llm.latency_ms": 12.0}``, ``{"metadata.topic": "x"}``),
nested (``{"llm": {"latency_ms": 12.0}}``) or a mix of both; every form gives the same row.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from openinference.semconv.trace import SpanAttributes

from tracing.errors import ProductionLogError
from tracing.spans import LLM_COST_USD, LLM_LATENCY_MS, LLM_TPOT_MS, LLM_TTFT_MS

__all__ = [
    "LOG_COLUMNS", "ROW_ATTRIBUTE_PREFIX", "LogProblems", "iter_rows", "read_rows", "row_attributes", "row_from_span",
    "rows_from_phoenix", "rows_from_spans", "user_text",
]  # fmt: skip

log = logging.getLogger(__name__)

#: The columns of a production-log row, in the order the example app writes them.
LOG_COLUMNS: tuple[str, ...] = (
    "timestamp", "prompt", "response", "model", "topic", "language", "latency_ms", "ttft_ms", "tpot_ms",
    "prompt_tokens", "completion_tokens", "cost_usd", "judge_score", "label", "session_id", "user_id",
    "trace_id", "span_id",
)  # fmt: skip

#: Namespace of the figures an app records on a request's root span (:func:`row_attributes`). Not OpenInference's
#: ``llm.token_count.*``: Phoenix sums those over a trace, and the LLM span beneath already carries them.
ROW_ATTRIBUTE_PREFIX = "evalharness.row."
# The columns an app may record on its root span; prompt and response are the root's own input and output.
_RECORDED = (
    "model", "topic", "language", "latency_ms", "ttft_ms", "tpot_ms", "prompt_tokens", "completion_tokens",
    "cost_usd", "judge_score", "label",
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


@dataclass
class LogProblems:
    """What a read of the production log skipped: corrupt lines (number, reason) and a half-written last line."""

    path: str = ""
    skipped: list[tuple[int, str]] = field(default_factory=list)
    incomplete_tail: int | None = None  # the line number of a last line still being written (read next time)

    def summary(self) -> str | None:
        """One line for a terminal: how many lines were skipped and which (the first five named)."""
        if not self.skipped and self.incomplete_tail is None:
            return None
        parts = []
        if self.skipped:
            named = ", ".join(f"line {n} ({why})" for n, why in self.skipped[:5])
            more = f" and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
            parts.append(f"{len(self.skipped)} corrupt line{'s' if len(self.skipped) != 1 else ''} skipped in "
                         f"{self.path}: {named}{more}")
        if self.incomplete_tail is not None:
            parts.append(f"the last line ({self.incomplete_tail}) of {self.path} is still being written: left for "
                         "the next run")
        return "; ".join(parts)


def iter_rows(
    path: str | os.PathLike[str], *, strict: bool = False, problems: LogProblems | None = None
) -> Iterator[dict[str, Any]]:
    """Rows of a JSONL production log, one at a time (blank lines skipped); for logs too big for a list.

    A line that is not a JSON object is skipped, logged and recorded in ``problems`` (file, line, reason);
    with ``strict=True`` it raises :class:`ProductionLogError` naming the file and line instead. A last line
    without its newline that does not parse is being written by the app right now: it is left for the next
    read (``problems.incomplete_tail``), in strict mode too.
    """
    path = Path(path)
    if not path.is_file():
        raise ProductionLogError(
            f"production log {path} does not exist; pass the file the app writes (examples/qa_app.py --log)"
        )
    if problems is not None:
        problems.path = str(path)
    with path.open(encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                if not line.endswith("\n"):  # the tail the app is still appending
                    if problems is not None:
                        problems.incomplete_tail = lineno
                    log.info("%s:%d: last line is incomplete; it is read by the next run", path, lineno)
                    return
                why = f"not valid JSON: {exc.msg}"
                if strict:
                    raise ProductionLogError(
                        f"{path}:{lineno}: line {lineno} is {why}; fix or remove that line "
                        "(without --strict it is skipped and counted)"
                    ) from exc
                _skip(path, lineno, why, problems)
                continue
            if not isinstance(row, dict):
                why = f"a JSON {type(row).__name__}, not an object"
                if strict:
                    raise ProductionLogError(
                        f"{path}:{lineno}: line {lineno} is {why}; each line must be one logged call"
                    )
                _skip(path, lineno, why, problems)
                continue
            yield row


def _skip(path: Path, lineno: int, why: str, problems: LogProblems | None) -> None:
    log.warning("%s:%d: skipped a corrupt line (%s)", path, lineno, why)
    if problems is not None:
        problems.skipped.append((lineno, why))


def read_rows(
    path: str | os.PathLike[str], *, strict: bool = False, problems: LogProblems | None = None
) -> list[dict[str, Any]]:
    """All rows of a JSONL production log as a list (see :func:`iter_rows`)."""
    return list(iter_rows(path, strict=strict, problems=problems))


def row_attributes(row: Mapping[str, Any]) -> dict[str, Any]:
    """Span attributes that make the Phoenix reader give back ``row``'s figures: set them on the request's root
    span (``chain.set_attributes(row_attributes(row))``) so that the log and the trace are the same row."""
    out: dict[str, Any] = {}
    for column in _RECORDED:
        value = row.get(column)
        if value is not None and not (isinstance(value, float) and not math.isfinite(value)):
            out[ROW_ATTRIBUTE_PREFIX + column] = value
    return out


def user_text(text: str) -> str:
    """The last user message when ``text`` is an LLM span's JSON message list, else ``text``."""
    if not text.lstrip().startswith("["):
        return text
    try:
        messages = json.loads(text)
    except json.JSONDecodeError:
        return text
    if isinstance(messages, list):
        for m in reversed(messages):
            if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str):
                return str(m["content"])
    return text


def row_from_span(span: Mapping[str, Any]) -> dict[str, Any]:
    """The production-log row of one request's root span dict (``context``, ``start_time``, ``end_time``,
    ``attributes``).

    Each figure comes from what the app recorded on the span (:func:`row_attributes`), else from the span's
    own OpenInference / ``llm.*`` attributes (a root that is an LLM span), else it is None. ``latency_ms`` falls
    back to ``end_time - start_time`` when neither gives one; ``prompt`` is the user's input, not a templated
    message list.
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
    for column in _RECORDED:  # the app's own figures win over what the span measured
        recorded = attrs.get(ROW_ATTRIBUTE_PREFIX + column)
        if recorded is not None:
            row[column] = recorded
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
    if isinstance(row["prompt"], str):
        row["prompt"] = user_text(row["prompt"])
    return row


def rows_from_spans(spans: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Production-log rows of span dicts: one per request, from each trace's root span.

    A root that is not itself an LLM span and did not record the call's figures (:func:`row_attributes`) takes
    them from the trace's LLM spans among ``spans``: the model of the last call, tokens and cost summed, and
    latency, time to first token and time per output token when the request made exactly one call.
    """
    spans = list(spans)
    roots = [s for s in spans if _missing_to_none(s.get("parent_id")) in (None, "")]
    root_ids = {id(s) for s in roots}
    calls: dict[str, list[Mapping[str, Any]]] = {}
    for span in spans:
        if id(span) not in root_ids and str(span.get("span_kind") or "").upper() == "LLM":
            calls.setdefault(str((span.get("context") or {}).get("trace_id")), []).append(span)
    rows = []
    for root in roots:
        row = row_from_span(root)
        mine = calls.get(str((root.get("context") or {}).get("trace_id")), [])
        if mine and not _recorded(root):
            _fill_from_calls(row, sorted(mine, key=lambda s: str(s.get("start_time") or "")))
        rows.append(row)
    return rows


def _recorded(span: Mapping[str, Any]) -> bool:
    attrs = span.get("attributes") or {}
    return str(span.get("span_kind") or "").upper() == "LLM" or any(
        isinstance(k, str) and k.startswith(ROW_ATTRIBUTE_PREFIX) for k in attrs)


def _fill_from_calls(row: dict[str, Any], calls: list[Mapping[str, Any]]) -> None:
    """Fill a request's row from its LLM calls (the root recorded none of its own): text and metadata the root
    lacks, the model, tokens and cost, and the timings of a single call."""
    rows = [row_from_span(c) for c in calls]
    if row["prompt"] is None:  # a root that recorded no input or output of its own: its calls' (the user's text)
        row["prompt"] = rows[0]["prompt"]
    if row["response"] is None:
        row["response"] = rows[-1]["response"]
    for column in ("topic", "language", "session_id", "user_id", "judge_score", "label"):
        if row[column] is None:
            row[column] = rows[-1][column]
    row["model"] = rows[-1]["model"]
    for column in ("prompt_tokens", "completion_tokens", "cost_usd"):
        values = [r[column] for r in rows]
        row[column] = None if any(v is None for v in values) else sum(values)
    if len(rows) == 1:
        for column in ("latency_ms", "ttft_ms", "tpot_ms"):
            row[column] = rows[0][column]
    else:  # several calls: the request's own wall time stays; no single first token or per-token time
        row["ttft_ms"] = row["tpot_ms"] = None


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
    """Production-log rows of the requests (root spans) of a Phoenix ``project`` that start in the time range.

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
        spans = list(client.spans.get_spans(
            project_identifier=project,
            parent_id="null",  # root spans only: one per request
            start_time=start_time,
            end_time=end_time,
            limit=limit,
            timeout=timeout,
        ))
        # requests whose root recorded no figures of its own take them from their LLM calls
        bare = [str((s.get("context") or {}).get("trace_id")) for s in spans if not _recorded(s)]
        for i in range(0, len(bare), 100):
            spans += client.spans.get_spans(project_identifier=project, trace_ids=bare[i : i + 100],
                                            span_kind="LLM", limit=100_000, timeout=timeout)
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
