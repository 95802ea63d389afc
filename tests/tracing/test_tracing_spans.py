"""Span helpers, checked on an in-memory SDK provider (attributes, nesting, errors, no-op path)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tracing

Mem = tuple[TracerProvider, InMemorySpanExporter]


def test_llm_span_timing_tokens_and_cost(memory_provider: Mem) -> None:
    provider, exporter = memory_provider
    prices = tracing.PriceTable({"acme-1": tracing.ModelPrice(2.0, 8.0)})
    with tracing.llm_span(
        provider="acme", model="acme-1-2025", prices=prices, tracer=provider.get_tracer("t")
    ) as rec:
        time.sleep(0.02)
        rec.first_token()
        time.sleep(0.03)
        rec.set_output("abc", prompt_tokens=1000, completion_tokens=11, finish_reason="stop")
    [span] = exporter.get_finished_spans()
    a = span.attributes
    assert rec.ttft_ms is not None and rec.latency_ms is not None and rec.tpot_ms is not None
    assert 20 <= rec.ttft_ms < rec.latency_ms
    assert rec.tpot_ms == pytest.approx((rec.latency_ms - rec.ttft_ms) / 10)
    assert (
        a["llm.ttft_ms"] == rec.ttft_ms
        and a["llm.tpot_ms"] == rec.tpot_ms
        and a["llm.latency_ms"] == rec.latency_ms
    )
    # span duration and recorded latency agree within a millisecond
    assert (span.end_time - span.start_time) / 1e6 == pytest.approx(rec.latency_ms, abs=1.0)
    assert a["llm.cost_usd"] == pytest.approx((1000 * 2.0 + 11 * 8.0) / 1e6)
    assert a["llm.finish_reason"] == "stop" and a["openinference.span.kind"] == "LLM"


def test_unstreamed_call_tpot_and_cached_cost(memory_provider: Mem) -> None:
    provider, exporter = memory_provider
    with tracing.llm_span(provider="openai", model="gpt-4o-mini", tracer=provider.get_tracer("t")) as rec:
        rec.set_output("x", prompt_tokens=10, completion_tokens=4, cached=True)
    [span] = exporter.get_finished_spans()
    assert rec.ttft_ms is None and "llm.ttft_ms" not in span.attributes
    assert rec.tpot_ms == pytest.approx(rec.latency_ms / 4)
    assert span.attributes["llm.cost_usd"] == 0.0 and span.attributes["llm.cached"] is True


def test_exception_is_recorded_and_reraised(memory_provider: Mem) -> None:
    provider, exporter = memory_provider
    with pytest.raises(KeyError):  # noqa: SIM117 - the nesting is the span tree under test
        with tracing.evaluator_span("judge", suite="s", case_id="c1", tracer=provider.get_tracer("t")):
            raise KeyError("boom")
    [span] = exporter.get_finished_spans()
    assert span.status.status_code == trace.StatusCode.ERROR
    assert span.events[0].name == "exception"
    assert span.events[0].attributes["exception.type"] == "KeyError"
    assert trace.get_current_span() is trace.INVALID_SPAN  # context restored


def test_evaluator_result_and_failure(memory_provider: Mem) -> None:
    provider, exporter = memory_provider
    tracer = provider.get_tracer("t")
    with tracing.evaluator_span("pairwise", suite="qa", case_id="7", input={"q": 1}, tracer=tracer) as ev:
        ev.set_result(score=1, label="A", explanation="A is better")
    with tracing.evaluator_span("pointwise", tracer=tracer) as ev2:
        ev2.set_failure("unparseable reply: 'banana'")
    first, second = exporter.get_finished_spans()
    assert first.attributes["eval.score"] == 1.0 and first.attributes["eval.label"] == "A"
    assert json.loads(first.attributes["output.value"]) == {
        "score": 1,
        "label": "A",
        "explanation": "A is better",
    }
    assert json.loads(first.attributes["input.value"]) == {"q": 1}
    assert (
        second.attributes["eval.failure"] == "unparseable reply: 'banana'"
        and "eval.score" not in second.attributes
    )
    with pytest.raises(tracing.TracingConfigError, match="score"):
        ev.set_result(score="high")  # type: ignore[arg-type]


def test_session_flows_to_nested_spans_and_stops_at_exit(memory_provider: Mem) -> None:
    provider, exporter = memory_provider
    tracer = provider.get_tracer("t")
    with tracing.chain_span("outer", session_id="s1", user_id="u1", tracer=tracer):  # noqa: SIM117 - the nesting is the span tree under test
        with tracing.chain_span("inner", session_id="s2", tracer=tracer):
            with tracing.llm_span(provider="p", model="m", tracer=tracer):
                pass
    with tracing.llm_span(provider="p", model="m", name="after", tracer=tracer):
        pass
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["llm"].attributes["session.id"] == "s2" and spans["llm"].attributes["user.id"] == "u1"
    assert spans["outer"].attributes["session.id"] == "s1"
    assert "session.id" not in spans["after"].attributes
    assert spans["llm"].parent.span_id == spans["inner"].context.span_id


def test_traced_decorator_sync_and_async(memory_provider: Mem) -> None:
    provider, exporter = memory_provider
    tracer = provider.get_tracer("t")

    @tracing.traced(kind="TOOL", tracer=tracer)
    def add(a: int, b: int = 2) -> int:
        return a + b

    @tracing.traced(name="fetch", tracer=tracer)
    async def fetch(x: str) -> dict[str, str]:
        await asyncio.sleep(0)
        with tracing.llm_span(provider="p", model="m", tracer=tracer):
            pass
        return {"x": x}

    assert add(1) == 3
    assert asyncio.run(fetch("q")) == {"x": "q"}
    spans = {s.name: s for s in exporter.get_finished_spans()}
    add_span = spans[add.__wrapped__.__qualname__]  # type: ignore[attr-defined]
    assert add_span.attributes["openinference.span.kind"] == "TOOL"
    assert json.loads(add_span.attributes["input.value"]) == {"a": 1, "b": 2}
    assert add_span.attributes["output.value"] == "3"
    assert spans["llm"].parent.span_id == spans["fetch"].context.span_id
    with pytest.raises(tracing.TracingConfigError, match="unknown span kind"):
        tracing.traced(kind="BANANA")


def test_no_provider_is_a_cheap_no_op() -> None:
    """Without an SDK provider the helpers record nothing but still measure (used for logs).

    Run in a fresh interpreter: another test package may have installed a global provider here.
    """
    code = """
import tracing
from opentelemetry import trace
with tracing.chain_span("c", session_id="s") as ch:
    with tracing.llm_span(provider="p", model="gpt-4o-mini") as rec:
        rec.set_output("hi", prompt_tokens=1_000_000, completion_tokens=0)
assert not ch.recording and ch.ids is None
assert tracing.span_ids(rec.span) == ("0" * 32, "0" * 16)
assert abs(rec.cost_usd - 0.15) < 1e-12 and rec.latency_ms > 0
assert tracing.current_span_ids() is None
assert trace.get_current_span() is trace.INVALID_SPAN
print("ok")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_bad_arguments_are_named() -> None:
    with pytest.raises(tracing.TracingConfigError, match="provider"):
        tracing.llm_span(provider="", model="m")
    with pytest.raises(tracing.TracingConfigError, match="exporter_timeout_s"):
        tracing.setup("http://127.0.0.1:9", tracer_provider=TracerProvider(), exporter_timeout_s=0)
    with pytest.raises(tracing.TracingConfigError, match="max_queue_size"):
        tracing.setup("http://127.0.0.1:9", tracer_provider=TracerProvider(), max_queue_size=0)
    with pytest.raises(tracing.TracingConfigError, match="not an http"):
        tracing.setup("localhost:6006", tracer_provider=TracerProvider())
    with pytest.raises(TypeError, match="retrieval document 0"):  # noqa: SIM117 - the nesting is the span tree under test
        with tracing.retriever_span("q", documents=[42], tracer=TracerProvider().get_tracer("t")):
            pass
