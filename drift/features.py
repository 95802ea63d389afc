"""LLM feature extraction from logged calls: the example app's JSONL rows or Phoenix span frames.

Both sources are first mapped to the *log frame* (one row per LLM call, the JSONL row format), then
:func:`llm_features` turns a log frame into drift features. Missing optional fields become NaN.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np

from .errors import InputFormatError, SchemaError
from .schema import Schema

logger = logging.getLogger(__name__)

#: The JSONL row the example app writes (one LLM call per line).
LOG_FIELDS: dict[str, str] = {
    "timestamp": "time", "prompt": "text", "response": "text", "model": "category", "topic": "category",
    "language": "category", "latency_ms": "float", "ttft_ms": "float", "tpot_ms": "float",
    "prompt_tokens": "float", "completion_tokens": "float", "cost_usd": "float", "judge_score": "float",
    "label": "float", "session_id": "id", "user_id": "id", "trace_id": "id", "span_id": "id",
}

#: OpenInference attribute (as a Phoenix span-frame column, without the ``attributes.`` prefix) ->
#: log field. ``llm.latency_ms`` etc. are written by this project's tracing package.
SPAN_ATTRIBUTES: dict[str, str] = {
    "input.value": "prompt", "output.value": "response", "llm.model_name": "model",
    "llm.token_count.prompt": "prompt_tokens", "llm.token_count.completion": "completion_tokens",
    "llm.token_count.total": "total_tokens", "llm.latency_ms": "latency_ms", "llm.ttft_ms": "ttft_ms",
    "llm.tpot_ms": "tpot_ms", "llm.cost_usd": "cost_usd", "session.id": "session_id", "user.id": "user_id",
}

NUMERIC_FEATURES = ("prompt_chars", "response_chars", "prompt_tokens", "completion_tokens", "total_tokens",
                    "latency_ms", "ttft_ms", "tpot_ms", "cost_usd", "judge_score")
CATEGORICAL_FEATURES = ("model", "topic", "language")


def is_log_frame(frame: Any) -> bool:
    """True when ``frame`` looks like logged LLM calls (has prompt and response columns)."""
    return {"prompt", "response"} <= set(frame.columns)


def llm_features(log: Any) -> Any:
    """Drift features from a log frame: prompt/response characters and tokens, latency, TTFT, TPOT,
    cost, judge score (numeric); model, topic, language (categorical); plus ``timestamp`` and
    ``label`` passed through for windows and concept drift."""
    import pandas as pd

    if not is_log_frame(log):
        raise SchemaError(f"logged LLM calls need 'prompt' and 'response' columns; got {list(log.columns)[:20]}")
    out = pd.DataFrame(index=log.index)
    if "timestamp" in log:
        out["timestamp"] = parse_timestamps(log["timestamp"])
    out["prompt_chars"] = log["prompt"].map(_length).astype("float64")
    out["response_chars"] = log["response"].map(_length).astype("float64")
    for col in ("prompt_tokens", "completion_tokens", "latency_ms", "ttft_ms", "tpot_ms", "cost_usd", "judge_score"):
        out[col] = _numeric(log, col)
    out["total_tokens"] = _numeric(log, "total_tokens") if "total_tokens" in log else (
        out["prompt_tokens"] + out["completion_tokens"])
    for col in CATEGORICAL_FEATURES:
        out[col] = log[col].astype("object").where(log[col].notna(), None) if col in log else None
    out["label"] = _numeric(log, "label")
    for col in ("prompt", "response", "trace_id", "span_id"):
        if col in log:
            out[col] = log[col]
    return out


def feature_schema(features: Any) -> Schema:
    """The default schema of :func:`llm_features` output: every numeric and categorical feature that
    has at least one value (all-missing ones are kept so the report can say they are empty)."""
    numeric = tuple(c for c in NUMERIC_FEATURES if c in features.columns)
    categorical = tuple(c for c in CATEGORICAL_FEATURES if c in features.columns)
    embedding = tuple(c for c in ("prompt_embedding", "response_embedding") if c in features.columns)
    return Schema(numeric, categorical, embedding)


def _length(v: Any) -> float:
    return float(len(v)) if isinstance(v, str) else float("nan")


def _numeric(frame: Any, col: str) -> Any:
    import pandas as pd

    if col not in frame:
        return pd.Series(np.nan, index=frame.index, dtype="float64")
    out = pd.to_numeric(frame[col], errors="coerce")
    bad = out.isna() & frame[col].notna()
    if bad.any():
        raise SchemaError(f"column {col!r} must be numeric but holds {frame[col][bad].iloc[0]!r} "
                          f"(row {frame.index[bad][0]}); fix the logger or drop the column")
    return out.astype("float64")


def parse_timestamps(values: Any) -> Any:
    """Parse ISO 8601 strings (or datetimes) to UTC timestamps; a bad value raises
    :class:`InputFormatError` naming it."""
    import pandas as pd

    try:
        return pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise InputFormatError(f"column 'timestamp' must hold ISO 8601 times such as 2026-01-31T12:00:00Z: {exc}") from exc


def spans_to_log(spans: Any, *, llm_only: bool = True) -> Any:
    """Map a Phoenix span frame (``Client().spans.get_spans_dataframe()`` columns such as
    ``attributes.llm.token_count.prompt``, ``start_time``, ``context.trace_id``) to a log frame.

    ``latency_ms`` falls back to ``end_time - start_time`` when ``llm.latency_ms`` is absent;
    ``topic``/``language`` are read from the OpenInference ``metadata`` attribute (a JSON object).
    """
    import pandas as pd

    frame = spans
    if llm_only and "span_kind" in frame:
        frame = frame[frame["span_kind"].astype(str).str.upper() == "LLM"]
    out = pd.DataFrame(index=frame.index)

    def col(attr: str) -> Any:
        for name in (f"attributes.{attr}", attr):
            if name in frame:
                return frame[name]
        return pd.Series(None, index=frame.index, dtype="object")

    for attr, field in SPAN_ATTRIBUTES.items():
        out[field] = col(attr)
    for field in ("prompt_tokens", "completion_tokens", "total_tokens", "latency_ms", "ttft_ms", "tpot_ms", "cost_usd"):
        out[field] = pd.to_numeric(out[field], errors="coerce").astype("float64")
    if "start_time" in frame:
        start = pd.to_datetime(frame["start_time"], utc=True)
        out["timestamp"] = start
        if "end_time" in frame:
            wall = (pd.to_datetime(frame["end_time"], utc=True) - start).dt.total_seconds() * 1000.0
            out["latency_ms"] = out["latency_ms"].fillna(wall)
    meta = col("metadata").map(_as_dict)
    for key in ("topic", "language", "judge_score", "label"):
        out[key] = meta.map(lambda m, k=key: m.get(k))
    out["judge_score"] = pd.to_numeric(out["judge_score"], errors="coerce")
    out["label"] = pd.to_numeric(out["label"], errors="coerce")
    for src, dst in (("context.trace_id", "trace_id"), ("context.span_id", "span_id")):
        out[dst] = frame.get(src)
    return out.reset_index(drop=True)


def _as_dict(v: Any) -> dict[str, Any]:
    if isinstance(v, dict):
        return v
    if isinstance(v, str) and v.strip().startswith("{"):
        try:
            parsed = json.loads(v)
        except json.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {}
