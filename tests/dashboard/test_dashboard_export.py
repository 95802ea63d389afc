"""Export: golden JSONL that loads back as datasets, few-shot files the judges load, Phoenix HUMAN annotations."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from dashboard_helpers import FakeClock

from dashboard.cli import main
from judges import Case, PointwiseJudge, load_cases, load_few_shot
from review import (
    NewItem,
    ReviewStore,
    export_to_phoenix,
    fewshot_rows,
    golden_rows,
    span_annotations,
    write_golden,
)
from review.export import write_fewshot
from review.fill import PAIRWISE_CHOICES, PAIRWISE_SCORES
from review.models import LabelRecord
from tracing.redaction import Redactor


def _rec(
    item: int,
    reviewer: str,
    score: float | None,
    note: str = "",
    *,
    kind: str = "label",
    span: str | None = None,
    category: str | None = None,
    criterion: str = "helpfulness",
    created: float = 0.0,
    output: str | None = None,
    suite: str | None = None,
    meta: dict[str, Any] | None = None,
    trace: str | None = None,
) -> LabelRecord:
    return LabelRecord(
        item_id=item,
        queue="calibration",
        source_id=f"case-{item}",
        criterion=criterion,
        reviewer=reviewer,
        kind=kind,
        score=score,
        category=category,
        note=note,
        created=created,
        judge_score=3.0,
        input=f"in {item}",
        output=output if output is not None else f"out {item}",
        context=None,
        expected=None,
        trace_id=trace,
        span_id=span,
        suite=suite,
        meta=meta or {},
    )


RECORDS = [
    _rec(1, "ann", 5, "complete and correct", span="a" * 16, category="good"),
    _rec(1, "ben", 4, "fine", span="a" * 16, category="good"),
    _rec(2, "ann", 1, "refuses a harmless request", span="b" * 16, category="bad"),
    _rec(3, "ann", 1, "wrong"),
    _rec(3, "ben", 5, "great"),  # reviewers disagree by 4: not a few-shot example
    _rec(4, "ann", 3, ""),  # no note: not a few-shot example
    _rec(5, "ann", None, "garbled output", kind="flag", span="c" * 16),
]


def test_golden_rows_merge_reviewers_with_provenance() -> None:
    rows = {g.row["id"]: g for g in golden_rows(RECORDS)}
    assert set(rows) == {"case-1", "case-2", "case-3", "case-4"}  # the flag is not a label
    one = rows["case-1"]
    # no eval kind, no context: the generic "qa" shape
    assert (one.kind, one.criterion) == ("qa", "helpfulness")
    assert one.row["question"] == "in 1" and one.row["answer"] == "out 1"
    assert one.row["human_score"] == 5  # mean 4.5, rounded half up
    assert rows["case-3"].row["human_score"] == 3  # 1 and 5 disagree: the mean
    prov = one.row["provenance"]
    assert prov["reviewers"] == ["ann", "ben"] and prov["n_reviewers"] == 2
    assert prov["scores"] == {"ann": 5.0, "ben": 4.0} and prov["label"] == "good"
    assert prov["notes"] == ["complete and correct", "fine"] and prov["span_id"] == "a" * 16
    assert prov["queues"] == ["calibration"] and prov["sources"] == ["case-1"]


def test_write_golden_is_idempotent_and_loads(tmp_path: Path) -> None:
    paths = write_golden(RECORDS, tmp_path)
    path = paths[("qa", "helpfulness")]
    assert path == tmp_path / "human" / "qa" / "helpfulness.jsonl"
    first = path.read_text()
    rows = [json.loads(line) for line in first.splitlines()]
    assert [r["id"] for r in rows] == ["case-1", "case-2", "case-3", "case-4"]
    write_golden(RECORDS, tmp_path)
    assert path.read_text() == first
    cases = load_cases(path, "qa")
    assert [c.metadata["human_score"] for c in cases] == [5, 1, 3, 3]


def test_fewshot_rows_spread_levels_and_need_agreement_and_notes(tmp_path: Path) -> None:
    rows = fewshot_rows(RECORDS, "helpfulness", k=5)
    assert rows == [
        {"input": "in 2", "output": "out 2", "score": 1, "reasoning": "refuses a harmless request"},
        # 5 and 4: the mean 4.5 rounded half up, because the judge answers with integer labels
        {"input": "in 1", "output": "out 1", "score": 5, "reasoning": "complete and correct fine"},
    ]
    paths = write_fewshot(RECORDS, tmp_path, k=5)
    lines = paths["helpfulness"].read_text().splitlines()
    assert paths["helpfulness"] == tmp_path / "fewshot" / "helpfulness.jsonl"
    assert [set(json.loads(x)) for x in lines] == [{"input", "output", "score", "reasoning"}] * 2
    examples = load_few_shot(paths["helpfulness"])  # the judges read exactly this file
    assert [(e.score, e.reasoning) for e in examples] == [
        (1.0, "refuses a harmless request"),
        (5.0, "complete and correct fine"),
    ]


def test_span_annotations_mapping() -> None:
    import tracing

    anns = {a.span_id: a for a in span_annotations(RECORDS)}
    assert set(anns) == {"a" * 16, "b" * 16}
    a = anns["a" * 16]
    assert isinstance(a, tracing.SpanAnnotation) and a.annotator_kind == "HUMAN"
    # the one naming rule: name = criterion, identifier = the source ("human"), beside the judges' annotations
    assert (a.name, a.identifier, a.score, a.label) == ("helpfulness", "human", 4.5, "good")
    assert a.explanation == "2 reviewers: complete and correct | fine"
    with pytest.raises(tracing.AnnotationError, match="'not-a-span'"):
        span_annotations([_rec(9, "ann", 3, span="not-a-span")])
    # a label keeps the labelled span's trace, which parents its evaluation event to the span
    assert a.trace_id is None
    [traced] = span_annotations([_rec(9, "ann", 3, span="c" * 16, trace="d" * 32)])
    assert traced.trace_id == "d" * 32


def test_export_to_phoenix_sends_human_annotations() -> None:
    pytest.importorskip("tracing.annotations", reason="the tracing library is not in this checkout")
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:  # a fake Phoenix endpoint (MockTransport)
        seen.append({"path": request.url.path, "body": json.loads(request.content)})
        return httpx.Response(200, json={"data": [{"id": "1"}, {"id": "2"}]})

    n = export_to_phoenix(RECORDS, "http://127.0.0.1:6006", transport=httpx.MockTransport(handler))
    assert n == 2
    [call] = seen
    assert call["path"] == "/v1/span_annotations"
    by_span = {d["span_id"]: d for d in call["body"]["data"]}
    assert by_span["a" * 16]["annotator_kind"] == "HUMAN" and by_span["a" * 16]["identifier"] == "human"
    assert by_span["a" * 16]["result"] == {
        "score": 4.5,
        "label": "good",
        "explanation": "2 reviewers: complete and correct | fine",
    }


def test_export_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dashboard_helpers import sample_items

    db = tmp_path / "r.sqlite"
    store = ReviewStore(db)
    store.add_items(sample_items(3))
    for who, score in (("ann", 2), ("ben", 4), ("cat", 5)):
        lease = store.claim_next(who)
        assert lease is not None
        store.submit(lease, score=score, note=f"note by {who}")
    store.close()
    assert main(["export", "--db", str(db), "--datasets", str(tmp_path / "ds")]) == 0
    out = capsys.readouterr().out
    assert "golden rag/helpfulness" in out and "few-shot helpfulness" in out  # sample items have a context
    golden = tmp_path / "ds" / "human" / "rag" / "helpfulness.jsonl"
    assert sorted(c.metadata["human_score"] for c in load_cases(golden, "rag")) == [2, 4, 5]


def test_export_redact_masks_personal_data_and_keeps_ids(tmp_path: Path) -> None:
    """`export --redact`: e-mails, phones and keys in inputs, outputs and notes are masked; ids and reviewers stay."""
    secret_in, secret_out, secret_note = "jane.doe@example.com", "+1 (415) 555-2671", "sk-proj-Abc123Def456Ghi789Jkl012"
    recs = [replace(_rec(1, "ann", 5, f"key was {secret_note}", span="a" * 16), input=f"mail {secret_in} please",
                    output=f"call {secret_out}"),
            replace(_rec(1, "ben", 5, "fine", span="a" * 16), input=f"mail {secret_in} please",
                    output=f"call {secret_out}")]
    plain = write_golden(recs, tmp_path / "plain")[("qa", "helpfulness")].read_text()
    assert secret_in in plain and secret_out in plain and secret_note in plain  # so the check below can fail
    paths = write_golden(recs, tmp_path / "red", redactor=Redactor())
    text = paths[("qa", "helpfulness")].read_text()
    assert secret_in not in text and "555-2671" not in text and secret_note not in text
    row = json.loads(text)
    assert row["id"] == "case-1" and row["provenance"]["reviewers"] == ["ann", "ben"]
    assert row["provenance"]["span_id"] == "a" * 16 and load_cases(paths[("qa", "helpfulness")], "qa")
    few = write_fewshot(recs, tmp_path / "red", k=2, redactor=Redactor())["helpfulness"].read_text()
    assert secret_in not in few and secret_note not in few


# ---------------------------------------------------------------- review store -> golden file -> load_cases


def _eval_item(
    kind: str,
    case_id: str,
    input: str,
    output: str,
    *,
    queue: str = "calibration",
    overlap: int = 2,
    context: str | None = None,
    expected: str | None = None,
    scale: tuple[float, float] | None = (1, 5),
    criterion: str = "quality",
) -> NewItem:
    """An item the way ``review.fill`` makes one from an eval case."""
    pairwise = kind == "pairwise"
    return NewItem(
        queue=queue,
        source_id=f"eval:{kind}-suite:{criterion}:{case_id}:0123abcd",
        input=input,
        output=output,
        context=context,
        expected=expected,
        criterion=criterion,
        suite=f"{kind}-suite",
        scale=None if pairwise else scale,
        categories=PAIRWISE_CHOICES if pairwise else (),
        judge_score=0.5 if pairwise else 3.0,
        overlap=overlap,
        trace_id="f" * 32,
        span_id="e" * 16,
        meta={
            "case_id": case_id,
            "judge": "pointwise:quality",
            "kind": kind,
            "passed": True,
            "failure": None,
        },
    )


def _label(
    store: ReviewStore, clock: FakeClock, who: str, *, queue: str | None = None, **answer: Any
) -> None:
    lease = store.claim_next(who, queue=queue)
    assert lease is not None, f"nothing left for {who} in {queue}"
    if answer.get("category") in PAIRWISE_SCORES:  # as the review page does: a preference is also a score
        answer["score"] = PAIRWISE_SCORES[answer["category"]]
    store.submit(lease, **answer)
    clock.advance(60)


def _export_one(store: ReviewStore, tmp_path: Path, kind: str, criterion: str = "quality") -> list[Case]:
    paths = write_golden(store.labels(), tmp_path / "ds")
    assert set(paths) == {(kind, criterion)}
    assert paths[(kind, criterion)] == tmp_path / "ds" / "human" / kind / f"{criterion}.jsonl"
    return load_cases(paths[(kind, criterion)], kind)


def _check_provenance(case: Case, store: ReviewStore, *, queues: list[str], reviewers: list[str]) -> dict:
    prov = case.metadata["provenance"]
    last = max(r.created for r in store.labels())
    assert prov["reviewers"] == reviewers and prov["n_reviewers"] == len(reviewers)
    assert prov["queues"] == queues and prov["criterion"] == "quality"
    assert datetime.fromisoformat(prov["labelled_at"]).timestamp() == last  # the last label's time, ISO 8601
    return prov


def test_summarization_round_trip(store: ReviewStore, clock: FakeClock, tmp_path: Path) -> None:
    item = _eval_item("summarization", "sum-01", "The long article.", "A summary.", expected="The reference.")
    store.add_items([item])
    _label(store, clock, "ann", score=4, note="misses a figure")
    _label(store, clock, "ben", score=5)
    [case] = _export_one(store, tmp_path, "summarization")
    assert (case.id, case.input, case.output, case.expected) == (
        "sum-01",
        "The long article.",
        "A summary.",
        "The reference.",
    )
    assert case.metadata["human_score"] == 5  # (4 + 5) / 2 = 4.5, half up
    prov = _check_provenance(case, store, queues=["calibration"], reviewers=["ann", "ben"])
    assert prov["sources"] == [item.source_id] and prov["suite"] == "summarization-suite"
    assert (prov["trace_id"], prov["span_id"], prov["judge_score"]) == ("f" * 32, "e" * 16, 3.0)
    assert prov["scores"] == {"ann": 4.0, "ben": 5.0} and prov["scale"] == [1.0, 5.0]
    assert prov["notes"] == ["misses a figure"]


def test_rag_round_trip_keeps_the_passages(store: ReviewStore, clock: FakeClock, tmp_path: Path) -> None:
    context = "[1] The desk opens at 9.\n\n[2] On Saturdays it opens at 10."  # how RagRow.to_case joins them
    store.add_items(
        [_eval_item("rag", "rag-06", "When on Saturday?", "At 10.", context=context, expected="10:00")]
    )
    _label(store, clock, "ann", score=2)
    _label(store, clock, "ben", score=3)
    [case] = _export_one(store, tmp_path, "rag")
    row = json.loads((tmp_path / "ds" / "human" / "rag" / "quality.jsonl").read_text())
    assert row["contexts"] == ["The desk opens at 9.", "On Saturdays it opens at 10."]
    assert (case.id, case.context, case.output, case.expected) == ("rag-06", context, "At 10.", "10:00")
    assert case.metadata["human_score"] == 3  # 2.5 rounds up
    _check_provenance(case, store, queues=["calibration"], reviewers=["ann", "ben"])


@pytest.mark.parametrize(
    ("answers", "preferred"), [(("A", "A"), "A"), (("B", "tie"), "tie"), (("A", "B"), "tie")]
)
def test_pairwise_round_trip(
    store: ReviewStore, clock: FakeClock, tmp_path: Path, answers: tuple[str, str], preferred: str
) -> None:
    shown = "A: A hash table maps keys to slots.\n\nB: It is a table."  # CaseRecord.shown_output
    store.add_items([_eval_item("pairwise", "pw-01", "What is a hash table?", shown)])
    _label(store, clock, "ann", category=answers[0])
    _label(store, clock, "ben", category=answers[1])
    [case] = _export_one(store, tmp_path, "pairwise")
    assert (case.id, case.input) == ("pw-01", "What is a hash table?")
    assert (case.output_a, case.output_b) == ("A hash table maps keys to slots.", "It is a table.")
    assert case.metadata["preferred"] == preferred  # majority; a split between answers is a tie
    prov = _check_provenance(case, store, queues=["calibration"], reviewers=["ann", "ben"])
    assert "label" not in prov  # the preference is the row's label


def test_pairwise_output_that_does_not_split_is_skipped(
    store: ReviewStore, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shown = "A: first\n\nB: quoted\n\nB: again"  # two "B:" markers: which is response B?
    store.add_items([_eval_item("pairwise", "pw-02", "Q?", shown, overlap=1)])
    _label(store, clock, "ann", category="A")
    with caplog.at_level(logging.WARNING, logger="review.export"):
        assert write_golden(store.labels(), tmp_path) == {}
    assert "skipped case 'pw-02'" in caplog.text and "two responses" in caplog.text


@pytest.mark.parametrize(("context", "kind"), [("Opening hours: 9 to 17.", "rag"), (None, "qa")])
def test_production_audit_round_trip(
    store: ReviewStore, clock: FakeClock, tmp_path: Path, context: str | None, kind: str
) -> None:
    item = NewItem(  # as fill.audit_items makes it; the app's own "kind" field must not pick the schema
        queue="audit",
        source_id="prod:" + "c" * 16,
        input="When do you open?",
        output="At nine.",
        context=context,
        criterion="quality",
        scale=(1, 5),
        overlap=2,
        span_id="c" * 16,
        trace_id="d" * 32,
        meta={"topic": "hours", "kind": "chat"},
    )
    store.add_items([item])
    _label(store, clock, "ann", score=4)
    _label(store, clock, "ben", score=4, note="right, terse")
    [case] = _export_one(store, tmp_path, kind)
    assert (case.id, case.input, case.output) == ("prod:" + "c" * 16, "When do you open?", "At nine.")
    assert case.context == (f"[1] {context}" if context else None)
    assert case.metadata["human_score"] == 4
    prov = _check_provenance(case, store, queues=["audit"], reviewers=["ann", "ben"])
    assert prov["sources"] == ["prod:" + "c" * 16] and "suite" not in prov and prov["span_id"] == "c" * 16


def test_same_case_in_escalation_and_calibration_is_one_row(
    store: ReviewStore, clock: FakeClock, tmp_path: Path
) -> None:
    # fill puts one eval case in both queues (same source id); the store lets ann take it once, in any queue.
    esc = _eval_item("summarization", "sum-07", "Article.", "Summary.", queue="escalation", overlap=1)
    cal = _eval_item("summarization", "sum-07", "Article.", "Summary.", queue="calibration", overlap=2)
    store.add_items([esc, cal])
    _label(store, clock, "ann", queue="escalation", score=2, note="first look")
    assert store.claim_next("ann", queue="calibration") is None
    _label(store, clock, "ben", queue="calibration", score=5)
    ann_esc, ben_cal = store.labels()
    # A store filled before cases were unique per reviewer can hold ann's second look in the other queue:
    # the export counts her once, with her latest label.
    ann_cal = replace(
        ann_esc, item_id=ben_cal.item_id, queue="calibration", score=4.0, note="second look",
        created=ben_cal.created - 30,
    )  # fmt: skip
    [g] = golden_rows([ann_esc, ann_cal, ben_cal])
    # (4 + 5) / 2 = 4.5 -> 5 (all three labels would give 3.67 -> 4)
    assert g.row["id"] == "sum-07" and g.row["human_score"] == 5
    assert g.row["provenance"]["scores"] == {"ann": 4.0, "ben": 5.0}
    assert g.row["provenance"]["queues"] == ["calibration"] and g.row["provenance"]["n_reviewers"] == 2
    # What the store holds now: ann's escalation label and ben's calibration label, one row of two reviewers
    [case] = _export_one(store, tmp_path, "summarization")
    assert case.id == "sum-07" and case.metadata["human_score"] == 4  # (2 + 5) / 2 = 3.5 -> 4
    prov = _check_provenance(case, store, queues=["calibration", "escalation"], reviewers=["ann", "ben"])
    assert prov["scores"] == {"ann": 2.0, "ben": 5.0}


def test_out_of_scale_scores_are_mapped_or_skipped(
    store: ReviewStore, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store.add_items(
        [
            # a 0..1 scale: mapped linearly onto 1..5
            _eval_item("rag", "rag-01", "Q1?", "A1.", scale=(0, 1), overlap=2),
            # no scale at all and a score of 0.8: nothing to map from, so no row
            _eval_item("rag", "rag-02", "Q2?", "A2.", scale=None, overlap=1),
        ]
    )
    _label(store, clock, "ann", score=0.5)
    _label(store, clock, "ben", score=1.0)
    _label(store, clock, "cat", score=0.8)
    with caplog.at_level(logging.WARNING, logger="review.export"):
        cases = _export_one(store, tmp_path, "rag")
    assert [c.id for c in cases] == ["rag-01"]
    assert cases[0].metadata["human_score"] == 4  # mean 0.75 -> 1 + 4 * 0.75 = 4
    assert cases[0].metadata["provenance"]["scores"] == {"ann": 0.5, "ben": 1.0}
    assert cases[0].metadata["provenance"]["scale"] == [0.0, 1.0]
    assert "skipped case 'rag-02'" in caplog.text and "outside 1..5" in caplog.text


def test_rows_keep_the_latest_output_and_name_shared_ids_by_suite(caplog: pytest.LogCaptureFixture) -> None:
    old = _rec(
        1, "ann", 2, created=1.0, output="old answer", suite="s1", meta={"case_id": "c-1", "kind": "qa"}
    )
    new = _rec(
        2, "ben", 5, created=2.0, output="new answer", suite="s1", meta={"case_id": "c-1", "kind": "qa"}
    )
    other = _rec(3, "ann", 3, created=3.0, suite="s2", meta={"case_id": "c-1", "kind": "qa"})
    with caplog.at_level(logging.WARNING, logger="review.export"):
        rows = {g.row["id"]: g.row for g in golden_rows([old, new, other])}
    assert set(rows) == {"s1:c-1", "s2:c-1"}  # two suites share the case id in one file
    assert rows["s1:c-1"]["answer"] == "new answer" and rows["s1:c-1"]["human_score"] == 5
    assert rows["s1:c-1"]["provenance"]["reviewers"] == ["ben"]
    assert "1 label(s) on an earlier output left out" in caplog.text


def test_fewshot_from_store_feeds_a_pointwise_judge(
    store: ReviewStore, clock: FakeClock, tmp_path: Path
) -> None:
    store.add_items(
        [
            _eval_item("rag", "rag-01", "Capital of France?", "Paris.", queue="escalation", overlap=1),
            _eval_item("rag", "rag-01", "Capital of France?", "Paris.", queue="calibration", overlap=2),
            _eval_item("rag", "rag-02", "2 + 2?", "5.", queue="calibration", overlap=2),
            _eval_item("pairwise", "pw-01", "Pick one.", "A: x\n\nB: y", overlap=1),  # no pointwise example
        ]
    )
    _label(store, clock, "ann", queue="escalation", score=5, note="correct and short")
    _label(store, clock, "ben", queue="calibration", score=4, note="fine")  # ann is not offered rag-01 again
    _label(store, clock, "ann", queue="calibration", score=1, note="arithmetic is wrong")
    _label(store, clock, "ben", queue="calibration", score=1)
    _label(store, clock, "ann", queue="calibration", category="A", note="x is better")
    paths = write_fewshot(store.labels(), tmp_path)
    examples = load_few_shot(paths["quality"])
    assert [(e.input, e.score) for e in examples] == [("2 + 2?", 1.0), ("Capital of France?", 5.0)]
    judge = PointwiseJudge(criterion="quality", rubric="5: right\n1: wrong", examples=examples)
    prompt = judge.prompt(Case("new", "Capital of Spain?", output="Madrid."))
    assert "Input: 2 + 2?\nResponse: 5.\nScore: 1\nReason: arithmetic is wrong" in prompt
    assert "Input: Capital of France?\nResponse: Paris.\nScore: 5\nReason: correct and short fine" in prompt
    assert prompt.count("Capital of France?") == 1 and "Pick one." not in prompt


def test_export_cli_phoenix_without_a_url_uses_the_running_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in ("PHOENIX_COLLECTOR_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("tracing.phoenix_server.running_url", lambda workdir=None: "http://127.0.0.1:7123")
    sent: list[str] = []
    monkeypatch.setattr("review.export.export_to_phoenix", lambda records, endpoint: sent.append(endpoint) or 0)
    db = str(tmp_path / "review.sqlite")
    assert main(["export", "--db", db, "--datasets", str(tmp_path / "ds"), "--phoenix"]) == 0
    assert main(["export", "--db", db, "--datasets", str(tmp_path / "ds"), "--phoenix", "http://10.0.0.5:6006"]) == 0
    assert sent == ["http://127.0.0.1:7123", "http://10.0.0.5:6006"]
    assert "phoenix: 0 HUMAN annotations" in capsys.readouterr().out
