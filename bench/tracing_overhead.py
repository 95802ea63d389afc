"""Tracing overhead and delivery throughput, against a no-op tracer and hand-written OpenTelemetry.

1. Overhead: median microseconds of one instrumented LLM call (``tracing.llm_span`` with two
   messages, invocation parameters, output and token counts) when
   - ``noop``: no SDK provider is installed (the OpenTelemetry no-op tracer; what judges pay when
     tracing is off),
   - ``tracing``: exported to Phoenix through ``tracing.setup`` (bounded batcher, redaction on),
   - ``raw_otel`` (the peer): the same attributes set by hand on ``start_as_current_span`` with the
     SDK's ``BatchSpanProcessor`` + OTLP exporter to the same Phoenix,
   and ``bare``: the same code with no tracing calls at all. Scenarios are interleaved in rounds
   so machine noise hits them alike.
2. Throughput: spans/second from the first span emitted to the last one stored in Phoenix (counted
   back with arize-phoenix-client), for ``tracing.setup`` and for the SDK peer; none may be lost.

    python bench/tracing_overhead.py --quick --json bench/out/tracing.json
    python bench/tracing_overhead.py --phoenix http://127.0.0.1:6006   # reuse a running server
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from openinference.semconv.trace import SpanAttributes
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer

import tracing
from tracing.phoenix_server import free_port, start_phoenix

MESSAGES = [
    {"role": "system", "content": "You are a strict grader. Reply with a score from 1 to 5."},
    {"role": "user", "content": "Question: which river is the longest? Answer: the Nile. Score the answer."},
]
PARAMS = {"temperature": 0.0, "max_tokens": 8}


def _work() -> str:
    return "4"  # the model call itself is not what is measured


def call_bare() -> None:
    _work()


def call_helper(tracer: Tracer | None) -> None:
    with tracing.llm_span(
        provider="llama.cpp",
        model="gemma-3-270m",
        messages=MESSAGES,
        invocation_parameters=PARAMS,
        tracer=tracer,
    ) as rec:
        text = _work()
        rec.set_output(text, prompt_tokens=42, completion_tokens=1)


def call_raw_otel(tracer: Tracer) -> None:
    """The peer: what a careful engineer writes by hand with the OpenTelemetry API."""
    t0 = time.perf_counter()
    with tracer.start_as_current_span("llm") as span:
        span.set_attributes(
            {
                SpanAttributes.OPENINFERENCE_SPAN_KIND: "LLM",
                SpanAttributes.LLM_PROVIDER: "llama.cpp",
                SpanAttributes.LLM_MODEL_NAME: "gemma-3-270m",
                SpanAttributes.LLM_INVOCATION_PARAMETERS: json.dumps(PARAMS),
                "llm.input_messages.0.message.role": "system",
                "llm.input_messages.0.message.content": MESSAGES[0]["content"],
                "llm.input_messages.1.message.role": "user",
                "llm.input_messages.1.message.content": MESSAGES[1]["content"],
                SpanAttributes.INPUT_VALUE: json.dumps(MESSAGES),
            }
        )
        text = _work()
        span.set_attributes(
            {
                SpanAttributes.OUTPUT_VALUE: text,
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": text,
                SpanAttributes.LLM_TOKEN_COUNT_PROMPT: 42,
                SpanAttributes.LLM_TOKEN_COUNT_COMPLETION: 1,
                SpanAttributes.LLM_TOKEN_COUNT_TOTAL: 43,
                "llm.latency_ms": (time.perf_counter() - t0) * 1000,
            }
        )


def _time_calls(fn: Callable[[], None], n: int) -> list[float]:
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        fn()
        out.append((clock() - t0) / 1000.0)
    return out


def measure_overhead(url: str, calls: int, rounds: int) -> dict[str, Any]:
    """Median µs per call for bare / noop / tracing / raw_otel, interleaved over ``rounds``."""
    ours_provider = TracerProvider()
    ours_project, peer_project = (
        f"bench-overhead-{uuid.uuid4().hex[:6]}",
        f"bench-overhead-peer-{uuid.uuid4().hex[:6]}",
    )
    # Queues hold a whole run: this measures the cost per call, not what a full queue drops.
    handle = tracing.setup(url, ours_project, tracer_provider=ours_provider, max_queue_size=calls + 1000)
    peer_provider = TracerProvider(resource=Resource.create({"openinference.project.name": peer_project}))
    peer_provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=10.0), max_queue_size=calls + 1000
        )
    )
    ours, peer = handle.tracer, peer_provider.get_tracer("bench")
    scenarios: dict[str, Callable[[], None]] = {
        "bare": call_bare,
        "noop": lambda: call_helper(None),  # global proxy tracer, no SDK provider installed
        "tracing": lambda: call_helper(ours),
        "raw_otel": lambda: call_raw_otel(peer),
    }
    samples: dict[str, list[float]] = {k: [] for k in scenarios}
    per_round = max(1, calls // rounds)
    for fn in scenarios.values():  # warm-up
        _time_calls(fn, min(200, per_round))
    for _ in range(rounds):
        for name, fn in scenarios.items():
            samples[name].extend(_time_calls(fn, per_round))
    handle.force_flush(30)
    peer_provider.force_flush(30000)
    dropped = handle.dropped_spans
    handle.shutdown()
    ours_provider.shutdown()
    peer_provider.shutdown()
    # Let Phoenix store everything before the throughput run, so that run starts on an idle server.
    from phoenix.client import Client

    client = Client(base_url=url)
    expected = per_round * rounds + min(200, per_round)
    stored = {}
    for project in (ours_project, peer_project):
        _wait_stored(url, project, expected, 600)
        stored[project] = _count(client, project, expected + 10)
    med = {k: statistics.median(v) for k, v in samples.items()}
    p99 = {k: statistics.quantiles(v, n=100)[98] for k, v in samples.items()}
    return {
        "calls_per_scenario": per_round * rounds,
        "median_us": med,
        "p99_us": p99,
        "added_us_tracing_vs_noop": med["tracing"] - med["noop"],
        "added_us_raw_otel_vs_bare": med["raw_otel"] - med["bare"],
        "added_us_noop_vs_bare": med["noop"] - med["bare"],
        "ratio_tracing_to_raw_otel": med["tracing"] / med["raw_otel"],
        "ratio_tracing_to_noop": med["tracing"] / med["noop"],
        "dropped_spans": dropped,
        "stored_in_phoenix": {
            "tracing": stored[ours_project],
            "raw_otel": stored[peer_project],
            "expected_each": expected,
        },
    }


def _count(client: Any, project: str, limit: int) -> int:
    """Spans of ``project`` stored in Phoenix, read back with arize-phoenix-client."""
    import httpx

    try:
        return len(client.spans.get_spans(project_identifier=project, limit=limit))
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == 404:
            return 0
        raise


def _record_count(url: str, project: str) -> int:
    """A cheap progress probe (GraphQL ``recordCount``) so polling does not load the server."""
    import httpx

    query = {"query": "{ projects { edges { node { name recordCount } } } }"}
    edges = httpx.post(f"{url}/graphql", json=query, timeout=30).json()["data"]["projects"]["edges"]
    return next((e["node"]["recordCount"] for e in edges if e["node"]["name"] == project), 0)


def _wait_stored(url: str, project: str, n: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _record_count(url, project) < n and time.monotonic() < deadline:
        time.sleep(0.25)


def _deliver(
    client: Any,
    url: str,
    project: str,
    n: int,
    emit: Callable[[], None],
    flush: Callable[[], object],
    timeout_s: float,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    for _ in range(n):
        emit()
    t_emitted = time.perf_counter()
    flush()
    t_flushed = time.perf_counter()
    _wait_stored(url, project, n, timeout_s)
    t_stored = time.perf_counter()
    stored = _count(client, project, n + 10)  # the definitive count, through the client
    return {
        "spans": n,
        "stored": stored,
        "lost": n - stored,
        "emit_s": t_emitted - t0,
        "flushed_s": t_flushed - t0,
        "stored_s": t_stored - t0,
        "spans_per_s_to_collector": n / (t_flushed - t0),
        "spans_per_s_stored": n / (t_stored - t0) if stored >= n else None,
    }


def measure_throughput(url: str, n: int, timeout_s: float) -> dict[str, Any]:
    """Deliver ``n`` spans with tracing.setup and with the SDK peer; count them back in Phoenix."""
    from phoenix.client import Client

    client = Client(base_url=url)
    ours_project = f"bench-tput-{uuid.uuid4().hex[:6]}"
    provider = TracerProvider()
    handle = tracing.setup(
        url, ours_project, tracer_provider=provider, max_queue_size=n, exporter_timeout_s=30
    )
    ours = _deliver(
        client,
        url,
        ours_project,
        n,
        lambda: call_helper(handle.tracer),
        lambda: handle.force_flush(120),
        timeout_s,
    )
    ours["dropped_spans"] = handle.dropped_spans
    handle.shutdown()
    provider.shutdown()

    peer_project = f"bench-tput-peer-{uuid.uuid4().hex[:6]}"
    peer_provider = TracerProvider(resource=Resource.create({"openinference.project.name": peer_project}))
    peer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces", timeout=30), max_queue_size=n)
    )
    peer_tracer = peer_provider.get_tracer("bench")
    peer = _deliver(
        client,
        url,
        peer_project,
        n,
        lambda: call_raw_otel(peer_tracer),
        lambda: peer_provider.force_flush(120_000),
        timeout_s,
    )
    peer_provider.shutdown()
    ratio = (
        ours["spans_per_s_stored"] / peer["spans_per_s_stored"]
        if ours["spans_per_s_stored"] and peer["spans_per_s_stored"]
        else None
    )
    return {"tracing": ours, "raw_otel_sdk_batch": peer, "ratio_stored_rate_tracing_to_peer": ratio}


def main(argv: list[str] | None = None) -> int:
    """Run both measurements, print a summary with ratios, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run (about a minute)")
    parser.add_argument(
        "--calls", type=int, default=None, help="instrumented calls per scenario (default 20000, quick 3000)"
    )
    parser.add_argument(
        "--spans", type=int, default=None, help="spans for the throughput run (default 10000, quick 1000)"
    )
    parser.add_argument(
        "--phoenix", default=None, help="URL of a running Phoenix; default: start one on a free port"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    calls = args.calls or (3000 if args.quick else 20000)
    spans = args.spans or (1000 if args.quick else 10000)

    proc = None
    url = args.phoenix
    if url is None:
        workdir = Path(tempfile.mkdtemp(prefix="bench-phoenix-"))
        t0 = time.perf_counter()
        proc = start_phoenix(free_port(), workdir, timeout_s=300)
        url = proc.url
        print(f"Phoenix started at {url} in {time.perf_counter() - t0:.1f}s")
    try:
        overhead = measure_overhead(url, calls, rounds=5)
        throughput = measure_throughput(url, spans, timeout_s=120 if args.quick else 600)
    finally:
        if proc is not None:
            proc.stop()

    med = overhead["median_us"]
    print(f"\nPer-call overhead, median of {overhead['calls_per_scenario']} calls (µs):")
    for name in ("bare", "noop", "tracing", "raw_otel"):
        print(f"  {name:9s} {med[name]:8.2f}   p99 {overhead['p99_us'][name]:8.2f}")
    print(f"  added by tracing vs no-op tracer: {overhead['added_us_tracing_vs_noop']:.2f} µs per call")
    print(f"  no-op tracer vs no tracing code:  {overhead['added_us_noop_vs_bare']:.2f} µs per call")
    print(f"  ratio tracing / hand-written OTel: {overhead['ratio_tracing_to_raw_otel']:.2f}x")
    for name, r in (
        ("tracing.setup", throughput["tracing"]),
        ("SDK BatchSpanProcessor", throughput["raw_otel_sdk_batch"]),
    ):
        rate = f"{r['spans_per_s_stored']:.0f}" if r["spans_per_s_stored"] else "n/a"
        print(
            f"\nThroughput {name}: {r['spans']} spans, stored {r['stored']} (lost {r['lost']}), "
            f"{r['spans_per_s_to_collector']:.0f} spans/s accepted by Phoenix, {rate} spans/s stored"
        )
    if throughput["ratio_stored_rate_tracing_to_peer"]:
        print(
            f"  ratio stored rate tracing / SDK peer: {throughput['ratio_stored_rate_tracing_to_peer']:.2f}x"
        )
    result = {"overhead": overhead, "throughput": throughput, "quick": args.quick}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"\nwrote {args.json}")
    lost = throughput["tracing"]["lost"] + throughput["tracing"]["dropped_spans"]
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
