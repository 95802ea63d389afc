"""Dataset rows: the generic "qa" kind and the provenance that rows exported from human review carry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judges import DatasetError, load_cases

PROVENANCE = {
    "reviewers": ["ann", "ben"],
    "labelled_at": "2025-03-01T10:00:00Z",
    "criterion": "correctness",
    "n_reviewers": 2,
    "queues": ["audit"],
    "sources": ["prod:00000000000000aa"],
    "span_id": "00000000000000aa",
    "scores": {"ann": 4.0, "ben": 5.0},
    "notes": ["right"],
}


def _write(tmp_path: Path, *rows: dict) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_qa_rows_and_provenance_reach_the_case(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        {
            "id": "q1",
            "question": "When?",
            "answer": "At 9.",
            "reference": "9:00",
            "human_score": 5,
            "provenance": PROVENANCE,
        },
        {"id": "q2", "question": "Where?"},
    )
    first, second = load_cases(path, "qa")
    assert (first.input, first.output, first.expected, first.context) == ("When?", "At 9.", "9:00", None)
    assert first.metadata["human_score"] == 5
    assert first.metadata["provenance"] == {**PROVENANCE, "labelled_at": "2025-03-01T10:00:00Z"}
    assert second.output is None and "provenance" not in second.metadata


@pytest.mark.parametrize("kind", ["summarization", "rag", "pairwise"])
def test_every_kind_takes_provenance(tmp_path: Path, kind: str) -> None:
    fields = {"summarization": {"article": "A."}, "rag": {"question": "Q?"}, "pairwise": {"prompt": "P."}}[
        kind
    ]
    [case] = load_cases(_write(tmp_path, {"id": "x", **fields, "provenance": PROVENANCE}), kind)
    assert case.metadata["provenance"]["reviewers"] == ["ann", "ben"]


@pytest.mark.parametrize(
    ("change", "field"),
    [({"reviewer": "ann"}, "provenance.reviewer"), ({"labelled_at": "yesterday"}, "provenance.labelled_at")],
)
def test_bad_provenance_names_the_field(tmp_path: Path, change: dict, field: str) -> None:
    path = _write(tmp_path, {"id": "q1", "question": "When?", "provenance": {**PROVENANCE, **change}})
    with pytest.raises(DatasetError, match=rf"rows.jsonl:1: field '{field}'"):
        load_cases(path, "qa")
