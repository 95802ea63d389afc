"""Reading logged production data: Parquet, JSONL, CSV, pandas frames and Phoenix spans.

The production log (JSONL rows, Phoenix LLM spans) is read and mapped by :mod:`tracing.production_log`;
this module turns its rows into frames.

:func:`load_frame` returns a pandas DataFrame; :func:`prepare` turns logged LLM calls (JSONL rows
or Phoenix spans) into drift features and leaves other tables as they are.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from .errors import InputFormatError

logger = logging.getLogger(__name__)

Source = Any  # str | os.PathLike | pandas.DataFrame


def load_frame(source: Source) -> Any:
    """Load ``source`` as a DataFrame: a DataFrame (returned as is), a ``.parquet`` file or folder,
    ``.jsonl``/``.ndjson``, ``.csv``, or ``phoenix://HOST:PORT/PROJECT?limit=N`` for LLM spans.

    JSONL logs and Phoenix spans are read by :mod:`tracing.production_log`; its errors (a malformed
    line, an unreachable Phoenix) are raised as :class:`InputFormatError` with the same message.
    """
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source
    text = os.fspath(source)
    if text.startswith("phoenix://"):
        return _production_log_frame(text)
    path = Path(text)
    if not path.exists():
        raise InputFormatError(f"input {text!r} does not exist; pass a Parquet, JSONL or CSV file")
    suffix = path.suffix.lower()
    if path.is_dir() or suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".jsonl", ".ndjson"):
        return _production_log_frame(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    raise InputFormatError(f"cannot read {text!r}: unknown extension {suffix!r}; use .parquet, .jsonl or .csv")


def _production_log_frame(source: str | Path) -> Any:
    """The production log at ``source`` (a JSONL path, or a ``phoenix://`` URL) as a frame of log rows."""
    import pandas as pd

    from tracing import production_log  # imported on use: `import drift` stays light
    from tracing.errors import ProductionLogError

    try:
        if isinstance(source, Path):
            problems = production_log.LogProblems()
            frame = pd.DataFrame(production_log.read_rows(source, problems=problems))
            if (note := problems.summary()) is not None:  # skipped lines are named, never silent
                frame.attrs["log_problems"] = note
            return frame
        url = urlparse(source)
        limit = int(parse_qs(url.query).get("limit", ["100000"])[0])
        rows = production_log.rows_from_phoenix(url.path.strip("/") or "default", base_url=f"http://{url.netloc}",
                                                limit=limit)
    except ProductionLogError as exc:  # as a DriftError: the CLI exits 2, callers catch one hierarchy
        raise InputFormatError(str(exc)) from exc
    return pd.DataFrame(rows, columns=list(production_log.LOG_COLUMNS))


def _span_frame_rows(frame: Any) -> Any:
    """Log frame of a Phoenix span frame (``get_spans_dataframe()`` columns ``attributes.*``,
    ``context.*``, ``span_kind``, ``start_time``, ``end_time``), mapped by :mod:`tracing.production_log`."""
    import pandas as pd

    from tracing.production_log import LOG_COLUMNS, rows_from_spans

    spans = []
    for record in frame.to_dict("records"):
        span: dict[str, Any] = {"attributes": {}, "context": {}}
        for col, value in record.items():
            if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
                continue
            head, _, rest = str(col).partition(".")
            if head in ("attributes", "context") and rest:
                span[head][rest] = value
            else:
                span[str(col)] = value
        spans.append(span)
    return pd.DataFrame(rows_from_spans(spans), columns=list(LOG_COLUMNS))


def prepare(frame: Any) -> Any:
    """Feature frame for drift: logged LLM calls become :func:`drift.features.llm_features`; Phoenix
    span frames are mapped first; other tables are returned unchanged (timestamps parsed)."""
    from .features import is_log_frame, llm_features, parse_timestamps

    if any(str(c).startswith("attributes.") for c in frame.columns):
        frame = _span_frame_rows(frame)
    if is_log_frame(frame):
        return llm_features(frame)
    if "timestamp" in frame.columns:
        frame = frame.copy()
        frame["timestamp"] = parse_timestamps(frame["timestamp"])
    return frame
