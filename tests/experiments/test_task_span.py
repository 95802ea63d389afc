"""The task span names the task (issue 22): ``task:<name>`` with ``eval.task`` = the task's name, not a slot letter;
and a deterministic scorer's verdict is a CODE annotation, a judge's an LLM one."""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tracing.spans
from experiments import EvalSuite, Task, TokenF1
from experiments.suite import run_case


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exp = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exp))
    monkeypatch.setattr(tracing.spans, "_TRACER", provider.get_tracer("test"))
    return exp


def test_the_task_span_names_the_task(tmp_path, exporter: InMemorySpanExporter) -> None:
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"id": "q0", "question": "what is 0?", "reference": "it is 0"}) + "\n")
    suite = EvalSuite("qa", str(data), "rag", task=Task(lambda case: "it is 0", name="answer-bot"),
                      scorers=(TokenF1(),), threshold=0.5)
    rec = asyncio.run(run_case(suite, suite.cases()[0], None))  # type: ignore[arg-type]
    [task] = [s for s in exporter.get_finished_spans() if s.name.startswith("task:")]
    assert task.name == "task:answer-bot"
    assert task.attributes is not None and task.attributes["eval.task"] == "answer-bot"
    assert "eval.task_slot" not in task.attributes  # one task: no slot to name
    ann = rec.scores[0].annotation("0123456789abcdef", source="ci")
    assert ann.annotator_kind == "CODE" and ann.name == rec.scores[0].criterion and ann.identifier == "ci"
