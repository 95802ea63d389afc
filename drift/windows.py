"""Windows over time: split logged data daily, hourly or every N rows, score each window against
the reference, and summarise operations (latency percentiles, throughput) per window."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError, EmptyDataError, SchemaError
from .results import DatasetDrift

logger = logging.getLogger(__name__)

_UNITS = {"d": "D", "h": "h", "min": "min", "m": "min", "s": "s"}


@dataclass(frozen=True)
class WindowSpec:
    """``kind="time"`` with a pandas frequency (``"1D"``, ``"1h"``) or ``kind="rows"`` with ``rows``."""

    kind: str
    freq: str | None = None
    rows: int | None = None


def parse_window(spec: str | int) -> WindowSpec:
    """Parse ``"1d"``, ``"6h"``, ``"15min"`` (time windows) or ``"5000"``/``5000`` (row windows)."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        n = int(spec)
        if n < 1:
            raise ConfigError(f"row window must be >= 1 rows, got {spec!r}")
        return WindowSpec("rows", rows=n)
    m = re.fullmatch(r"\s*(\d+)\s*(d|h|min|m|s)\s*", str(spec).lower())
    if not m or int(m.group(1)) < 1:
        raise ConfigError(f"window {spec!r} not understood; use e.g. '1d', '1h', '15min' or a row count like '5000'")
    return WindowSpec("time", freq=f"{int(m.group(1))}{_UNITS[m.group(2)]}")


@dataclass(frozen=True)
class Window:
    """One slice of the current data; ``start``/``end`` are set for time windows and row windows
    with timestamps. ``fixed_length`` is true for time windows, whose length is ``end - start`` whatever
    was logged; for other windows ``start``/``end`` are the first and last logged timestamps."""

    label: str
    start: Any
    end: Any
    frame: Any
    fixed_length: bool = False

    @property
    def n_rows(self) -> int:
        """Rows in the window."""
        return len(self.frame)


def split_windows(frame: Any, window: str | int | WindowSpec, *, time_column: str = "timestamp") -> list[Window]:
    """Split ``frame`` into consecutive windows. Time windows between the first and last timestamp
    are all returned, including empty ones, so gaps in logging are visible."""
    import pandas as pd

    spec = window if isinstance(window, WindowSpec) else parse_window(window)
    has_time = time_column in frame.columns
    if spec.kind == "rows":
        assert spec.rows is not None
        out = []
        for i, start in enumerate(range(0, len(frame), spec.rows)):
            part = frame.iloc[start:start + spec.rows]
            t0 = part[time_column].min() if has_time else None
            t1 = part[time_column].max() if has_time else None
            out.append(Window(f"rows {start}-{start + len(part) - 1}", t0, t1, part))
        return out
    if not has_time:
        raise SchemaError(f"time window {window!r} needs a {time_column!r} column; "
                          f"log timestamps or use a row window such as '1000'")
    ts = pd.to_datetime(frame[time_column], utc=True)
    if ts.isna().all():
        raise EmptyDataError(f"column {time_column!r} has no valid timestamps; cannot form time windows")
    assert spec.freq is not None
    keys = ts.dt.floor(spec.freq)
    starts = pd.date_range(keys.min(), keys.max(), freq=spec.freq)
    step = pd.Timedelta(spec.freq)
    groups = {k: g for k, g in frame.groupby(keys, sort=True)}
    return [Window(s.isoformat(), s, s + step, groups.get(s, frame.iloc[0:0]), fixed_length=True) for s in starts]


@dataclass(frozen=True)
class WindowDrift:
    """Drift of one window; ``result`` is ``None`` when the window was empty or could not be scored."""

    label: str
    start: Any
    end: Any
    n_rows: int
    result: DatasetDrift | None
    reason: str | None = None


def drift_over_time(detector: Any, frame: Any, window: str | int | WindowSpec, *,
                    time_column: str = "timestamp") -> list[WindowDrift]:
    """Score every window of ``frame`` with a fitted :class:`drift.DatasetDriftDetector`.

    The windows are one family (:meth:`~drift.DatasetDriftDetector.score_series`): Holm's correction runs
    over every feature of every window, so under no drift the chance that any window alarms is at most
    the decision's ``alpha``, however many windows there are.
    """
    wins = split_windows(frame, window, time_column=time_column)
    scored = iter(detector.score_series([w.frame for w in wins if w.n_rows > 0]))
    return [WindowDrift(w.label, w.start, w.end, w.n_rows, next(scored)) if w.n_rows > 0 else
            WindowDrift(w.label, w.start, w.end, 0, None, "empty window (no rows logged)") for w in wins]


@dataclass(frozen=True)
class OpsWindow:
    """Operations per window: latency/TTFT/TPOT percentiles (ms) and throughput."""

    label: str
    n_requests: int
    duration_s: float
    requests_per_s: float
    tokens_per_s: float
    latency_p50: float
    latency_p95: float
    ttft_p50: float
    ttft_p95: float
    tpot_p50: float
    tpot_p95: float


def _pct(frame: Any, col: str, q: float) -> float:
    if col not in frame.columns:
        return float("nan")
    v = frame[col].to_numpy(dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.percentile(v, q)) if v.size else float("nan")


#: A rate over a logged span shorter than this is not reported: a burst of cached or batched calls logged
#: within milliseconds says nothing about traffic (it gave "641 req/s" for a cached demo window).
MIN_RATE_SPAN_S = 1.0


def ops_panel(windows: list[Window], *, time_column: str = "timestamp") -> list[OpsWindow]:
    """p50/p95 of ``latency_ms``, ``ttft_ms``, ``tpot_ms`` and requests/s, completion tokens/s per
    window. A time window's rate is its requests over its length; a window without a fixed length (the
    whole current log, row windows) uses the span from its first to its last request, ``(n - 1) / span``,
    and reports no rate (NaN) when that span is under :data:`MIN_RATE_SPAN_S`."""
    import pandas as pd

    out = []
    for w in windows:
        f = w.frame
        if isinstance(w.start, pd.Timestamp) and isinstance(w.end, pd.Timestamp):
            dur = float((w.end - w.start).total_seconds())
        else:
            dur = float("nan")
        tokens = float(np.nansum(f["completion_tokens"].to_numpy(dtype=np.float64))) if "completion_tokens" in f else float("nan")
        if not w.fixed_length:  # rate over the logged span
            n_intervals = max(len(f) - 1, 0)
            per_req = tokens / len(f) if len(f) else float("nan")
            rps = n_intervals / dur if dur >= MIN_RATE_SPAN_S else float("nan")
            tps = rps * per_req
        else:
            rps = len(f) / dur if dur > 0 else float("nan")
            tps = tokens / dur if dur > 0 else float("nan")
        out.append(OpsWindow(w.label, len(f), dur, rps, tps,
                             _pct(f, "latency_ms", 50), _pct(f, "latency_ms", 95), _pct(f, "ttft_ms", 50),
                             _pct(f, "ttft_ms", 95), _pct(f, "tpot_ms", 50), _pct(f, "tpot_ms", 95)))
    return out
