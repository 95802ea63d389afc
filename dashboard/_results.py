"""The eval results file written by the judges' pytest plugin, validated at the edge with pydantic."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import ConfigError

__all__ = ["CaseResult", "PanelJudge", "ResultsFile", "SuiteResult", "load_results"]


class _Edge(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PanelJudge(_Edge):
    judge_model: str
    score: float | None = None
    label_probs: dict[str, float] | None = None
    reasoning: str | None = None


class CaseResult(_Edge):
    case_id: str
    input: str
    output: str
    context: str | None = None
    expected: str | None = None
    score: float | None = None
    passed: bool | None = None
    label_probs: dict[str, float] | None = None
    reasoning: str | None = None
    judge_model: str = "unknown"
    judges: list[PanelJudge] = []
    failure: str | None = None
    flags: list[str] = []
    entropy: float | None = None
    trace_id: str | None = None
    span_id: str | None = None


class SuiteResult(_Edge):
    suite: str
    judge: str = ""
    criterion: str
    kind: str | None = None  # "pairwise" for A/B judging; pointwise and G-Eval otherwise
    scale: tuple[float, float] | None = None
    cases: list[CaseResult]


class ResultsFile(_Edge):
    run_id: str
    created: str | None = None
    suites: list[SuiteResult]


def load_results(path: str | Path) -> ResultsFile:
    """Read and validate ``results/<run_id>.json``; errors name the file and the bad field."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"results file {path} does not exist; run `pytest evals/` to write one") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"results file {path} is not JSON: {exc}") from exc
    try:
        return ResultsFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"results file {path} does not match the results schema:\n{exc}") from exc
