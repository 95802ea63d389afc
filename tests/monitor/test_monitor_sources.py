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

    def get_spans(self, *, project_identifier: str, span_kind: str, start_time: Any, end_time: Any, limit: int,
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
