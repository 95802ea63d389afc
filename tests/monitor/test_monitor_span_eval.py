"""Per-span evaluation on hand-built span dicts with a fake judge model (FakeFunctionProvider: no model runs)."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from experiments.record import load_run
from experiments.report import format_table
from judges import Completion, ModelClient
from judges.providers.fakes import FakeFunctionProvider
from monitor.span_eval import (
    EXIT_ERROR,
    EXIT_FAILURES,
    EXIT_NO_MATCH,
    EXIT_OK,
    SpanContext,
    SpanEvalError,
    evaluate_spans,
    main,
    span_annotations,
    span_case,
    span_criterion,
)
from tracing.span_select import SPAN_KINDS, SpanSelector, SpanSelectorError, Term
from tracing.span_tree import span_nodes

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)
TRACE_A = "a" * 32
TRACE_B = "b" * 32
TRACE_C = "c" * 32


def sid(n: int) -> str:
    return f"{n:016x}"


def span(n: int, kind: str, *, parent: Any = None, trace: Any = TRACE_A, at: Any = 0.0, name: Any = None,
         status: Any = "OK", parent_id: Any = None, **attrs: Any) -> dict[str, Any]:
    """A span dict shaped as phoenix.client's spans.get_spans() returns it (flat attributes)."""
    return {
        "name": name or kind.lower(),
        "context": {"trace_id": trace, "span_id": sid(n)},
        "parent_id": parent_id or (sid(parent) if parent is not None else None),
        "span_kind": kind,
        "start_time": (T0 + timedelta(seconds=at)).isoformat(),
        "end_time": (T0 + timedelta(seconds=at + 0.5)).isoformat(),
        "status_code": status,
        "status_message": "boom" if status == "ERROR" else "",
        "attributes": {"openinference.span.kind": kind, **attrs},
    }


def docs(*texts: str) -> dict[str, Any]:
    return {f"retrieval.documents.{i}.document.content": t for i, t in enumerate(texts)}


def llm_attrs(question: str, answer: str | None) -> dict[str, Any]:
    a: dict[str, Any] = {"llm.input_messages.0.message.role": "user",
                         "llm.input_messages.0.message.content": question,
                         "input.value": json.dumps([{"role": "user", "content": question}]),
                         "llm.model_name": "gpt-4o-mini"}
    if answer is not None:
        a["output.value"] = answer
    return a


def qa_spans() -> list[dict[str, Any]]:
    """Trace A: a QA request (CHAIN > RETRIEVER, then LLM); an LLM call before any retrieval; trace B: an agent
    whose LLM has a RETRIEVER child (not a preceding retrieval), then an LLM whose parent was never stored; trace
    C: an LLM whose parent was never stored and no retrieval at all."""
    return [
        span(1, "CHAIN", at=0, name="qa", **{"input.value": "Which river is longest?", "output.value": "The Nile.",
                                             "metadata": json.dumps({"topic": "geography"})}),
        span(2, "LLM", parent=1, at=0.1, name="rewrite", **llm_attrs("rewrite: which river", "longest river")),
        span(3, "RETRIEVER", parent=1, at=1, name="retrieve",
             **{"input.value": "Which river is longest?", **docs("The Nile is the longest river.", "Paris is in France.")}),
        span(4, "LLM", parent=1, at=2, name="answer", **llm_attrs("Which river is longest?", "The Nile.")),
        span(10, "AGENT", trace=TRACE_B, at=0, name="agent", **{"input.value": "plan a trip"}),
        span(11, "LLM", parent=10, trace=TRACE_B, at=1, name="think", **llm_attrs("plan a trip", "GARBLE")),
        span(12, "RETRIEVER", parent=11, trace=TRACE_B, at=1.2, name="lookup", **docs("Trains run hourly.")),
        span(13, "LLM", trace=TRACE_B, at=3, name="orphan", parent_id="f" * 16,
             **llm_attrs("what did we find?", "Trains run hourly.")),
        span(14, "RETRIEVER", trace=TRACE_B, at=4, name="empty", status="ERROR", **{"input.value": "nothing"}),
        span(20, "LLM", trace=TRACE_C, at=5, name="lost", parent_id="e" * 16, **llm_attrs("where?", "Maybe.")),
    ]


def fake_client(fn: Any = None) -> tuple[ModelClient, FakeFunctionProvider]:
    """A fake judge: 5 when the judged response mentions the Nile, 2 otherwise, an unreadable reply for GARBLE."""
    def reply(request: Any) -> str:
        response = request.messages[-1].content.split("Response:\n", 1)[1].split("\n\nReply with", 1)[0]
        if "GARBLE" in response:
            return "I would rather not say."
        return "Score: 5\nIt is supported." if "Nile" in response else "Score: 2\nMostly unrelated."

    provider = FakeFunctionProvider(fn or reply)
    return ModelClient(provider, cache=None, trace=False), provider


# --- the selector ----------------------------------------------------------------------------------------


def picked(spec: str | SpanSelector) -> list[str]:
    tree = span_nodes(qa_spans())
    sel = spec if isinstance(spec, SpanSelector) else SpanSelector.parse(spec)
    return [n.name for n in sel.select(tree)]


def test_selector_kinds_attributes_and_structure() -> None:
    assert picked("kind=RETRIEVER") == ["retrieve", "lookup", "empty"]
    assert picked("kind=RETRIEVER has=retrieval.documents") == ["retrieve", "lookup"]
    assert picked("kind=llm,retriever status=OK under=CHAIN") == ["rewrite", "retrieve", "answer"]
    # after=RETRIEVER: a retrieval earlier in the same trace; a RETRIEVER child of the span does not count
    assert picked("kind=LLM after=RETRIEVER") == ["answer", "orphan"]
    assert picked("kind=LLM !after=RETRIEVER") == ["rewrite", "think", "lost"]
    assert picked("kind=RETRIEVER under=LLM") == ["lookup"]
    assert picked("metadata.topic=geography") == ["qa"]  # looked up inside the JSON metadata
    assert picked("kind=LLM llm.model_name~gpt-4*") == ["rewrite", "think", "answer", "orphan", "lost"]
    assert picked("'input.value~/WHICH RIVER/i' kind=RETRIEVER") == ["retrieve"]
    assert picked("name~/^(an|or)/") == ["answer", "orphan"]
    assert picked("status=error") == ["empty"]
    assert picked("kind=LLM output.value='The Nile.'") == ["answer"]


def test_selector_numbers_compare_as_numbers_and_python_builds_the_same() -> None:
    spans = [span(1, "LLM", **{"llm.token_count.total": 12}), span(2, "LLM", **{"llm.token_count.total": 7})]
    tree = span_nodes(spans)
    assert [n.span_id for n in SpanSelector.parse("llm.token_count.total=12.0").select(tree)] == [sid(1)]
    built = SpanSelector.of(Term.kind("LLM"), Term.after("RETRIEVER"))
    assert built == SpanSelector.parse("kind=LLM after=RETRIEVER")
    assert picked(built) == ["answer", "orphan"]
    assert picked(SpanSelector.of(Term.exists("llm.model_name").negated(), Term.glob("name", "r*"))) == ["retrieve"]
    for spec in ("kind=LLM,TOOL has=x !status=ERROR", "'a.b~/x y/i' under=AGENT", "metadata.topic='two words'"):
        sel = SpanSelector.parse(spec)
        assert SpanSelector.parse(str(sel)) == sel  # str() gives a spec that reads back the same


@pytest.mark.parametrize(("spec", "named"), [
    ("kind=LLMX", "unknown span kind LLMX"),
    ("after=RETRIVER", "unknown span kind RETRIVER"),
    ("kind=", "names no span kind"),
    ("river", "a term is KEY=VALUE"),
    ("x~/(/", "does not compile"),
    ("x~/abc", "closing '/'"),
    ("status=BROKEN", "status is one of OK, ERROR, UNSET"),
    ("has=", "is not an attribute name"),
    ("kind='LLM", "close the quotes"),
    ("", "give at least one term"),
])
def test_a_bad_selector_names_the_term_and_the_valid_forms(spec: str, named: str) -> None:
    with pytest.raises(SpanSelectorError, match="Valid forms") as err:
        SpanSelector.parse(spec)
    assert named in str(err.value)
    if named.startswith("unknown span kind"):
        assert ", ".join(SPAN_KINDS) in str(err.value)  # the valid kinds are listed


# --- what the judge sees ---------------------------------------------------------------------------------


def test_views_documents_grounded_and_bounded_context() -> None:
    tree = span_nodes(qa_spans())
    ret, answer, orphan, lost = tree.by_id(sid(3)), tree.by_id(sid(4)), tree.by_id(sid(13)), tree.by_id(sid(20))
    assert ret is not None and answer is not None and orphan is not None and lost is not None

    case = span_case(tree, ret, "documents")
    assert not isinstance(case, str)
    assert case.input == "Which river is longest?"
    assert case.output == "[1] The Nile is the longest river.\n[2] Paris is in France."

    case = span_case(tree, answer, "grounded", SpanContext(ancestors=True, children=True))
    assert not isinstance(case, str)
    assert case.input == "user: Which river is longest?" and case.output == "The Nile."
    assert case.context is not None and case.context.startswith("Retrieved documents:\n[1] The Nile is")
    assert "ancestor CHAIN 'qa'" in case.context
    assert case.metadata["documents_from"] == [sid(3)]

    # the context is bounded: a huge ancestor output is clipped to max_chars
    big = qa_spans()
    big[0]["attributes"]["output.value"] = "x" * 50_000
    tree_big = span_nodes(big)
    node = tree_big.by_id(sid(4))
    assert node is not None
    case = span_case(tree_big, node, "io", SpanContext(ancestors=True, max_chars=300))
    assert not isinstance(case, str) and case.context is not None
    assert len(case.context) < 500 and "more chars]" in case.context

    # an orphan: judged with what it has, the missing parent recorded and shown; its trace's earlier
    # retrieval (inside another span) still grounds it
    case = span_case(tree, orphan, "grounded", SpanContext(ancestors=True))
    assert not isinstance(case, str)
    assert case.metadata["missing_ancestor"] == "f" * 16 and case.metadata["documents_from"] == [sid(12)]
    assert case.context is not None and "is not stored" in case.context
    why = span_case(tree, lost, "grounded")
    assert isinstance(why, str) and "nothing to be faithful to" in why and "e" * 16 in why


def test_context_and_criterion_errors_name_the_fix() -> None:
    with pytest.raises(SpanEvalError, match="unknown part parents"):
        SpanContext.parse("ancestors,parents")
    with pytest.raises(SpanEvalError, match="built-in: context_relevance, faithfulness, answer_relevance"):
        span_criterion("helpfulness")
    assert span_criterion("helpfulness", rubric="5: helps 1: does not").view == "io"
    assert span_criterion("faithfulness").view == "grounded"


# --- judging ---------------------------------------------------------------------------------------------


def test_evaluate_records_scores_failures_and_partial_traces(tmp_path: Path) -> None:
    client, provider = fake_client()
    ev = asyncio.run(evaluate_spans(qa_spans(), "kind=LLM", ["faithfulness", "answer_relevance"], client,
                                    context=SpanContext(ancestors=True), source="unit"))
    by_id = {r.case_id: r for r in ev.records}
    assert list(by_id) == [sid(2), sid(11), sid(4), sid(13), sid(20)]  # start order
    faith = by_id[sid(4)].score_of("pointwise:faithfulness")
    assert faith is not None and faith.score == 5.0 and faith.failure is None and faith.span_id == sid(4)
    assert faith.trace_id == TRACE_A and faith.prob_source == "sampling" and faith.label_probs == {
        "1": 0.0, "2": 0.0, "3": 0.0, "4": 0.0, "5": 1.0}
    # no preceding retrieval: not evaluable, a recorded failure and no score (the other criterion still judged)
    rewrite = by_id[sid(2)]
    f2 = rewrite.score_of("pointwise:faithfulness")
    assert f2 is not None and f2.score is None and "not_evaluable" in f2.flags and "after=RETRIEVER" in (f2.failure or "")
    relevance = rewrite.score_of("pointwise:answer_relevance")
    assert relevance is not None and relevance.score == 2.0
    # an unreadable reply: a judge failure with the raw text kept, never a 0
    think = by_id[sid(11)].score_of("pointwise:answer_relevance")
    assert think is not None and think.score is None and "judge_failure" in think.flags
    assert "no valid label" in (think.failure or "") and "rather not say" in think.raw
    # orphans: judged with what they have; the missing parent recorded and flagged
    orphan = by_id[sid(13)]
    assert orphan.metadata["missing_ancestor"] == "f" * 16
    for s in orphan.scores:
        assert s.score == 2.0 and "partial_trace" in s.flags
    assert by_id[sid(20)].metadata["missing_ancestor"] == "e" * 16
    assert ev.counts("faithfulness") == {"n": 5, "scored": 2, "judge_failures": 0, "not_evaluable": 3,
                                         "partial_trace": 2}
    assert ev.counts("answer_relevance") == {"n": 5, "scored": 4, "judge_failures": 1, "not_evaluable": 0,
                                             "partial_trace": 2}
    lines = ev.summary_lines()
    assert lines[0].startswith("read 10 spans in 3 traces of unit") and "5 matched 'kind=LLM'" in lines[0]
    assert any(ln.startswith("answer_relevance: n=5 scored=4 mean 2.75 [") and "judge failures=1" in ln
               for ln in lines)
    assert len(provider.requests) == 2 + 4 + 3  # judged views only; the GARBLE reply was asked 3 times

    # the results file is the one record: it loads, and the report reads it
    run = ev.run_record("spans-unit")
    path = tmp_path / "spans.json"
    path.write_text(run.model_dump_json())
    back = load_run(path)
    suite = back.suites[0]
    assert suite.kind == "spans" and [c.case_id for c in suite.cases] == list(by_id)
    summary = suite.summary.scorer("pointwise:answer_relevance")
    assert summary is not None and summary.n_scored == 4 and summary.failures == 1
    assert summary.mean.value == pytest.approx(2.75)
    assert "spans-unit" in format_table(back.suites)

    anns, skipped = span_annotations(ev)
    assert skipped == [] and len(anns) == 10
    got = {(a.span_id, a.name): a for a in anns}
    assert got[(sid(4), "faithfulness")].score == 5.0 and got[(sid(4), "faithfulness")].annotator_kind == "LLM"
    assert got[(sid(2), "faithfulness")].label == "not_evaluable" and got[(sid(2), "faithfulness")].score is None
    failed = got[(sid(11), "answer_relevance")]
    assert failed.label == "judge_failure" and failed.score is None and "no valid label" in (failed.explanation or "")


def test_exact_label_probabilities_and_the_explanation_reach_the_annotation() -> None:
    def local_like(request: Any) -> Any:  # a fake answering as the local model does: label probs, then a reason
        user = next(m.content for m in request.messages if m.role == "user")
        good = "Nile" in user.split("Response:\n", 1)[1]
        if request.labels:
            top = " 5" if good else " 2"
            return Completion("", "fake", "fake-model",
                              label_probs={lab: 0.8 if lab == top else 0.05 for lab in request.labels})
        return " It is supported." if good else " Mostly unrelated."

    client = ModelClient(FakeFunctionProvider(local_like, exact_label_probs=True), cache=None, trace=False)
    ev = asyncio.run(evaluate_spans(qa_spans(), "kind=RETRIEVER has=retrieval.documents", "context_relevance", client))
    scores = [r.scores[0] for r in ev.records]
    assert [s.label for s in scores] == ["5", "2"] and [s.prob_source for s in scores] == ["exact", "exact"]
    assert scores[0].score == pytest.approx(0.8 * 5 + 0.05 * (1 + 2 + 3 + 4))
    anns, _ = span_annotations(ev)
    assert [(a.span_id, a.label, a.explanation) for a in anns] == [
        (sid(3), "5", "It is supported."), (sid(12), "2", "Mostly unrelated.")]
    assert anns[0].metadata is not None and anns[0].metadata["label_probs"]["5"] == pytest.approx(0.8)


def test_limit_keeps_the_latest_matches_and_a_raising_judge_is_recorded() -> None:
    def explode(request: Any) -> str:
        raise RuntimeError("provider bug")

    client, _ = fake_client(explode)
    ev = asyncio.run(evaluate_spans(qa_spans(), "kind=LLM", "answer_relevance", client, limit=2))
    assert [r.case_id for r in ev.records] == [sid(13), sid(20)] and ev.matched == 5
    for r in ev.records:
        s = r.scores[0]
        assert s.score is None and "RuntimeError: provider bug" in (s.failure or "")


# --- the command line ------------------------------------------------------------------------------------


def write_spans(tmp_path: Path) -> Path:
    path = tmp_path / "spans.jsonl"
    path.write_text("\n".join(json.dumps(s) for s in qa_spans()) + "\n")
    return path


def test_cli_writes_results_and_prints_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client, _ = fake_client()
    out = tmp_path / "r.json"
    code = main(["--spans", str(write_spans(tmp_path)), "--select", "kind=RETRIEVER has=retrieval.documents",
                 "--criterion", "context_relevance", "--out", str(out), "--no-progress"], client=client)
    assert code == EXIT_OK
    text = capsys.readouterr().out
    assert "context_relevance: n=2 scored=2 mean 3.50" in text and f"results: {out}" in text
    run = load_run(out)
    assert [c.case_id for c in run.suites[0].cases] == [sid(3), sid(12)]
    assert run.suites[0].cases[0].task is not None and run.suites[0].cases[0].task.span_id == sid(3)


def test_cli_exit_codes_for_failures_no_match_and_bad_input(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    client, _ = fake_client()
    spans = str(write_spans(tmp_path))
    common = ["--spans", spans, "--no-progress", "--out", str(tmp_path / "x.json")]
    assert main([*common, "--select", "kind=LLM", "--criterion", "faithfulness"], client=client) == EXIT_FAILURES
    capsys.readouterr()
    assert main([*common, "--select", "kind=TOOL", "--criterion", "faithfulness"], client=client) == EXIT_NO_MATCH
    err = capsys.readouterr().err
    assert "no span of file:" in err and "matched 'kind=TOOL'" in err and "LLM 5" in err
    assert main([*common, "--select", "kind=TOOLS", "--criterion", "faithfulness"], client=client) == EXIT_ERROR
    assert "unknown span kind TOOLS" in capsys.readouterr().err
    assert main([*common, "--select", "kind=LLM", "--criterion", "helpfulness"], client=client) == EXIT_ERROR
    assert "--rubric" in capsys.readouterr().err
    assert main([*common, "--select", "kind=LLM", "--criterion", "faithfulness", "--context", "parents"],
                client=client) == EXIT_ERROR
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"name": "x"}\nnot json\n')
    assert main(["--spans", str(bad), "--select", "kind=LLM", "--criterion", "faithfulness"], client=client) == EXIT_ERROR
    assert "neither a JSON list nor JSONL" in capsys.readouterr().err


def test_cli_phoenix_unreachable_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    client, _ = fake_client()
    code = main(["--phoenix", f"http://127.0.0.1:{port}", "--project", "p", "--select", "kind=LLM",
                 "--criterion", "faithfulness", "--no-progress"], client=client)
    assert code == EXIT_ERROR
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "is it running" in err
