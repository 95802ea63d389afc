"""Production traffic in time order, page by page: Phoenix requests (root spans) or the production log's rows.

Both are read by :mod:`tracing.production_log` (the one reader of the log and of Phoenix spans); this
module only decides which time range to ask for, retries Phoenix within a budget, and turns rows into
:class:`TraceRow` records, skipping and counting the malformed ones.

A :class:`Page` covers a half-open time range ``[start, end)`` completely: every row whose timestamp
falls in it is in the page. Phoenix is read in time windows that shrink while a read comes back full
(``page_limit`` rows), so no span is lost between pages whatever order Phoenix returns them in.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from monitor.errors import SourceError

__all__ = ["LogSource", "Page", "PhoenixSource", "Source", "TraceRow", "make_source", "trace_rows"]

log = logging.getLogger(__name__)

_HEX32 = re.compile(r"[0-9a-f]{32}")
_HEX16 = re.compile(r"[0-9a-f]{16}")
_MIN_WINDOW = timedelta(milliseconds=1)
_FIRST_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class TraceRow:
    """One production call to judge: its ids, time, the text in and out, and the row's other columns."""

    key: str  # the ledger key: span id, else trace id, else a hash of the row
    trace_id: str  # what sampling hashes (the key when the row has no trace id)
    span_id: str | None  # where the annotation goes (None: the row cannot be annotated)
    timestamp: datetime  # UTC
    prompt: str
    response: str
    columns: Mapping[str, Any] = field(repr=False)  # the whole row, for filters and slices

    def value(self, column: str) -> Any:
        return self.columns.get(column)


@dataclass(frozen=True)
class Page:
    """Every row with ``start <= timestamp < end``; ``malformed`` rows in that range were skipped."""

    start: datetime
    end: datetime
    rows: tuple[TraceRow, ...]
    malformed: int
    reasons: Mapping[str, int] = field(default_factory=dict)


class Source(Protocol):
    """Production traffic between two times, as complete pages in time order."""

    name: str

    def pages(self, since: datetime, until: datetime) -> Generator[Page, None, None]:
        """Pages covering ``[since, until)`` without gaps, oldest first."""
        ...


def _as_utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, str) and value:
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            return None
    elif hasattr(value, "to_pydatetime"):  # pandas.Timestamp from a Parquet log
        stamp = value.to_pydatetime()
    else:
        return None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def trace_row(row: Mapping[str, Any], stamp: datetime) -> TraceRow | str:
    """The :class:`TraceRow` of a production-log row logged at ``stamp``, or why it is malformed."""
    prompt, response = row.get("prompt"), row.get("response")
    if not isinstance(prompt, str) or not prompt.strip():
        return "no prompt text"
    if not isinstance(response, str):
        return "no response text"
    trace_id = None if _missing(row.get("trace_id")) else row.get("trace_id")
    span_id = None if _missing(row.get("span_id")) else row.get("span_id")
    if trace_id is not None and not (isinstance(trace_id, str) and _HEX32.fullmatch(trace_id)):
        return "trace_id is not 32 hex digits"
    if span_id is not None and not (isinstance(span_id, str) and _HEX16.fullmatch(span_id)):
        return "span_id is not 16 hex digits"
    if trace_id is None:
        # tracing was off: the row is still judged, sampled and keyed by a hash of what it says
        digest = hashlib.sha256(f"{stamp.isoformat()}\x00{prompt}\x00{response}".encode()).hexdigest()
        trace_id = "row-" + digest[:28]
    return TraceRow(span_id or trace_id, trace_id, span_id, stamp, prompt, response, row)


def trace_rows(rows: Sequence[Mapping[str, Any]], start: datetime, end: datetime) -> Page:
    """The page of ``rows`` in ``[start, end)``, sorted by time then key; malformed rows counted by reason.

    A row without a usable timestamp belongs to no range: it is counted in every page that reads it.
    """
    good: list[TraceRow] = []
    reasons: dict[str, int] = {}
    for row in rows:
        stamp = _as_utc(row.get("timestamp"))
        if stamp is not None and not start <= stamp < end:
            continue
        got = trace_row(row, stamp) if stamp is not None else "no valid timestamp"
        if isinstance(got, str):
            reasons[got] = reasons.get(got, 0) + 1
        else:
            good.append(got)
    good.sort(key=lambda r: (r.timestamp, r.key))
    return Page(start, end, tuple(good), sum(reasons.values()), reasons)


class LogSource:
    """The production log: JSONL (read by ``tracing.production_log``) or Parquet (``drift.load_frame``)."""

    def __init__(self, path: str, *, strict: bool = False) -> None:
        self.path = path
        self.strict = strict
        self.name = f"log:{path}"

    def _rows(self) -> tuple[list[Mapping[str, Any]], Any]:
        """The log's rows, and the corrupt lines skipped (a ``tracing.production_log.LogProblems``, or None)."""
        from tracing.errors import ProductionLogError

        if self.path.endswith((".jsonl", ".ndjson")):
            from tracing import production_log

            problems = production_log.LogProblems()
            try:
                return list(production_log.iter_rows(self.path, strict=self.strict, problems=problems)), problems
            except ProductionLogError as exc:
                raise SourceError(str(exc)) from exc
        from drift import DriftError, load_frame

        try:
            frame = load_frame(self.path)
        except (DriftError, OSError) as exc:
            raise SourceError(f"cannot read the production log {self.path}: {exc}") from exc
        return [dict(r) for r in frame.to_dict("records")], None

    def pages(self, since: datetime, until: datetime) -> Generator[Page, None, None]:
        if since >= until:
            return
        rows, problems = self._rows()
        page = trace_rows(rows, since, until)
        if problems is not None and problems.skipped:  # corrupt lines: counted and named (the first five), not fatal
            named = ", ".join(f"line {n} ({why})" for n, why in problems.skipped[:5])
            more = f" and {len(problems.skipped) - 5} more" if len(problems.skipped) > 5 else ""
            reasons = {**page.reasons, f"corrupt log lines: {named}{more}": len(problems.skipped)}
            page = Page(page.start, page.end, page.rows, page.malformed + len(problems.skipped), reasons)
        yield page


class PhoenixSource:
    """Requests (root spans) of a Phoenix project, read in time windows (``production_log.rows_from_phoenix``).

    A read that fails (Phoenix down, slow beyond ``timeout_s``, 5xx) is retried with backoff until
    ``retry_budget_s`` is spent, then raises :class:`SourceError`. Phoenix found down once stays down for the
    rest of the run: every later read (the drift report's, the queue's) fails at once with the same error
    instead of spending the budget again.
    """

    def __init__(self, project: str, base_url: str | None, *, page_limit: int = 1000, timeout_s: float = 10.0,
                 retry_budget_s: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                 client: Any = None) -> None:
        self.project = project
        self.base_url = base_url
        self.page_limit = page_limit
        self.timeout_s = timeout_s
        self.retry_budget_s = retry_budget_s
        self.name = f"phoenix:{base_url or 'default'}/{project}"
        self._sleep = sleep
        self._given = client  # a phoenix.client.Client (or a stand-in), used as is
        self._client: Any = None
        self._http: Any = None
        self.reads = 0
        self.retries = 0
        self.down: SourceError | None = None

    def _phoenix_client(self) -> Any:
        """One Phoenix client for the whole read, whose every request (the server-version check too) gives up
        after ``timeout_s``: the reader's default client waits much longer on a stalled Phoenix."""
        if self._given is not None:
            return self._given
        if self._client is None and self.base_url:
            try:
                import httpx
                from phoenix.client import Client
            except ImportError:
                return None  # the reader raises the "install arize-phoenix-client" error
            headers = {"authorization": f"Bearer {key}"} if (key := os.environ.get("PHOENIX_API_KEY")) else {}
            self._http = httpx.Client(base_url=self.base_url, timeout=self.timeout_s, headers=headers)
            self._client = Client(base_url=self.base_url, http_client=self._http)
        return self._client

    def _fetch(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        from tracing import production_log
        from tracing.errors import ProductionLogError

        if self.down is not None:
            raise SourceError(f"{self.down} (found down earlier in this run; not retried)")
        deadline = time.monotonic() + self.retry_budget_s
        delay = 0.5
        while True:
            self.reads += 1
            try:
                return production_log.rows_from_phoenix(
                    self.project, base_url=self.base_url, client=self._phoenix_client(), start_time=start, end_time=end,
                    limit=self.page_limit, timeout=max(1, math.ceil(self.timeout_s)),
                )
            except ProductionLogError as exc:
                retryable, status = _phoenix_failure(exc)
                if status == 404:  # the project has no spans yet: nothing to judge
                    return []
                left = deadline - time.monotonic()
                if not retryable or left <= 0:
                    spent = self.retry_budget_s - max(0.0, left)
                    error = SourceError(f"{exc} (gave up after {self.reads} reads, {spent:.0f}s of the "
                                        f"{self.retry_budget_s:g}s retry budget)")
                    if retryable:
                        self.down = error
                    raise error from exc
                wait = min(delay, left)
                log.warning("Phoenix read failed, retrying in %.1fs: %s", wait, exc)
                self.retries += 1
                self._sleep(wait)
                delay = min(delay * 2, 30.0)

    def pages(self, since: datetime, until: datetime) -> Generator[Page, None, None]:
        try:
            yield from self._pages(since, until)
        finally:
            if self._client is not None:
                self._http.close()
                self._client = None

    def _pages(self, since: datetime, until: datetime) -> Iterator[Page]:
        # A full read is thrown away (it may have missed spans), so windows are sized from the density seen:
        # each next window aims at half a page; a full one shrinks fourfold. The first is at most an hour.
        start, step = since, min(until - since, _FIRST_WINDOW)
        while start < until:
            end = min(until, start + step)
            rows = self._fetch(start, end)
            if len(rows) >= self.page_limit:
                if end - start <= _MIN_WINDOW:
                    raise SourceError(f"more than {self.page_limit} spans of {self.project!r} start within "
                                      f"{_MIN_WINDOW} at {start.isoformat()}; raise [source] page_limit")
                step = max(_MIN_WINDOW, (end - start) / 4)
                continue
            yield trace_rows(rows, start, end)
            aim = (end - start) * (self.page_limit / 2) / max(1, len(rows))
            start, step = end, max(_MIN_WINDOW, min(aim, (end - start) * 8))


def _phoenix_failure(exc: Exception) -> tuple[bool, int | None]:
    """(worth retrying, HTTP status) of a failed Phoenix read, from the exception it was raised from."""
    import httpx

    cause = exc.__cause__
    if isinstance(cause, httpx.HTTPStatusError):
        status = cause.response.status_code
        return status >= 500 or status in (408, 429), status
    if isinstance(cause, httpx.HTTPError):  # refused, reset, timed out
        return True, None
    return False, None


def make_source(kind: str, *, project: str | None = None, url: str | None = None, path: str | None = None,
                page_limit: int = 1000, timeout_s: float = 10.0, retry_budget_s: float = 60.0,
                strict: bool = False) -> Source:
    """The source a ``[source]`` table describes."""
    if kind == "phoenix":
        assert project is not None
        return PhoenixSource(project, url, page_limit=page_limit, timeout_s=timeout_s, retry_budget_s=retry_budget_s)
    assert path is not None
    return LogSource(path, strict=strict)
