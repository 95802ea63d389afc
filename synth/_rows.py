"""Generated rows as written to a set file, and the golden rows made from them after human review.

A set file holds one :class:`SyntheticRow` per line: the question, its contexts and expected output,
and :class:`Origin` (generator version, source and position, evolution, persona, critic scores).
After review, :func:`golden_rows` turns the accepted (or edited) rows into rows of the existing dataset
kinds (``judges.datasets``: ``rag`` with contexts, ``qa`` without), validated by the same schema the
suites load them with, with ``provenance`` naming the reviewers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from synth.errors import SynthSourceError

#: Bumped when prompts, evolutions or the critic change what a seed produces.
GENERATOR_VERSION = "synth-1"
#: The review queue generated rows go to, and the answers a reviewer gives there.
REVIEW_QUEUE = "synthetic"
DECISIONS = ("accept", "edit", "reject")


class Origin(BaseModel):
    """Where a generated row came from and how it was made."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    generator: str = GENERATOR_VERSION
    source: str  # the primary source document ("examples/qa_corpus.jsonl#math-1")
    position: int  # character offset of the chunk (line number for golden and log inputs)
    source_kind: Literal["doc", "golden", "log"] = "doc"
    context_sources: list[str] = []
    evolution: str
    persona: str
    seed_question: str | None = None
    critic_score: float | None = None  # the lower of the two critic scores, 1..5
    critic_input: float | None = None
    critic_output: float | None = None
    critic_threshold: float | None = None
    attempts: int = 1
    model: str = ""


class SyntheticRow(BaseModel):
    """One generated row: the fields of its dataset kind plus its origin."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    kind: Literal["rag", "qa"]
    question: str = Field(min_length=1)
    contexts: list[str] | None = None
    reference: str | None = None
    origin: Origin

    def dataset_row(self, *, question: str | None = None, reference: str | None = None) -> dict[str, Any]:
        """The row in its dataset kind's schema (without provenance), optionally with edited fields."""
        row: dict[str, Any] = {"id": self.id, "question": question or self.question,
                               "tags": ["synthetic", self.origin.evolution]}
        if self.kind == "rag":
            row["contexts"] = self.contexts
        ref = reference if reference is not None else self.reference
        if ref:
            row["reference"] = ref
        return row


def write_set(path: str | Path, rows: Iterable[SyntheticRow]) -> Path:
    """Write a generated set as JSONL (one row per line); the parent folder is created."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text("".join(r.model_dump_json(exclude_none=True) + "\n" for r in rows), encoding="utf-8")
    return p


def read_set(path: str | Path) -> list[SyntheticRow]:
    """Read a generated set; a bad line is a SynthSourceError naming the file and the line."""
    p = Path(path)
    out = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(SyntheticRow.model_validate_json(line))
            except ValueError as exc:
                raise SynthSourceError(f"{p}:{n}: not a generated row ({exc})") from exc
    return out


@dataclass(frozen=True)
class ReviewDecision:
    """A reviewer's answer on one generated row; ``question``/``reference`` carry an edit."""

    row_id: str
    reviewer: str
    decision: str  # "accept", "edit" or "reject"
    labelled_at: datetime
    question: str | None = None
    reference: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {DECISIONS}, got {self.decision!r}")


def edit_note(question: str, reference: str | None) -> str:
    """The note that carries an edit through the review store (it stores a category and a note)."""
    return json.dumps({"question": question, "reference": reference})


def decision_from_label(row_id: str, reviewer: str, category: str | None, note: str, created: float) -> ReviewDecision:
    """A ReviewDecision from a stored label (category + note, as :func:`edit_note` wrote it)."""
    question = reference = None
    text = note
    if category == "edit":
        try:
            edited = json.loads(note)
            question, reference, text = edited.get("question"), edited.get("reference"), ""
        except (json.JSONDecodeError, AttributeError):
            pass  # an edit without a payload keeps the generated fields; the note is kept as written
    return ReviewDecision(row_id, reviewer, category or "reject", datetime.fromtimestamp(created, UTC),
                          question, reference, text)


def golden_rows(rows: Sequence[SyntheticRow], decisions: Iterable[ReviewDecision]) -> list[dict[str, Any]]:
    """Dataset rows for the generated rows whose latest review decision is accept or edit.

    Each row is validated by its kind's schema in ``judges.datasets`` and carries ``provenance``:
    reviewers, time, the review queue, the source, the critic score (``judge_score``) and the decision
    (``label``); the evolution and generator version are in ``tags`` and ``sources``.
    """
    from judges.datasets import SCHEMAS

    latest: dict[str, ReviewDecision] = {}
    for dec in sorted(decisions, key=lambda x: x.labelled_at):
        latest[dec.row_id] = dec
    out = []
    for row in rows:
        d = latest.get(row.id)
        if d is None or d.decision == "reject":
            continue
        data = row.dataset_row(question=d.question, reference=d.reference)
        data["tags"] += [f"persona:{row.origin.persona}", row.origin.generator]
        data["provenance"] = {
            "reviewers": [d.reviewer], "n_reviewers": 1, "labelled_at": d.labelled_at.isoformat(),
            "criterion": "synthetic", "queues": [REVIEW_QUEUE],
            "sources": [f"{row.origin.generator}:{row.origin.evolution}:{row.origin.source}@{row.origin.position}"],
            "judge_score": row.origin.critic_score, "label": d.decision,
            "notes": [d.note] if d.note else [],
        }
        out.append(SCHEMAS[row.kind].model_validate(data).model_dump(mode="json", exclude_none=True))
    return out


def write_golden(
    rows: Sequence[SyntheticRow], decisions: Iterable[ReviewDecision], datasets_dir: str | Path, name: str
) -> dict[str, tuple[Path, int]]:
    """Write the accepted rows to ``<datasets_dir>/synth/<kind>/<name>.jsonl``, one file per kind, rewritten whole.

    Returns ``{kind: (path, rows written)}``; ``judges.load_cases(path, kind)`` reads each back.
    """
    by_kind: dict[str, list[dict[str, Any]]] = {}
    kinds = {r.id: r.kind for r in rows}
    for data in golden_rows(rows, decisions):
        by_kind.setdefault(kinds[data["id"]], []).append(data)
    out = {}
    for kind, data_rows in by_kind.items():
        p = Path(datasets_dir) / "synth" / kind / f"{name}.jsonl"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in data_rows), encoding="utf-8")
        out[kind] = (p, len(data_rows))
    return out
