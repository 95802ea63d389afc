"""Reading logged production data: Parquet, JSONL, CSV, pandas frames and Phoenix spans.

:func:`load_frame` returns a pandas DataFrame; :func:`prepare` turns logged LLM calls (JSONL rows
or Phoenix spans) into drift features and leaves other tables as they are.
"""

from __future__ import annotations

import json
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
    ``.jsonl``/``.ndjson``, ``.csv``, or ``phoenix://HOST:PORT/PROJECT?limit=N`` for spans."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source
    text = os.fspath(source)
    if text.startswith("phoenix://"):
        from .phoenix import load_phoenix_spans

        url = urlparse(text)
        query = parse_qs(url.query)
        limit = int(query.get("limit", ["100000"])[0])
        return load_phoenix_spans(f"http://{url.netloc}", url.path.strip("/") or "default", limit=limit)
    path = Path(text)
    if not path.exists():
        raise InputFormatError(f"input {text!r} does not exist; pass a Parquet, JSONL or CSV file")
    suffix = path.suffix.lower()
    if path.is_dir() or suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    raise InputFormatError(f"cannot read {text!r}: unknown extension {suffix!r}; use .parquet, .jsonl or .csv")


def read_jsonl(path: str | os.PathLike[str]) -> Any:
    """Read JSON Lines; a malformed line raises :class:`InputFormatError` with its line number."""
    import pandas as pd

    try:
        frame = pd.read_json(path, lines=True, dtype=False, convert_dates=False)
    except ValueError:
        with open(path, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputFormatError(f"{os.fspath(path)} line {lineno} is not valid JSON ({exc.msg}); "
                                           f"fix or remove that line") from exc
                if not isinstance(row, dict):
                    raise InputFormatError(f"{os.fspath(path)} line {lineno} is a {type(row).__name__}, "
                                           f"not a JSON object; each line must be one logged call")
        raise
    return frame


def prepare(frame: Any) -> Any:
    """Feature frame for drift: logged LLM calls become :func:`drift.features.llm_features`; Phoenix
    span frames are mapped first; other tables are returned unchanged (timestamps parsed)."""
    from .features import is_log_frame, llm_features, parse_timestamps, spans_to_log

    if any(str(c).startswith("attributes.") for c in frame.columns):
        frame = spans_to_log(frame)
    if is_log_frame(frame):
        return llm_features(frame)
    if "timestamp" in frame.columns:
        frame = frame.copy()
        frame["timestamp"] = parse_timestamps(frame["timestamp"])
    return frame
