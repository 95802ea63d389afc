"""Export: golden JSONL, few-shot files the judges load, and the Phoenix HUMAN annotation payload."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from dashboard import (
    ReviewStore,
    export_to_phoenix,
    fewshot_rows,
    golden_rows,
    span_annotations,
    write_golden,
)
from dashboard.cli import main
from dashboard.export import write_fewshot
from dashboard.models import LabelRecord


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
        created=0.0,
        judge_score=3.0,
        input=f"in {item}",
        output=f"out {item}",
        context=None,
        expected=None,
        trace_id=None,
        span_id=span,
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


def test_golden_rows_aggregate_per_item() -> None:
    rows = {r["id"]: r for r in golden_rows(RECORDS)}
    assert set(rows) == {"case-1", "case-2", "case-3", "case-4"}  # the flag is not a label
    one = rows["case-1"]
    assert one["human_score"] == 4.5 and one["reviewer_scores"] == {"ann": 5, "ben": 4}
    assert one["human_label"] == "good" and one["notes"] == ["complete and correct", "fine"]
    assert one["n_reviewers"] == 2 and one["span_id"] == "a" * 16


def test_write_golden_is_idempotent(tmp_path: Path) -> None:
    paths = write_golden(RECORDS, tmp_path)
    path = paths["helpfulness"]
    assert path == tmp_path / "human" / "helpfulness.jsonl"
    first = path.read_text()
    rows = [json.loads(line) for line in first.splitlines()]
    assert [r["id"] for r in rows] == ["case-1", "case-2", "case-3", "case-4"]
    write_golden(RECORDS, tmp_path)
    assert path.read_text() == first


def test_fewshot_rows_spread_levels_and_need_agreement_and_notes(tmp_path: Path) -> None:
    rows = fewshot_rows(RECORDS, "helpfulness", k=5)
    assert rows == [
        {"input": "in 2", "output": "out 2", "score": 1.0, "reasoning": "refuses a harmless request"},
        {"input": "in 1", "output": "out 1", "score": 4.5, "reasoning": "complete and correct fine"},
    ]
    paths = write_fewshot(RECORDS, tmp_path, k=5)
    lines = paths["helpfulness"].read_text().splitlines()
    assert paths["helpfulness"] == tmp_path / "fewshot" / "helpfulness.jsonl"
    assert [set(json.loads(x)) for x in lines] == [{"input", "output", "score", "reasoning"}] * 2
    from judges import load_few_shot  # the judges read exactly this file

    examples = load_few_shot(paths["helpfulness"])
    assert [(e.score, e.reasoning) for e in examples] == [
        (1.0, "refuses a harmless request"),
        (4.5, "complete and correct fine"),
    ]


def test_span_annotations_mapping() -> None:
    import tracing

    anns = {a.span_id: a for a in span_annotations(RECORDS)}
    assert set(anns) == {"a" * 16, "b" * 16}
    a = anns["a" * 16]
    assert isinstance(a, tracing.SpanAnnotation) and a.annotator_kind == "HUMAN"
    assert (a.name, a.score, a.label) == ("helpfulness (human)", 4.5, "good")
    assert a.explanation == "2 reviewers: complete and correct | fine"
    with pytest.raises(tracing.AnnotationError, match="'not-a-span'"):
        span_annotations([_rec(9, "ann", 3, span="not-a-span")])


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
    assert by_span["a" * 16]["annotator_kind"] == "HUMAN"
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
    assert "golden helpfulness" in out and "few-shot helpfulness" in out
    golden = (tmp_path / "ds" / "human" / "helpfulness.jsonl").read_text().splitlines()
    assert sorted(json.loads(x)["human_score"] for x in golden) == [2, 4, 5]
