"""The example agent traced into a real Phoenix, and its trajectory read back from Phoenix's stored spans.

The agent's model is a fake (FakeFunctionProvider with exact label probabilities, scripted tool choices); the
tools are the real ones. The trajectory computed from the spans Phoenix stored must equal the one computed from
the same run's in-process spans: tool names, arguments, results, the failed step and the model-step count.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tracing
from judges import Completion, ModelClient, ModelRequest
from judges.providers.fakes import FakeFunctionProvider
from judges.trajectory import tool_match, trajectory_from_spans
from tracing.phoenix_server import PhoenixProcess
from tracing.span_tree import span_dicts, spans_from_phoenix

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # examples/ is a folder of scripts
from examples.agent_app import TOOLS, Agent

pytestmark = pytest.mark.slow


def scripted_client(plan: list[str]) -> ModelClient:
    """A fake agent model: tool decisions follow ``plan`` (then "finish"); K2 is looked up, metres go to feet."""
    decisions = iter(plan)

    def reply(req: ModelRequest) -> Completion:
        if req.labels is None:
            return Completion(text=" 2 + 2", provider="fake", model="fake-agent", texts=(" 2 + 2",))
        opts = [lab.strip() for lab in req.labels]
        pick = "k2" if "k2" in opts else "m to ft" if "m to ft" in opts else next(decisions, "finish")
        pick = pick if pick in opts else opts[0]
        probs = {" " + o: (0.97 if o == pick else 0.03 / (len(opts) - 1)) for o in opts}
        return Completion(text=" " + pick, provider="fake", model="fake-agent", label_probs=probs)

    return ModelClient(FakeFunctionProvider(reply, model="fake-agent", exact_label_probs=True), trace=False)


@pytest.fixture
def both(phoenix: PhoenixProcess, project: str) -> Iterator[tuple[tracing.TracingHandle, InMemorySpanExporter]]:
    """Spans go to Phoenix (through tracing.setup) and to memory, from one provider."""
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    h = tracing.setup(phoenix.url, project, tracer_provider=provider, schedule_delay_s=0.05)
    yield h, memory
    h.shutdown()
    provider.shutdown()


def read_back(phoenix: PhoenixProcess, project: str, trace_id: str, expected: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    spans: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        try:
            spans = spans_from_phoenix(project, trace_id=trace_id, base_url=phoenix.url)
        except Exception:  # noqa: BLE001 - the project is unknown (404) until its first span is stored
            spans = []
        if len(spans) >= expected:
            return spans
        time.sleep(0.25)
    raise AssertionError(f"Phoenix holds {len(spans)} spans of trace {trace_id}, expected {expected}")


def test_the_trajectory_read_from_phoenix_equals_the_in_process_one(both, phoenix, project):
    handle, memory = both

    def broken_calculator(expression: str) -> str:
        raise RuntimeError("calculator is broken")

    agent = Agent(scripted_client(["calculator", "lookup", "convert"]), max_steps=3,
                  tools={**TOOLS, "calculator": broken_calculator}, tracer=handle.tracer)
    answer = asyncio.run(agent.run("How tall is K2 in feet?"))
    assert handle.force_flush(10)
    local = span_dicts(memory.get_finished_spans())
    trace_id = local[0]["context"]["trace_id"]
    stored = read_back(phoenix, project, trace_id, expected=len(local))

    assert sorted(s["span_kind"] for s in stored) == sorted(s["span_kind"] for s in local)
    from_phoenix, in_process = trajectory_from_spans(stored), trajectory_from_spans(local)
    assert [s.key() for s in from_phoenix.steps] == [s.key() for s in in_process.steps] == [
        'calculator({"expression": "2 + 2"})', 'lookup({"key": "k2"})',
        'convert({"from_unit": "m", "to_unit": "ft", "value": 8611.0})']
    assert [s.ok for s in from_phoenix.steps] == [False, True, True]
    assert "calculator is broken" in (from_phoenix.steps[0].error or "")
    assert [s.output for s in from_phoenix.steps] == [s.output for s in in_process.steps]
    assert from_phoenix.llm_steps == in_process.llm_steps > 0 and not from_phoenix.orphans
    assert from_phoenix.final_output == answer == "28251.3 ft"
    assert tool_match(from_phoenix.tools, ["lookup", "convert"], "superset")
    assert not tool_match(from_phoenix.tools, ["lookup", "convert"], "strict")
