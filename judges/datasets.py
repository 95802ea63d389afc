"""Golden datasets: JSONL files in ``datasets/``, validated row by row with pydantic.

A bad row is a DatasetError that names the file, the line and the field. The schemas are documented
in ``datasets/README.md``. Rows exported from human review (``dashboard.export``) carry a
``provenance`` object; ``to_case`` puts it in ``Case.metadata["provenance"]``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from judges.case import Case
from judges.errors import DatasetError


class Provenance(BaseModel):
    """Who labelled a row, when, and what it came from (written by the review dashboard's export).

    One row may merge several review items of the same case (for instance the escalation and the
    calibration queue), so ``queues`` and ``sources`` are lists. ``scores`` are each reviewer's raw
    score on the item's ``scale``, before the row's ``human_score`` was derived from them.
    """

    model_config = ConfigDict(extra="forbid")
    reviewers: list[str] = Field(min_length=1)
    labelled_at: datetime  # the time of the last label, ISO 8601 in the file
    criterion: str
    n_reviewers: int = Field(ge=1)
    queues: list[str] = []
    sources: list[str] = []  # review item source ids: "eval:<suite>:<criterion>:<case>:<hash>", "prod:<span>", ...
    suite: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    scale: tuple[float, float] | None = None
    scores: dict[str, float] = {}
    label: str | None = None  # the reviewers' majority category, when they answered with categories
    judge_score: float | None = None
    notes: list[str] = []


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    id: str = Field(min_length=1)
    tags: list[str] = []
    provenance: Provenance | None = None

    def to_case(self) -> Case:  # pragma: no cover - each schema overrides it
        raise NotImplementedError

    def _metadata(self, **labels: Any) -> dict[str, Any]:
        meta = {**labels, "tags": self.tags}
        if self.provenance is not None:
            # Plain JSON, not the model: case metadata travels into results files and task templates.
            meta["provenance"] = self.provenance.model_dump(mode="json", exclude_none=True)
        return meta


class SummarizationRow(_Row):
    """An article, and the summary to judge unless a task writes it; ``reference`` and ``human_score`` optional."""

    article: str = Field(min_length=1)
    summary: str | None = Field(default=None, min_length=1)
    reference: str | None = None
    human_score: int | None = Field(default=None, ge=1, le=5)

    def to_case(self) -> Case:
        return Case(self.id, self.article, output=self.summary, expected=self.reference,
                    metadata=self._metadata(human_score=self.human_score))


class RagRow(_Row):
    """A question and a reference answer; the contexts and the answer to judge unless a task produces them."""

    question: str = Field(min_length=1)
    contexts: list[str] | None = Field(default=None, min_length=1)
    answer: str | None = Field(default=None, min_length=1)
    reference: str | None = None
    human_score: int | None = Field(default=None, ge=1, le=5)

    def to_case(self) -> Case:
        context = "\n\n".join(f"[{i}] {c}" for i, c in enumerate(self.contexts, 1)) if self.contexts else None
        return Case(self.id, self.question, output=self.answer, context=context, expected=self.reference,
                    metadata=self._metadata(human_score=self.human_score))


class QaRow(_Row):
    """A question and, optionally, the answer to judge (unless a task produces it) and a reference answer.

    The shape of a production call without retrieved context (the review dashboard's audit export).
    """

    question: str = Field(min_length=1)
    answer: str | None = Field(default=None, min_length=1)
    reference: str | None = None
    human_score: int | None = Field(default=None, ge=1, le=5)

    def to_case(self) -> Case:
        return Case(self.id, self.question, output=self.answer, expected=self.reference,
                    metadata=self._metadata(human_score=self.human_score))


class PairwiseRow(_Row):
    """A prompt, two responses (unless tasks write them) and the human preference ("A", "B" or "tie")."""

    prompt: str = Field(min_length=1)
    response_a: str | None = Field(default=None, min_length=1)
    response_b: str | None = Field(default=None, min_length=1)
    preferred: Literal["A", "B", "tie"] | None = None

    def to_case(self) -> Case:
        return Case(self.id, self.prompt, output_a=self.response_a, output_b=self.response_b,
                    metadata=self._metadata(preferred=self.preferred))


SCHEMAS: dict[str, type[_Row]] = {
    "summarization": SummarizationRow,
    "rag": RagRow,
    "qa": QaRow,
    "pairwise": PairwiseRow,
}


def datasets_dir() -> Path:
    """The repository's ``datasets/`` folder (found from the working directory upwards)."""
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / "datasets").is_dir() and (d / "pyproject.toml").is_file():
            return d / "datasets"
    return here / "datasets"


def dataset_path(path: str | Path) -> Path:
    """The dataset file: ``path`` itself, or a relative ``path`` looked up in ``datasets/``."""
    p = Path(path)
    if not p.is_file() and not p.is_absolute():
        p = datasets_dir() / p
    if not p.is_file():
        raise DatasetError(f"dataset file not found: {path} (looked in {p.parent})")
    return p


def load_cases(path: str | Path, kind: str) -> list[Case]:
    """Read a JSONL dataset of ``kind`` ("summarization", "rag", "qa", "pairwise") into Cases.

    A relative ``path`` that does not exist is looked up in ``datasets/``.
    """
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise DatasetError(f"unknown dataset kind {kind!r}; use one of {sorted(SCHEMAS)}")
    p = dataset_path(path)
    cases: list[Case] = []
    seen: set[str] = set()
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{p}:{n}: not valid JSON ({exc.msg} at column {exc.colno})") from exc
        try:
            row = schema.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(x) for x in err["loc"]) or "(row)"
            raise DatasetError(f"{p}:{n}: field {field!r}: {err['msg']} (schema {kind}, see datasets/README.md)") from exc
        if row.id in seen:
            raise DatasetError(f"{p}:{n}: duplicate id {row.id!r}; ids must be unique within a dataset")
        seen.add(row.id)
        cases.append(row.to_case())
    if not cases:
        raise DatasetError(f"{p} has no rows")
    return cases
