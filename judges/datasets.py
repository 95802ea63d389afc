"""Golden datasets: JSONL files in ``datasets/``, validated row by row with pydantic.

A bad row is a DatasetError that names the file, the line and the field. The schemas are documented
in ``datasets/README.md``. Rows exported from human review (``dashboard.export``) carry a
``provenance`` object; ``to_case`` puts it in ``Case.metadata["provenance"]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from judges.case import Case
from judges.errors import DatasetError
from tracing.project import how_to_set, project_path, project_root


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
        # a model name left unset stays out: templates and records see only what the row says
        meta = {**{k: v for k, v in labels.items() if not (k.startswith("model") and v is None)}, "tags": self.tags}
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
    model: str | None = None  # the model that wrote the summary, when known (self-preference probe)

    def to_case(self) -> Case:
        return Case(self.id, self.article, output=self.summary, expected=self.reference,
                    metadata=self._metadata(human_score=self.human_score, model=self.model))


class RagRow(_Row):
    """A question and a reference answer; the contexts and the answer to judge unless a task produces them."""

    question: str = Field(min_length=1)
    contexts: list[str] | None = Field(default=None, min_length=1)
    answer: str | None = Field(default=None, min_length=1)
    reference: str | None = None
    human_score: int | None = Field(default=None, ge=1, le=5)
    model: str | None = None  # the model that wrote the answer, when known (self-preference probe)

    def to_case(self) -> Case:
        context = "\n\n".join(f"[{i}] {c}" for i, c in enumerate(self.contexts, 1)) if self.contexts else None
        return Case(self.id, self.question, output=self.answer, context=context, expected=self.reference,
                    metadata=self._metadata(human_score=self.human_score, model=self.model))


class QaRow(_Row):
    """A question and, optionally, the answer to judge (unless a task produces it) and a reference answer.

    The shape of a production call without retrieved context (the review dashboard's audit export).
    """

    question: str = Field(min_length=1)
    answer: str | None = Field(default=None, min_length=1)
    reference: str | None = None
    human_score: int | None = Field(default=None, ge=1, le=5)
    model: str | None = None  # the model that wrote the answer, when known (self-preference probe)

    def to_case(self) -> Case:
        return Case(self.id, self.question, output=self.answer, expected=self.reference,
                    metadata=self._metadata(human_score=self.human_score, model=self.model))


class PairwiseRow(_Row):
    """A prompt, two responses (unless tasks write them) and the human preference ("A", "B" or "tie")."""

    prompt: str = Field(min_length=1)
    response_a: str | None = Field(default=None, min_length=1)
    response_b: str | None = Field(default=None, min_length=1)
    preferred: Literal["A", "B", "tie"] | None = None
    model_a: str | None = None  # the models that wrote the responses, when known (self-preference probe)
    model_b: str | None = None

    def to_case(self) -> Case:
        return Case(self.id, self.prompt, output_a=self.response_a, output_b=self.response_b,
                    metadata=self._metadata(preferred=self.preferred, model_a=self.model_a, model_b=self.model_b))


class Persona(BaseModel):
    """Who the simulated user is, what they know and how they talk."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)  # who they are
    knowledge: str = ""  # what they know (and the assistant does not)
    tone: str = ""  # how they write, e.g. "curt, no greetings"


class TurnRow(BaseModel):
    """One fixed turn of a conversation (an opening turn written in the dataset)."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class ConversationRow(_Row):
    """A scenario for the user simulator: persona, goal, expected outcome, fixed opening turns, a turn limit.

    ``max_turns`` counts user turns (each answered by one assistant turn). Opening turns alternate
    strictly, starting with the user.
    """

    scenario: str = Field(min_length=1)
    persona: Persona
    goal: str = Field(min_length=1)
    expected_outcome: str = Field(min_length=1)
    opening_turns: list[TurnRow] = []
    max_turns: int = Field(default=3, ge=1, le=20)
    assistant_role: str | None = None  # what the assistant is meant to be (role adherence)

    @model_validator(mode="after")
    def _alternates(self) -> ConversationRow:
        for i, turn in enumerate(self.opening_turns):
            want = "user" if i % 2 == 0 else "assistant"
            if turn.role != want:
                raise ValueError(f"opening_turns[{i}] is a {turn.role} turn; opening turns alternate strictly, "
                                 "starting with the user")
        if sum(1 for t in self.opening_turns if t.role == "user") > self.max_turns:
            raise ValueError(f"opening_turns hold more user turns than max_turns={self.max_turns}")
        return self

    def to_case(self) -> Case:
        return Case(self.id, self.scenario, expected=self.expected_outcome, metadata=self._metadata(
            persona=self.persona.model_dump(), goal=self.goal, scenario=self.scenario,
            opening_turns=[t.model_dump() for t in self.opening_turns], max_turns=self.max_turns,
            assistant_role=self.assistant_role))


class ToolCallRow(BaseModel):
    """One expected tool call: the tool's name and (optionally) its arguments."""

    model_config = ConfigDict(extra="forbid")
    tool: str = Field(min_length=1)
    arguments: dict[str, Any] = {}


class AgentRow(_Row):
    """An agent case: the input, the tools available, the expected outcome, optionally the expected trajectory."""

    input: str = Field(min_length=1)
    tools: list[str] = Field(min_length=1)
    expected_outcome: str = Field(min_length=1)
    expected_trajectory: list[ToolCallRow] | None = None

    @model_validator(mode="after")
    def _known_tools(self) -> AgentRow:
        unknown = sorted({c.tool for c in self.expected_trajectory or ()} - set(self.tools))
        if unknown:
            raise ValueError(f"expected_trajectory names tools {unknown} that are not in tools {self.tools}; "
                             "add them to tools or fix the name")
        return self

    def to_case(self) -> Case:
        expected = None if self.expected_trajectory is None else [c.model_dump() for c in self.expected_trajectory]
        return Case(self.id, self.input, expected=self.expected_outcome,
                    metadata=self._metadata(tools=list(self.tools), expected_trajectory=expected))


SCHEMAS: dict[str, type[_Row]] = {
    "summarization": SummarizationRow,
    "rag": RagRow,
    "qa": QaRow,
    "pairwise": PairwiseRow,
    "conversation": ConversationRow,
    "agent": AgentRow,
}


def datasets_dir() -> Path:
    """The project's datasets folder: ``[tool.evalharness] datasets_dir`` of its pyproject.toml, else
    ``datasets/``, from the project root (pytest's rootdir; see :mod:`tracing.project`)."""
    return project_path("datasets_dir")


def dataset_path(path: str | Path) -> Path:
    """The dataset file: an absolute ``path`` itself; a relative one in the datasets folder, else from the
    project root (a path such as ``datasets/human/x.jsonl``), else (a path typed to a command) from the
    working directory. A suite's ``dataset="x.jsonl"`` is so the same file from whichever folder pytest starts."""
    p = Path(path).expanduser()
    if p.is_absolute():
        if not p.is_file():
            raise DatasetError(f"dataset file not found: {p}")
        return p
    folder = datasets_dir()
    for candidate in (folder / p, project_root() / p, p.resolve()):
        if candidate.is_file():
            return candidate
    raise DatasetError(f"dataset file not found: {path} (looked in {folder}); put it there, name it by an "
                       f"absolute path, or {how_to_set('datasets_dir')}")


def jsonl_lines(text: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of each non-blank line of a JSONL text. A line that is not JSON gives its
    ``json.JSONDecodeError`` as the value: the caller raises it with its own error (naming the file and line) or
    skips it and counts it. The one JSONL line reader of datasets, imported suites, synth sources and topics."""
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as exc:
                yield n, exc


def load_cases(path: str | Path, kind: str) -> list[Case]:
    """Read a JSONL dataset of ``kind`` ("summarization", "rag", "qa", "pairwise", "conversation", "agent") into Cases.

    A relative ``path`` is looked up in the project's datasets folder (:func:`dataset_path`).
    """
    schema = SCHEMAS.get(kind)
    if schema is None:
        raise DatasetError(f"unknown dataset kind {kind!r}; use one of {sorted(SCHEMAS)}")
    p = dataset_path(path)
    cases: list[Case] = []
    seen: set[str] = set()
    for n, data in jsonl_lines(p.read_text(encoding="utf-8")):
        if isinstance(data, json.JSONDecodeError):
            raise DatasetError(f"{p}:{n}: not valid JSON ({data.msg} at column {data.colno})") from data
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
