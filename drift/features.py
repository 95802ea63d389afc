"""LLM feature extraction from logged calls.

Both sources, the example app's JSONL rows and Phoenix LLM spans, arrive as the *log frame* (one row
per LLM call, the columns of ``tracing.production_log.LOG_COLUMNS``; see :mod:`drift.io`), then
:func:`llm_features` turns a log frame into drift features. Missing optional fields become NaN.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from .errors import InputFormatError, SchemaError
from .schema import Schema

logger = logging.getLogger(__name__)

NUMERIC_FEATURES = ("prompt_chars", "response_chars", "prompt_tokens", "completion_tokens", "total_tokens",
                    "latency_ms", "ttft_ms", "tpot_ms", "cost_usd", "judge_score")
CATEGORICAL_FEATURES = ("model", "topic", "language")
#: categorical features present only when the caller adds them: each input's topic from the monitor's topic model
OPTIONAL_CATEGORICAL = ("input_topic",)


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
    for col in OPTIONAL_CATEGORICAL:
        if col in log:
            out[col] = log[col].astype("object").where(log[col].notna(), None)
    out["label"] = _numeric(log, "label")
    for col in ("prompt", "response", "trace_id", "span_id"):
        if col in log:
            out[col] = log[col]
    return out


def feature_schema(features: Any) -> Schema:
    """The default schema of :func:`llm_features` output: every numeric and categorical feature that
    has at least one value (all-missing ones are kept so the report can say they are empty)."""
    numeric = tuple(c for c in NUMERIC_FEATURES if c in features.columns)
    categorical = tuple(c for c in CATEGORICAL_FEATURES + OPTIONAL_CATEGORICAL if c in features.columns)
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
