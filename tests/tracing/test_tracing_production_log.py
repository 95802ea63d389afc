"""The production log: JSONL rows with named errors, and Phoenix span dicts (flat or nested) as the same rows."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import tracing
from tracing import production_log
from tracing.production_log import (
    LOG_COLUMNS,
    iter_rows,
    read_rows,
    row_from_span,
    rows_from_phoenix,
    rows_from_spans,
)

# As a real Phoenix returns an LLM span's attributes from spans.get_spans().
FLAT_ATTRIBUTES: dict[str, Any] = {
    "openinference.span.kind": "LLM",
    "input.value": "How do I reset my password?",
    "output.value": "Open settings, then Security.",
    "llm.model_name": "gemma-3-270m",
    "llm.token_count.prompt": 12,
    "llm.token_count.completion": 7,
    "llm.token_count.total": 19,
    "llm.latency_ms": 840.5,
    "llm.ttft_ms": 120.0,
    "llm.tpot_ms": 30.25,
    "llm.cost_usd": 0.00042,
    "session.id": "s-1",
    "user.id": "u-9",
    # Phoenix flattens the OpenInference metadata JSON into one attribute per key.
    "metadata.topic": "account",
    "metadata.language": "en",
    "metadata.judge_score": 4,
    "metadata.label": 1,
}

# The same attributes as Phoenix sometimes returns them: nested by dotted prefix. The llm.* timings and
# cost once came back this way and were lost.
NESTED_ATTRIBUTES: dict[str, Any] = {
    "openinference": {"span": {"kind": "LLM"}},
    "input": {"value": "How do I reset my password?"},
    "output": {"value": "Open settings, then Security."},
    "llm": {
        "model_name": "gemma-3-270m",
        "token_count": {"prompt": 12, "completion": 7, "total": 19},
        "latency_ms": 840.5,
        "ttft_ms": 120.0,
        "tpot_ms": 30.25,
        "cost_usd": 0.00042,
    },
    "session": {"id": "s-1"},
    "user": {"id": "u-9"},
    "metadata": {"topic": "account", "language": "en", "judge_score": 4, "label": 1},
}

# Both at once: flat names under a nested prefix, as a partly flattened reply looks; metadata as
# the JSON string OpenInference writes.
MIXED_ATTRIBUTES: dict[str, Any] = {
    "input.value": "How do I reset my password?",
    "output": {"value": "Open settings, then Security."},
    "llm.model_name": "gemma-3-270m",
    "llm": {"token_count.prompt": 12, "token_count": {"completion": 7}, "latency_ms": 840.5,
            "ttft_ms": 120.0, "tpot_ms": 30.25, "cost_usd": 0.00042},
    "session.id": "s-1",
    "user": {"id": "u-9"},
    "metadata": json.dumps({"topic": "account", "language": "en", "judge_score": 4, "label": 1}),
}  # fmt: skip

EXPECTED_ROW = {
    "timestamp": "2026-11-29T10:00:00+00:00",
    "prompt": "How do I reset my password?",
    "response": "Open settings, then Security.",
    "model": "gemma-3-270m",
    "topic": "account",
    "language": "en",
    "latency_ms": 840.5,
    "ttft_ms": 120.0,
    "tpot_ms": 30.25,
    "prompt_tokens": 12,
    "completion_tokens": 7,
    "cost_usd": 0.00042,
    "judge_score": 4,
    "label": 1,
    "session_id": "s-1",
    "user_id": "u-9",
    "trace_id": "f" * 32,
    "span_id": "a" * 16,
}


def _span(attributes: dict[str, Any], **kw: Any) -> dict[str, Any]:
    span = {
        "id": "U3BhbjoxMjM=",
        "name": "llm",
        "context": {"trace_id": "f" * 32, "span_id": "a" * 16},
        "span_kind": "LLM",
        "parent_id": None,
        "start_time": "2026-11-29T10:00:00+00:00",
        "end_time": "2026-11-29T10:00:00.900000+00:00",
        "status_code": "OK",
        "status_message": "",
        "attributes": attributes,
        "events": [],
    }
    span.update(kw)
    return span


@pytest.mark.parametrize(
    "attributes", [FLAT_ATTRIBUTES, NESTED_ATTRIBUTES, MIXED_ATTRIBUTES], ids=["flat", "nested", "mixed"]
)
def test_flat_and_nested_attributes_give_the_same_row(attributes: dict[str, Any]) -> None:
    row = row_from_span(_span(attributes))
    assert list(row) == list(LOG_COLUMNS)
    assert row == EXPECTED_ROW


def test_row_columns_are_the_example_apps_log_columns() -> None:
    doc = Path(__file__).parents[2].joinpath("examples", "qa_app.py").read_text(encoding="utf-8")
    block = doc.split("Log row (one JSON object per line)::", 1)[1].split("The model call", 1)[0]
    documented = [name.strip() for name in re.sub(r"\([^)]*\)", "", block).split(",")]
    assert documented == list(LOG_COLUMNS)


def test_missing_latency_falls_back_to_span_duration_and_absent_fields_are_none() -> None:
    row = row_from_span(_span({"input.value": "q", "output.value": "a"}))
    assert row["latency_ms"] == pytest.approx(900.0)
    assert row["cost_usd"] is None and row["topic"] is None and row["model"] is None
    bare = row_from_span({"context": {"span_id": "c" * 16}, "attributes": {"input": {"value": "q"}}})
    assert bare["prompt"] == "q" and bare["response"] is None
    assert bare["timestamp"] is None and bare["latency_ms"] is None and bare["span_id"] == "c" * 16


def test_rows_from_spans_keep_one_row_per_request_the_root_span() -> None:
    spans = [
        _span(FLAT_ATTRIBUTES),
        _span({"input.value": "q"}, span_kind="RETRIEVER", parent_id="a" * 16),
        _span(NESTED_ATTRIBUTES, span_kind="LLM", parent_id="a" * 16),
    ]
    assert rows_from_spans(spans) == [EXPECTED_ROW]


def test_an_llm_root_gives_the_users_message_not_the_message_list() -> None:
    messages = json.dumps([{"role": "system", "content": "Answer briefly."},
                           {"role": "user", "content": "Context:\n- a\nQuestion: How do I reset my password?"},
                           {"role": "assistant", "content": "Open settings."},
                           {"role": "user", "content": "How do I reset my password?"}])
    row = row_from_span(_span({**FLAT_ATTRIBUTES, "input.value": messages}))
    assert row["prompt"] == "How do I reset my password?"


def test_the_apps_own_figures_on_the_root_span_win_and_missing_stays_missing() -> None:
    recorded = production_log.row_attributes({"latency_ms": 12.5, "ttft_ms": 12.5, "tpot_ms": None,
                                              "prompt_tokens": 30, "model": "stand-in", "prompt": "ignored"})
    assert recorded == {"evalharness.row.latency_ms": 12.5, "evalharness.row.ttft_ms": 12.5,
                        "evalharness.row.prompt_tokens": 30, "evalharness.row.model": "stand-in"}
    chain = _span({"input.value": "q", "output.value": "a", **recorded}, span_kind="CHAIN")
    row = row_from_span(chain)
    assert (row["latency_ms"], row["ttft_ms"], row["prompt_tokens"], row["model"]) == (12.5, 12.5, 30, "stand-in")
    assert row["tpot_ms"] is None and row["completion_tokens"] is None and row["cost_usd"] is None


def test_attribute_names_written_by_llm_span_are_the_ones_read(
    memory_provider: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = memory_provider
    tracer = provider.get_tracer("t")
    with tracing.chain_span("qa", session_id="s-2", user_id="u-3", tracer=tracer):  # noqa: SIM117
        with tracing.llm_span(provider="openai", model="gpt-4o-mini", tracer=tracer) as rec:
            rec.set_output("answer", prompt_tokens=10, completion_tokens=4)
    llm = next(s for s in exporter.get_finished_spans() if s.name == "llm")
    row = row_from_span(
        {
            "context": {
                "trace_id": format(llm.context.trace_id, "032x"),
                "span_id": format(llm.context.span_id, "016x"),
            },
            "start_time": datetime.fromtimestamp(llm.start_time / 1e9, UTC).isoformat(),
            "attributes": dict(llm.attributes or {}),
        }
    )
    assert (row["latency_ms"], row["tpot_ms"], row["cost_usd"]) == (rec.latency_ms, rec.tpot_ms, rec.cost_usd)
    assert (row["prompt_tokens"], row["completion_tokens"], row["response"]) == (10, 4, "answer")
    assert (row["model"], row["session_id"], row["user_id"]) == ("gpt-4o-mini", "s-2", "u-3")


def test_strict_reads_stop_at_a_bad_line_and_name_it(tmp_path: Path) -> None:
    log = tmp_path / "prod.jsonl"
    log.write_text('{"prompt": "p", "response": "r"}\n\n{"prompt": oops}\n', encoding="utf-8")
    rows = iter_rows(log, strict=True)
    assert next(rows) == {"prompt": "p", "response": "r"}  # the good line arrives before the bad one is read
    with pytest.raises(tracing.ProductionLogError, match=r"prod.jsonl:3: line 3 is not valid JSON") as exc:
        next(rows)
    assert isinstance(exc.value, ValueError) and "fix or remove that line" in str(exc.value)
    log.write_text('{"prompt": "p"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(tracing.ProductionLogError, match=r"prod.jsonl:2: .*JSON list, not an object"):
        read_rows(log, strict=True)
    with pytest.raises(tracing.ProductionLogError, match="missing.jsonl does not exist"):
        read_rows(tmp_path / "missing.jsonl")


def test_a_corrupt_line_is_skipped_counted_and_named_and_a_half_written_tail_waits(tmp_path: Path) -> None:
    log = tmp_path / "prod.jsonl"
    log.write_text('{"prompt": "a"}\n{"prompt": oops}\n[1]\n{"prompt": "b"}\n{"prompt": "c", "resp', encoding="utf-8")
    problems = production_log.LogProblems()
    assert read_rows(log, problems=problems) == [{"prompt": "a"}, {"prompt": "b"}]
    assert [n for n, _ in problems.skipped] == [2, 3] and problems.incomplete_tail == 5
    summary = problems.summary() or ""
    assert "2 corrupt lines skipped" in summary and "line 2 (not valid JSON" in summary and "line 3 (a JSON list" in summary
    assert "still being written" in summary
    # strict mode stops at line 2, and never at the tail the app is still appending
    with pytest.raises(tracing.ProductionLogError, match="prod.jsonl:2"):
        read_rows(log, strict=True)
    log.write_text('{"prompt": "a"}\n{"prompt": "c", "resp', encoding="utf-8")
    assert read_rows(log, strict=True) == [{"prompt": "a"}]
    # once the app finishes the line, the next read has it
    with log.open("a", encoding="utf-8") as fh:
        fh.write('onse": "r"}\n')
    assert read_rows(log, strict=True) == [{"prompt": "a"}, {"prompt": "c", "response": "r"}]


def test_log_rows_round_trip(tmp_path: Path) -> None:
    log = tmp_path / "prod.jsonl"
    log.write_text(json.dumps(EXPECTED_ROW) + "\n" + json.dumps(EXPECTED_ROW) + "\n", encoding="utf-8")
    assert read_rows(log) == [EXPECTED_ROW, EXPECTED_ROW]


class _FakeSpans:
    """A fake of ``phoenix.client.Client().spans``: canned span dicts, or an HTTP error; records the call."""

    def __init__(self, reply: list[dict[str, Any]] | Exception) -> None:
        self.reply = reply
        self.calls: list[dict[str, Any]] = []

    def get_spans(self, **kw: Any) -> list[dict[str, Any]]:
        self.calls.append(kw)
        if isinstance(self.reply, Exception):
            raise self.reply
        return self.reply


class _FakeClient:
    def __init__(self, reply: list[dict[str, Any]] | Exception) -> None:
        self.spans = _FakeSpans(reply)


def test_rows_from_phoenix_asks_for_root_spans_and_maps_them() -> None:
    client = _FakeClient([_span(NESTED_ATTRIBUTES)])
    assert rows_from_phoenix("prod", client=client, limit=50) == [EXPECTED_ROW]
    [call] = client.spans.calls
    assert (call["project_identifier"], call["parent_id"], call["limit"]) == ("prod", "null", 50)


def test_rows_from_phoenix_errors_are_production_log_errors() -> None:
    request = httpx.Request("GET", "http://127.0.0.1:6006/v1/projects/nope/spans")
    missing = httpx.HTTPStatusError("404", request=request, response=httpx.Response(404, request=request))
    with pytest.raises(tracing.ProductionLogError, match="HTTP 404 .*no such project"):
        rows_from_phoenix("nope", client=_FakeClient(missing))
    down = httpx.ConnectError("connection refused", request=request)
    with pytest.raises(tracing.ProductionLogError, match="cannot reach Phoenix"):
        rows_from_phoenix("prod", client=_FakeClient(down))


@pytest.mark.slow
def test_rows_from_a_real_phoenix_keep_timings_and_cost(
    phoenix: Any, phoenix_client: Any, project: str
) -> None:
    from tracing_test_helpers import wait_for_spans

    provider = TracerProvider()
    handle = tracing.setup(phoenix.url, project, tracer_provider=provider, schedule_delay_s=0.05)
    try:
        tracer = handle.tracer
        with tracing.chain_span("qa", session_id="s-1", user_id="u-1", tracer=tracer) as chain:  # noqa: SIM117
            with tracing.llm_span(
                provider="openai",
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "Which river?"}],
                attributes={"metadata": json.dumps({"topic": "geography", "language": "en"})},
                tracer=tracer,
            ) as rec:
                rec.first_token()
                rec.set_output("The Nile.", prompt_tokens=12, completion_tokens=3)
        assert handle.force_flush(10)
        wait_for_spans(phoenix_client, project, 2)
    finally:
        handle.shutdown()
        provider.shutdown()
    [row] = rows_from_phoenix(project, base_url=phoenix.url)
    assert list(row) == list(LOG_COLUMNS)
    assert row["latency_ms"] == pytest.approx(rec.latency_ms) and row["ttft_ms"] == pytest.approx(rec.ttft_ms)
    assert row["tpot_ms"] == pytest.approx(rec.tpot_ms) and row["cost_usd"] == pytest.approx(rec.cost_usd)
    # the request is the root span; a root that recorded nothing of its own takes its LLM call's text and figures
    assert (row["prompt"], row["response"]) == ("Which river?", "The Nile.")
    assert (row["prompt_tokens"], row["completion_tokens"]) == (12, 3)
    assert (row["model"], row["topic"], row["session_id"]) == ("gpt-4o-mini", "geography", "s-1")
    assert row["span_id"] == tracing.span_ids(chain.span)[1]
