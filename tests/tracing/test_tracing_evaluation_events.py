"""Evaluation events: each verdict the annotation writer sends is also a ``gen_ai.evaluation.result`` log record,
checked attribute by attribute against the OpenTelemetry GenAI convention (the SDK's in-memory exporter, and a
real OTLP/HTTP receiver for the wire format). Phoenix is a fake here (httpx.MockTransport)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from opentelemetry import _logs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from otlp_receiver import OtlpLogsReceiver

import tracing
from experiments.record import Score
from tracing import evaluation_events as ev
from tracing.annotations import verdict_annotation

SPAN = "0123456789abcdef"
TRACE = "0af7651916cd43dd8448eb211c80319c"


def phoenix_ok() -> httpx.MockTransport:
    """A fake Phoenix that accepts every annotation."""
    def handle(request: httpx.Request) -> httpx.Response:
        data = json.loads(request.content)["data"]
        return httpx.Response(200, json={"data": [{"id": f"a{i}"} for i in range(len(data))]})
    return httpx.MockTransport(handle)


def phoenix_down() -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)
    return httpx.MockTransport(handle)


def judge_score(**kw: Any) -> Score:
    base: dict[str, Any] = {
        "scorer": "pointwise:faithfulness", "criterion": "faithfulness", "kind": "judge", "score": 4.2, "label": "4",
        "label_probs": {" 4": 0.7, " 5": 0.3}, "prob_source": "exact", "passed": True, "threshold": 3.0,
        "judge_model": "gemma-3-270m", "reasoning": "grounded in the context", "entropy": 0.61, "trace_id": TRACE}
    return Score(**{**base, **kw})


def emitted(annotations: list[Any], **kw: Any) -> tuple[list[Any], list[str]]:
    exporter = InMemoryLogRecordExporter()
    sink = ev.setup_evaluation_events(exporter=exporter)
    problems: list[str] = []
    tracing.annotate_spans(annotations, transport=kw.pop("transport", phoenix_ok()), endpoint="http://phoenix.test",
                           events=sink, on_events_problem=problems.append, **kw)
    return [r.log_record for r in exporter.get_finished_logs()], problems


def test_each_attribute_of_a_judge_verdict_against_the_convention() -> None:
    ann = judge_score().annotation(SPAN, source="ci", metadata={"run_id": "r1", "suite": "qa", "case_id": "c1",
                                                                "response_id": "chatcmpl-42"})
    [rec], problems = emitted([ann])
    assert problems == []
    assert rec.event_name == "gen_ai.evaluation.result"
    # parented to the evaluated span
    assert (f"{rec.trace_id:032x}", f"{rec.span_id:016x}") == (TRACE, SPAN)
    a = dict(rec.attributes or {})
    assert a.pop("gen_ai.evaluation.name") == "faithfulness"  # required: the criterion
    assert a.pop("gen_ai.evaluation.score.value") == 4.2
    assert a.pop("gen_ai.evaluation.score.label") == "4"
    assert a.pop("gen_ai.evaluation.explanation") == "grounded in the context"
    assert a.pop("gen_ai.response.id") == "chatcmpl-42"
    assert "error.type" not in a
    # everything else is the harness's, under its own namespace
    assert all(k.startswith("evalharness.evaluation.") for k in a), a
    extras = {k.removeprefix("evalharness.evaluation."): v for k, v in a.items()}
    assert extras["annotator_kind"] == "LLM" and extras["source"] == "ci" and extras["criterion"] == "faithfulness"
    assert extras["judge_model"] == "gemma-3-270m" and extras["scorer"] == "pointwise:faithfulness"
    assert extras["label_probs.4"] == 0.7 and extras["label_probs.5"] == 0.3
    assert extras["prob_source"] == "exact" and extras["passed"] is True and extras["threshold"] == 3.0
    assert extras["span_id"] == SPAN and extras["run_id"] == "r1" and extras["case_id"] == "c1"
    assert "trace_id" not in extras and "response_id" not in extras  # those are the convention's, not extras


def test_a_failure_is_an_error_type_never_a_score_and_a_scorer_is_code() -> None:
    failed = judge_score(score=None, failure="no label in the reply", flags=["not_evaluable"]).annotation(
        SPAN, source="monitor")
    code = Score(scorer="token_f1", criterion="token_f1", kind="scorer", score=0.5).annotation(SPAN, source="ci")
    human = verdict_annotation(SPAN, criterion="faithfulness", source="human", kind="HUMAN", score=5.0,
                               trace_id=TRACE)
    recs, _ = emitted([failed, code, human])
    f, c, h = (dict(r.attributes or {}) for r in recs)
    assert "gen_ai.evaluation.score.value" not in f
    assert f["error.type"] == "not_evaluable" and f["gen_ai.evaluation.score.label"] == "not_evaluable"
    assert f["gen_ai.evaluation.explanation"] == "no label in the reply"
    assert c["evalharness.evaluation.annotator_kind"] == "CODE" and c["gen_ai.evaluation.score.value"] == 0.5
    assert h["evalharness.evaluation.annotator_kind"] == "HUMAN" and h["evalharness.evaluation.source"] == "human"
    # no trace id known for the scorer's verdict: the record is not parented (never a made-up trace)
    assert recs[1].trace_id in (0, None) and recs[2].trace_id == int(TRACE, 16)


def test_a_production_log_row_id_is_not_a_trace_id() -> None:
    ann = verdict_annotation(SPAN, criterion="x", source="monitor", kind="LLM", score=1.0, trace_id="row-7")
    assert ann.trace_id is None
    with pytest.raises(tracing.AnnotationError, match="trace_id 'row-7' is not 32 lowercase hex"):
        tracing.SpanAnnotation(SPAN, "x", "LLM", trace_id="row-7")


def test_phoenix_down_loses_no_event() -> None:
    ann = judge_score().annotation(SPAN, source="ci")
    exporter = InMemoryLogRecordExporter()
    with pytest.raises(tracing.AnnotationError, match="cannot reach Phoenix"):
        tracing.annotate_spans([ann], endpoint="http://phoenix.test", transport=phoenix_down(),
                               events=ev.setup_evaluation_events(exporter=exporter))
    assert [r.log_record.attributes["gen_ai.evaluation.name"] for r in exporter.get_finished_logs()] == [
        "faithfulness"]


def test_the_wire_format_to_a_real_otlp_receiver() -> None:
    anns = [judge_score().annotation(SPAN, source="ci"), judge_score(criterion="relevance").annotation(
        "fedcba9876543210", source="ci")]
    with OtlpLogsReceiver() as rx:
        sink = ev.setup_evaluation_events(rx.url)
        problems: list[str] = []
        ids = tracing.annotate_spans(anns, endpoint="http://phoenix.test", transport=phoenix_ok(), events=sink,
                                     on_events_problem=problems.append)
        sink.shutdown()
    assert ids == ["a0", "a1"] and problems == []
    assert [(r["trace_id"], r["span_id"]) for r in rx.records] == [(TRACE, SPAN), (TRACE, "fedcba9876543210")]
    assert {r["event_name"] for r in rx.records} == {"gen_ai.evaluation.result"}
    first = rx.records[0]["attributes"]
    assert first["gen_ai.evaluation.name"] == "faithfulness" and first["gen_ai.evaluation.score.value"] == 4.2
    assert first["evalharness.evaluation.label_probs.4"] == 0.7 and first["evalharness.evaluation.flags"] == []


def test_a_collector_that_is_down_is_said_and_the_annotations_still_written() -> None:
    with OtlpLogsReceiver() as rx:
        url = rx.url  # a port that was open and is now closed
    sink = ev.setup_evaluation_events(url, timeout_s=1.0)
    problems: list[str] = []
    ids = tracing.annotate_spans([judge_score().annotation(SPAN, source="ci")], endpoint="http://phoenix.test",
                                 transport=phoenix_ok(), events=sink, on_events_problem=problems.append)
    sink.shutdown()
    assert ids == ["a0"]
    [problem] = problems
    assert problem == f"1 of 1 evaluation events not delivered to {url} (collector unreachable or refused)"


def test_where_events_go(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (ev.EVENTS_ENV, ev.LOGS_ENDPOINT_ENV):
        monkeypatch.delenv(var, raising=False)
    assert ev.default_events() is None  # nothing configured: no events, and no error
    monkeypatch.setenv(ev.LOGS_ENDPOINT_ENV, "http://127.0.0.1:4318/v1/logs")
    made = ev.default_events()
    assert made is not None and made.where == "http://127.0.0.1:4318/v1/logs"
    assert ev.default_events() is made  # one provider per URL and process
    monkeypatch.setenv(ev.EVENTS_ENV, "off")
    assert ev.default_events() is None
    monkeypatch.setenv(ev.EVENTS_ENV, "sometimes")
    with pytest.raises(tracing.TracingConfigError, match="EVALHARNESS_EVAL_EVENTS='sometimes': use off, on or"):
        ev.default_events()
    monkeypatch.setenv(ev.EVENTS_ENV, "on")
    monkeypatch.setenv(ev.LOGS_ENDPOINT_ENV, "127.0.0.1:4318")
    with pytest.raises(tracing.TracingConfigError, match="OTEL_EXPORTER_OTLP_LOGS_ENDPOINT='127.0.0.1:4318' is not"):
        ev.default_events()
    # a bad setting never stops the annotations: it is reported like a delivery problem
    problems: list[str] = []
    assert tracing.annotate_spans([judge_score().annotation(SPAN, source="ci")], endpoint="http://phoenix.test",
                                  transport=phoenix_ok(), on_events_problem=problems.append) == ["a0"]
    assert len(problems) == 1 and "is not an http(s) URL" in problems[0]


def test_the_applications_own_logger_provider_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ev.EVENTS_ENV, raising=False)
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    monkeypatch.setattr(_logs, "get_logger_provider", lambda: provider)
    tracing.annotate_spans([judge_score().annotation(SPAN, source="ci")], endpoint="http://phoenix.test",
                           transport=phoenix_ok())
    [rec] = exporter.get_finished_logs()
    assert rec.log_record.event_name == "gen_ai.evaluation.result"
    assert rec.instrumentation_scope is not None and rec.instrumentation_scope.name == "evalharness.evaluation"
