"""Reading Phoenix in time windows: every span once, whatever order Phoenix returns them in."""

from __future__ import annotations

import random
from datetime import timedelta
from itertools import pairwise
from typing import Any

from monitor_helpers import NOW

from monitor.sources import PhoenixSource


class FakeSpans:
    """``client.spans.get_spans`` over a fixed set of LLM spans: time filter, limit, shuffled order."""

    def __init__(self, n: int, span: timedelta, seed: int = 0) -> None:
        rng = random.Random(seed)
        self.rows = []
        for i in range(n):
            t = NOW - span + span * rng.random()
            self.rows.append({"context": {"trace_id": f"{i:032x}", "span_id": f"{i + 1:016x}"},
                              "span_kind": "LLM", "start_time": t.isoformat(), "end_time": t.isoformat(),
                              "attributes": {"input.value": f"q{i}", "output.value": f"a{i}"}})
        self.reads = 0
        self.rng = rng

    @property
    def spans(self) -> FakeSpans:
        return self

    def get_spans(self, *, project_identifier: str, parent_id: str, start_time: Any, end_time: Any, limit: int,
                  timeout: int) -> list[dict[str, Any]]:
        self.reads += 1
        found = [r for r in self.rows if start_time.isoformat() <= r["start_time"] < end_time.isoformat()]
        self.rng.shuffle(found)  # Phoenix orders by insertion, not by time
        return found[:limit]


def test_every_span_is_read_once_in_time_order_with_few_wasted_reads():
    fake = FakeSpans(5000, timedelta(hours=30))
    source = PhoenixSource("app", None, page_limit=200, client=fake)
    pages = list(source.pages(NOW - timedelta(days=2), NOW))
    keys = [r.key for p in pages for r in p.rows]
    assert sorted(keys) == sorted(r["context"]["span_id"] for r in fake.rows) and len(set(keys)) == len(keys)
    assert all(a.end == b.start for a, b in pairwise(pages))  # no gaps
    stamps = [r.timestamp for p in pages for r in p.rows]
    assert stamps == sorted(stamps)
    assert fake.reads <= 2 * len(pages) and len(pages) <= 5000 / 200 * 3  # windows aim at half a page


class DownPhoenix:
    """A fake Phoenix that refuses every connection; counts the attempts."""

    def __init__(self) -> None:
        self.reads = 0

    @property
    def spans(self) -> DownPhoenix:
        return self

    def get_spans(self, **kw: Any) -> list[dict[str, Any]]:
        import httpx

        self.reads += 1
        raise httpx.ConnectError("connection refused", request=httpx.Request("GET", "http://127.0.0.1:1/v1/spans"))


def test_phoenix_found_down_once_is_not_retried_again_in_the_same_run():
    import pytest

    from monitor.errors import SourceError

    fake, waits = DownPhoenix(), []
    source = PhoenixSource("app", None, client=fake, retry_budget_s=2.0, sleep=waits.append)
    clock = iter(range(100))
    from monitor import sources

    real = sources.time.monotonic
    sources.time.monotonic = lambda: float(next(clock))  # each read "takes" a second of the budget
    try:
        with pytest.raises(SourceError, match="retry budget"):
            list(source.pages(NOW - timedelta(hours=1), NOW))
        first = fake.reads
        assert first >= 2 and waits  # the first step spent its budget retrying
        for _ in range(2):  # the drift and queue steps of the same run
            with pytest.raises(SourceError, match="found down earlier in this run"):
                list(source.pages(NOW - timedelta(hours=1), NOW))
        assert fake.reads == first
    finally:
        sources.time.monotonic = real


def test_a_corrupt_log_line_is_counted_and_named_and_strict_stops(tmp_path):
    import json

    import pytest

    from monitor.errors import SourceError
    from monitor.sources import LogSource

    t = NOW - timedelta(minutes=5)
    good = {"timestamp": t.isoformat(), "prompt": "q", "response": "a"}
    log = tmp_path / "prod.jsonl"
    log.write_text(json.dumps(good) + "\n{oops\n" + json.dumps(good) + "\n" + '{"timestamp": "half', encoding="utf-8")
    [page] = LogSource(str(log)).pages(NOW - timedelta(hours=1), NOW)
    assert len(page.rows) == 2 and page.malformed == 1
    [(why, n)] = page.reasons.items()
    assert why.startswith("corrupt log lines: line 2 (not valid JSON") and n == 1
    with pytest.raises(SourceError, match="prod.jsonl:2"):
        list(LogSource(str(log), strict=True).pages(NOW - timedelta(hours=1), NOW))
