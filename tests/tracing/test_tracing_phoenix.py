"""Spans sent through the real OTLP exporter to a real Phoenix, read back with arize-phoenix-client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tracing_test_helpers import wait_for_spans

import tracing
from tracing.phoenix_server import PhoenixProcess

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def by_name(spans: list[Any]) -> dict[str, Any]:
    return {s["name"]: s for s in spans}


def test_llm_chain_retriever_attributes_round_trip(
    handle: tracing.TracingHandle, phoenix_client: Any, project: str
) -> None:
    tracer = handle.tracer
    with tracing.chain_span(
        "qa", input="Which river?", session_id="sess-1", user_id="user-7", tracer=tracer
    ) as chain:
        with tracing.retriever_span(
            "Which river?",
            documents=[{"id": "doc-3", "content": "The Nile is long.", "score": 0.75}, "plain text doc"],
            tracer=tracer,
        ):
            pass
        with tracing.llm_span(
            provider="llama.cpp",
            model="gemma-3-270m",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Which river?"},
            ],
            invocation_parameters={"temperature": 0.0, "max_tokens": 8},
            tracer=tracer,
        ) as rec:
            rec.first_token()
            rec.set_output("The Nile.", prompt_tokens=12, completion_tokens=3)
        chain.set_output("The Nile.")
    assert handle.force_flush(10)
    trace_id, llm_span_id = tracing.span_ids(rec.span)

    spans = by_name(wait_for_spans(phoenix_client, project, 3, trace_ids=[trace_id]))
    llm, qa, ret = spans["llm"], spans["qa"], spans["retrieve"]
    assert llm["context"]["span_id"] == llm_span_id
    assert llm["parent_id"] == qa["context"]["span_id"] == ret["parent_id"]
    assert (llm["span_kind"], qa["span_kind"], ret["span_kind"]) == ("LLM", "CHAIN", "RETRIEVER")
    a = llm["attributes"]
    assert a["llm.provider"] == "llama.cpp" and a["llm.model_name"] == "gemma-3-270m"
    assert json.loads(a["llm.invocation_parameters"]) == {"temperature": 0.0, "max_tokens": 8}
    assert a["llm.input_messages.0.message.role"] == "system"
    assert a["llm.input_messages.1.message.content"] == "Which river?"
    assert a["llm.output_messages.0.message.role"] == "assistant"
    assert a["llm.output_messages.0.message.content"] == "The Nile."
    assert (a["llm.token_count.prompt"], a["llm.token_count.completion"], a["llm.token_count.total"]) == (
        12,
        3,
        15,
    )
    assert a["llm.latency_ms"] == pytest.approx(rec.latency_ms) and a["llm.ttft_ms"] == pytest.approx(
        rec.ttft_ms
    )
    assert a["llm.tpot_ms"] == pytest.approx((rec.latency_ms - rec.ttft_ms) / 2)
    assert a["llm.cost_usd"] == 0.0  # local model: priced at zero in the default table
    # session.id / user.id flow from the chain to the spans inside it
    for s in (llm, qa, ret):
        assert s["attributes"]["session.id"] == "sess-1" and s["attributes"]["user.id"] == "user-7"
    r = ret["attributes"]
    assert r["retrieval.documents.0.document.id"] == "doc-3"
    assert r["retrieval.documents.0.document.score"] == 0.75
    assert r["retrieval.documents.1.document.content"] == "plain text doc"
    assert qa["attributes"]["output.value"] == "The Nile."


def test_evaluator_span_error_status_and_annotation_round_trip(
    handle: tracing.TracingHandle, phoenix_client: Any, project: str
) -> None:
    tracer = handle.tracer
    with tracing.evaluator_span("geval:coherence", suite="summaries", case_id="case-3", tracer=tracer) as ev:
        with pytest.raises(RuntimeError, match="model crashed"):  # noqa: SIM117 - the nesting is the span tree under test
            with tracing.llm_span(provider="fake", model="m", tracer=tracer):
                raise RuntimeError("model crashed")
        ev.set_result(score=0.8, label="pass", explanation="coherent enough")
    assert handle.force_flush(10)
    trace_id, eval_span_id = tracing.span_ids(ev.span)
    spans = by_name(wait_for_spans(phoenix_client, project, 2, trace_ids=[trace_id]))
    e = spans["geval:coherence"]
    assert e["span_kind"] == "EVALUATOR"
    assert {
        k: e["attributes"][k] for k in ("eval.suite", "eval.case_id", "eval.name", "eval.score", "eval.label")
    } == {
        "eval.suite": "summaries",
        "eval.case_id": "case-3",
        "eval.name": "geval:coherence",
        "eval.score": 0.8,
        "eval.label": "pass",
    }
    assert e["attributes"]["eval.explanation"] == "coherent enough"
    failed = spans["llm"]
    assert failed["status_code"] == "ERROR" and "model crashed" in failed["status_message"]
    assert any(ev_["name"] == "exception" for ev_ in failed["events"])
    # searchable by suite and case
    found = phoenix_client.spans.get_spans(project_identifier=project, attributes={"eval.case_id": "case-3"})
    assert [s["context"]["span_id"] for s in found] == [eval_span_id]

    ids = tracing.annotate_spans(
        [
            tracing.SpanAnnotation(
                eval_span_id, "coherence", "LLM", score=0.8, label="pass", explanation="judge"
            ),
            tracing.SpanAnnotation(
                eval_span_id, "human-review", "HUMAN", label="agree", metadata={"reviewer": "r1"}
            ),
        ],
        endpoint=handle.endpoint,
    )
    assert len(ids) == 2
    got = phoenix_client.spans.get_span_annotations(span_ids=[eval_span_id], project_identifier=project)
    got_by_name = {g["name"]: g for g in got}
    assert got_by_name["coherence"]["annotator_kind"] == "LLM"
    assert got_by_name["coherence"]["result"] == {"score": 0.8, "label": "pass", "explanation": "judge"}
    assert got_by_name["human-review"]["annotator_kind"] == "HUMAN"
    assert got_by_name["human-review"]["metadata"] == {"reviewer": "r1"}


def test_annotating_an_unknown_span_is_a_clear_error(phoenix: PhoenixProcess) -> None:
    with pytest.raises(tracing.AnnotationError, match="force_flush"):
        tracing.annotate_spans(
            [tracing.SpanAnnotation("0123456789abcdef", "x", "CODE", score=1)], endpoint=phoenix.url
        )


def test_redaction_reaches_phoenix(handle: tracing.TracingHandle, phoenix_client: Any, project: str) -> None:
    secret = "card 4111 1111 1111 1111, mail jane.doe@example.com, key sk-proj-abcdefghijklmnop1234567890"
    with tracing.llm_span(
        provider="p", model="m", messages=[{"role": "user", "content": secret}], tracer=handle.tracer
    ) as rec:
        rec.set_output("call +44 20 7946 0958", prompt_tokens=1, completion_tokens=1)
    assert handle.force_flush(10)
    trace_id, _ = tracing.span_ids(rec.span)
    [span] = wait_for_spans(phoenix_client, project, 1, trace_ids=[trace_id])
    stored = json.dumps(span)
    for leak in ("4111", "jane.doe", "sk-proj", "7946"):
        assert leak not in stored
    assert (
        span["attributes"]["llm.input_messages.0.message.content"]
        == "card [CARD], mail [EMAIL], key [API_KEY]"
    )


def _run_script(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "OTEL_"))}
    full_env.update(env)
    full_env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_global_setup_from_environment(phoenix: PhoenixProcess, phoenix_client: Any, project: str) -> None:
    """EVALHARNESS_TRACING + PHOENIX_COLLECTOR_ENDPOINT + PHOENIX_PROJECT_NAME, default global tracer."""
    done = _run_script(
        """
        import tracing
        handle = tracing.setup_from_env()
        assert handle.owns_provider
        with tracing.chain_span("from-env"):
            pass
        assert handle.force_flush(10)
        handle.shutdown()
        print(handle.project, handle.dropped_spans)
        """,
        {
            "EVALHARNESS_TRACING": "1",
            "PHOENIX_COLLECTOR_ENDPOINT": phoenix.url + "/v1/traces",
            "PHOENIX_PROJECT_NAME": project,
        },
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [project, "0"]
    [span] = wait_for_spans(phoenix_client, project, 1)
    assert span["name"] == "from-env"


def test_existing_provider_is_reused_not_clobbered(
    phoenix: PhoenixProcess, phoenix_client: Any, project: str
) -> None:
    done = _run_script(
        f"""
        import tracing
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        app_exporter = InMemorySpanExporter()
        app = TracerProvider(resource=Resource.create({{"service.name": "user-app"}}))
        app.add_span_processor(SimpleSpanProcessor(app_exporter))
        trace.set_tracer_provider(app)
        try:
            tracing.setup({phoenix.url!r}, {project!r}, use_existing_provider=False)
            raise SystemExit("expected ProviderConflictError")
        except tracing.ProviderConflictError:
            pass
        handle = tracing.setup({phoenix.url!r}, {project!r})
        assert handle.provider is app and not handle.owns_provider
        with tracing.chain_span("shared"):
            pass
        assert handle.force_flush(10)
        print(len(app_exporter.get_finished_spans()))
        """,
        {},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"  # the app's own processor still sees its spans
    [span] = wait_for_spans(phoenix_client, project, 1)  # and Phoenix files them under the project
    assert span["name"] == "shared"
