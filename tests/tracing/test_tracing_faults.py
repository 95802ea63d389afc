"""Collector down, slow or failing: the app keeps working, stays fast, memory stays bounded, drops are counted.

The "slow" and "500" collectors are tiny local HTTP servers started here (fault injection); the
happy path against the real Phoenix is in test_tracing_phoenix.py.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.sdk.trace import TracerProvider

import tracing
from tracing.phoenix_server import free_port

EXPORT_TIMEOUT_S = 0.5


class FaultyCollector(ThreadingHTTPServer):
    """An OTLP endpoint that answers every POST after ``delay_s`` with ``status``."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, status: int, delay_s: float) -> None:
        self.status, self.delay_s, self.requests = status, delay_s, 0
        self.closing = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(handler) -> None:
                handler.rfile.read(int(handler.headers.get("content-length", 0)))
                self.requests += 1
                if self.closing.wait(self.delay_s):
                    return
                handler.send_response(self.status)
                handler.send_header("content-length", "0")
                handler.end_headers()

            def log_message(handler, *args: object) -> None:
                return None

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def collector(request: pytest.FixtureRequest) -> Iterator[FaultyCollector]:
    status, delay = request.param
    server = FaultyCollector(status, delay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.closing.set()
    server.shutdown()
    server.server_close()


def run_app(
    handle: tracing.TracingHandle, calls: int, pause_s: float = 0.0, content: str = "q"
) -> list[float]:
    """The instrumented 'application': one LLM span per call; returns per-call latency in seconds."""
    latencies = []
    for i in range(calls):
        t0 = time.perf_counter()
        with tracing.llm_span(
            provider="p", model="m", messages=[{"role": "user", "content": content}], tracer=handle.tracer
        ) as rec:
            answer = str(i * 2)
            rec.set_output(answer, prompt_tokens=3, completion_tokens=1)
        latencies.append(time.perf_counter() - t0)
        assert answer == str(i * 2)
        if pause_s:
            time.sleep(pause_s)
    return latencies


def make_handle(url: str, queue: int) -> tuple[tracing.TracingHandle, TracerProvider]:
    provider = TracerProvider()
    handle = tracing.setup(
        url,
        "faults",
        tracer_provider=provider,
        exporter_timeout_s=EXPORT_TIMEOUT_S,
        max_queue_size=queue,
        max_export_batch_size=32,
        schedule_delay_s=0.05,
    )
    return handle, provider


def check_bounded_and_counted(
    handle: tracing.TracingHandle, provider: TracerProvider, latencies: list[float]
) -> None:
    # Never held hostage: a call that waited for the exporter would take >= EXPORT_TIMEOUT_S.
    assert max(latencies) < EXPORT_TIMEOUT_S / 2, f"slowest call {max(latencies) * 1000:.1f} ms"
    assert statistics.median(latencies) < 0.005
    assert handle.force_flush(timeout_s=0.2) is False or handle.stats().exported == 0
    t0 = time.perf_counter()
    handle.shutdown(timeout_s=1.0)
    assert time.perf_counter() - t0 < 1.0 + EXPORT_TIMEOUT_S + 1.5, "shutdown not bounded"
    stats = handle.stats()
    assert stats.exported == 0
    assert handle.dropped_spans == stats.dropped == len(latencies), stats  # every span accounted for
    provider.shutdown()


def test_phoenix_down() -> None:
    handle, provider = make_handle(f"http://127.0.0.1:{free_port()}", queue=64)
    latencies = run_app(handle, 2000)
    stats = handle.stats()
    assert stats.dropped_queue_full > 0 and stats.queued_now <= 64
    check_bounded_and_counted(handle, provider, latencies)
    assert handle.stats().dropped_export_failed > 0


@pytest.mark.parametrize("collector", [(200, 3.0)], indirect=True, ids=["slow-3s"])
def test_phoenix_slow(collector: FaultyCollector) -> None:
    handle, provider = make_handle(collector.url, queue=128)
    latencies = run_app(handle, 600, pause_s=0.002)
    assert collector.requests >= 1
    assert handle.stats().dropped_export_failed > 0  # timed out after EXPORT_TIMEOUT_S, not 3 s
    check_bounded_and_counted(handle, provider, latencies)


@pytest.mark.parametrize("collector", [(500, 0.0)], indirect=True, ids=["http-500"])
def test_phoenix_returns_500(collector: FaultyCollector) -> None:
    handle, provider = make_handle(collector.url, queue=128)
    latencies = run_app(handle, 600, pause_s=0.002)
    assert collector.requests >= 2  # the exporter retried the 5xx
    assert handle.stats().dropped_export_failed > 0
    check_bounded_and_counted(handle, provider, latencies)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc to read the RSS")
def test_memory_stays_bounded_while_phoenix_is_down() -> None:
    handle, provider = make_handle(f"http://127.0.0.1:{free_port()}", queue=256)
    big = "x" * 20_000  # 20 KB prompt per span: keeping 3000 spans would take > 60 MB
    run_app(handle, 50, content=big)  # warm caches and allocator before measuring
    before = _rss_bytes()
    run_app(handle, 3000, content=big)
    grown = _rss_bytes() - before
    assert handle.stats().queued_now <= 256
    # Bounded by the queue (256 x 20 KB ~ 5 MB) plus allocator slack, far below the 60 MB of an unbounded queue.
    assert grown < 20 * 1024 * 1024, f"RSS grew by {grown / 1e6:.1f} MB"
    handle.shutdown(timeout_s=1.0)
    assert handle.dropped_spans == 3050
    provider.shutdown()


@pytest.mark.parametrize("collector", [(500, 0.0)], indirect=True, ids=["500-then-200"])
def test_export_recovers_when_the_collector_comes_back(collector: FaultyCollector) -> None:
    handle, provider = make_handle(collector.url, queue=128)
    run_app(handle, 100)
    assert handle.force_flush(timeout_s=5)  # the queue drained, by failing
    failed = handle.stats().dropped_export_failed
    assert failed == 100 and handle.stats().exported == 0
    collector.status = 200
    run_app(handle, 100)
    assert handle.force_flush(timeout_s=5)
    stats = handle.stats()
    assert stats.exported == 100 and stats.dropped_export_failed == failed
    handle.shutdown(timeout_s=1.0)
    provider.shutdown()


@pytest.mark.parametrize("collector", [(200, 3.0)], indirect=True, ids=["slow-3s"])
def test_interpreter_exit_is_bounded_when_phoenix_is_slow(collector: FaultyCollector) -> None:
    """No shutdown() call: the SDK's exit hook flushes, and gives up after ~2 x exporter timeout + 1 s.

    20000 queued spans are 40 batches; flushing them all at 0.5 s each would take 20 s.
    """
    import subprocess
    import sys

    code = f"""
import tracing
handle = tracing.setup({collector.url!r}, "exit", exporter_timeout_s=0.5, max_queue_size=20000)
for i in range(20000):
    with tracing.llm_span(provider="p", model="m") as rec:
        rec.set_output("x", prompt_tokens=1, completion_tokens=1)
print("done", flush=True)
"""
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    took = time.perf_counter() - t0
    assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr[-2000:]
    assert took < 10, f"exit took {took:.1f}s"  # emit ~2 s + flush <= 2.5 s + start-up, on a busy machine
