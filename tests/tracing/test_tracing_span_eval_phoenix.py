"""Per-span evaluation against a real Phoenix: spans sent through tracing.setup, judged by a fake judge model
(FakeFunctionProvider answering with label probabilities as the local model does), annotations read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from tracing_test_helpers import wait_for_spans

import tracing
from experiments.record import load_run
from judges import Completion, ModelClient
from judges.providers.fakes import FakeFunctionProvider
from monitor.span_eval import EXIT_FAILURES, EXIT_NO_MATCH, EXIT_OK, main
from tracing.phoenix_server import PhoenixProcess

pytestmark = pytest.mark.slow

MISSING_PARENT = "cd" * 8


def fake_judge() -> ModelClient:
    """A fake judge model: label probabilities (5 when the judged response mentions the Nile, else 2), then a reason."""
    def reply(request: Any) -> Any:
        user = next(m.content for m in request.messages if m.role == "user")
        good = "Nile" in user.split("Response:\n", 1)[1]
        if request.labels:
            top = " 5" if good else " 2"
            return Completion("", "fake", "fake-judge",
                              label_probs={lab: 0.9 if lab == top else 0.025 for lab in request.labels})
        return " Grounded in the documents." if good else " Not what the documents say."

    return ModelClient(FakeFunctionProvider(reply, model="fake-judge", exact_label_probs=True), cache=None,
                       trace=False)


def send_traces(h: tracing.TracingHandle) -> dict[str, str]:
    """Two QA requests (CHAIN > RETRIEVER, LLM) and one LLM span whose parent never reached Phoenix."""
    ids: dict[str, str] = {}
    tracer = h.tracer
    for tag, docs, answer in (("good", ["The Nile is the longest river."], "The Nile."),
                              ("bad", ["Trains leave hourly."], "Paris.")):
        with tracing.chain_span("qa", input="Which river is longest?", tracer=tracer):
            with tracing.retriever_span("Which river is longest?", documents=docs, tracer=tracer) as r:
                pass
            with tracing.llm_span(provider="fake", model="app", tracer=tracer,
                                  messages=[{"role": "user", "content": "Which river is longest?"}]) as llm:
                llm.set_output(answer)
        ids[f"{tag}_retriever"], ids[f"{tag}_llm"] = tracing.span_ids(r.span)[1], tracing.span_ids(llm.span)[1]
    remote = trace.NonRecordingSpan(trace.SpanContext(trace_id=int("ab" * 16, 16), span_id=int(MISSING_PARENT, 16),
                                                      is_remote=True, trace_flags=trace.TraceFlags(1)))
    token = otel_context.attach(trace.set_span_in_context(remote))
    try:
        with tracing.llm_span(provider="fake", model="app", tracer=tracer,
                              messages=[{"role": "user", "content": "And then?"}]) as orphan:
            orphan.set_output("The Nile again.")
    finally:
        otel_context.detach(token)
    ids["orphan"] = tracing.span_ids(orphan.span)[1]
    assert h.force_flush(10)
    return ids


def read_annotations(client: Any, project: str, span_ids: list[str]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    got: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for a in client.spans.get_span_annotations(span_ids=span_ids, project_identifier=project):
        got.setdefault((a["span_id"], a["name"]), []).append(a)
    return got


def test_per_span_annotations_arrive_in_phoenix(handle: tracing.TracingHandle, phoenix: PhoenixProcess,
                                                phoenix_client: Any, project: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    ids = send_traces(handle)
    wait_for_spans(phoenix_client, project, 7)
    base = ["--phoenix", phoenix.url, "--project", project, "--no-progress"]

    # context relevance of every RETRIEVER span
    out = tmp_path / "ctx.json"
    assert main([*base, "--select", "kind=RETRIEVER has=retrieval.documents", "--criterion", "context_relevance",
                 "--out", str(out)], client=fake_judge()) == EXIT_OK
    printed = capsys.readouterr().out
    assert "context_relevance: n=2 scored=2" in printed and "annotated 2 verdicts" in printed
    got = read_annotations(phoenix_client, project, [ids["good_retriever"], ids["bad_retriever"]])
    good = got[(ids["good_retriever"], "context_relevance")]
    assert len(good) == 1 and good[0]["annotator_kind"] == "LLM" and good[0]["identifier"] == "span_eval"
    assert good[0]["result"]["label"] == "5" and good[0]["result"]["explanation"] == "Grounded in the documents."
    assert good[0]["result"]["score"] == pytest.approx(0.9 * 5 + 0.025 * 10)
    assert got[(ids["bad_retriever"], "context_relevance")][0]["result"]["label"] == "2"
    run = load_run(out)
    assert {c.case_id for c in run.suites[0].cases} == {ids["good_retriever"], ids["bad_retriever"]}
    assert good[0]["metadata"]["run_id"] == run.run_id

    # faithfulness of every LLM span; the orphan has no retrieval to be faithful to: a recorded failure
    out = tmp_path / "faith.json"
    assert main([*base, "--select", "kind=LLM", "--criterion", "faithfulness", "--context", "ancestors",
                 "--out", str(out)], client=fake_judge()) == EXIT_FAILURES
    got = read_annotations(phoenix_client, project, [ids["good_llm"], ids["bad_llm"], ids["orphan"]])
    assert got[(ids["good_llm"], "faithfulness")][0]["result"]["label"] == "5"
    assert got[(ids["bad_llm"], "faithfulness")][0]["result"]["label"] == "2"
    lost = got[(ids["orphan"], "faithfulness")][0]
    assert lost["result"]["label"] == "not_evaluable" and lost["result"]["score"] is None
    assert MISSING_PARENT in lost["result"]["explanation"]
    cases = {c.case_id: c for c in load_run(out).suites[0].cases}
    assert cases[ids["orphan"]].metadata["missing_ancestor"] == MISSING_PARENT
    assert "partial_trace" in cases[ids["orphan"]].scores[0].flags

    # a rerun replaces its annotations (same span, name and identifier) instead of adding more
    assert main([*base, "--select", "kind=LLM after=RETRIEVER", "--criterion", "faithfulness",
                 "--out", str(tmp_path / "again.json")], client=fake_judge()) == EXIT_OK
    again = read_annotations(phoenix_client, project, [ids["good_llm"]])
    assert len(again[(ids["good_llm"], "faithfulness")]) == 1

    capsys.readouterr()
    assert main([*base, "--select", "kind=TOOL", "--criterion", "faithfulness"], client=fake_judge()) == EXIT_NO_MATCH
    assert "read 7 spans" in capsys.readouterr().err
