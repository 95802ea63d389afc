"""Golden datasets: JSONL files in ``datasets/``, validated row by row with pydantic.

A bad row is a DatasetError that names the file, the line and the field. The schemas are documented
in ``datasets/README.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from judges.errors import DatasetError
from judges.results import Case


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    id: str = Field(min_length=1)
    tags: list[str] = []

    def to_case(self) -> Case:  # pragma: no cover - each schema overrides it
        raise NotImplementedError


class SummarizationRow(_Row):
    """An article, and the summary to judge unless a task writes it; ``reference`` and ``human_score`` optional."""

    article: str = Field(min_length=1)
    summary: str | None = Field(default=None, min_length=1)
    reference: str | None = None
    human_score: int | None = Field(default=None, ge=1, le=5)

    def to_case(self) -> Case:
        return Case(self.id, self.article, output=self.summary, expected=self.reference,
                    metadata={"human_score": self.human_score, "tags": self.tags})


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
                    metadata={"human_score": self.human_score, "tags": self.tags})


class PairwiseRow(_Row):
    """A prompt, two responses (unless tasks write them) and the human preference ("A", "B" or "tie")."""

    prompt: str = Field(min_length=1)
    response_a: str | None = Field(default=None, min_length=1)
    response_b: str | None = Field(default=None, min_length=1)
    preferred: Literal["A", "B", "tie"] | None = None

    def to_case(self) -> Case:
        return Case(self.id, self.prompt, output_a=self.response_a, output_b=self.response_b,
                    metadata={"preferred": self.preferred, "tags": self.tags})


SCHEMAS: dict[str, type[_Row]] = {"summarization": SummarizationRow, "rag": RagRow, "pairwise": PairwiseRow}


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
    """Read a JSONL dataset of ``kind`` ("summarization", "rag", "pairwise") into Cases.

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
