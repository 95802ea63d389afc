"""Conversations and agent trajectories as a reviewer reads them: turn by turn, step by step.

An eval case of a conversation suite carries its transcript (``TaskRun.turns``) and an agent case its own
spans (``TaskRun.spans``, the trajectory read from them by ``judges.trajectory``). :func:`case_payload`
puts them into a review item's ``meta`` (the one item payload; no second shape):

* ``meta["turns"]`` — the turns as recorded (``{"index", "role", "content", ...}``, the shape the
  conversation judges read);
* ``meta["turn_scores"]`` — every per-turn judge score of the case (``{"turn", "criterion", "scorer",
  "score", "label", "failed"}``), from the judges' ``details["per_turn"]``;
* ``meta["failing_turns"]`` — the turns the item's own judge failed (``details["failing_turns"]``);
* ``meta["trajectory"]`` — the agent's tool calls in order (``{"tool", "arguments", "ok", "output",
  "error"}``).

:func:`conversation` and :func:`trajectory` read them back for the pages; what a results file or an old
store holds is not trusted: a malformed payload is a :class:`TranscriptError` that says what is wrong.
Nothing here imports Streamlit (the store validates turn labels with :func:`turn_indices`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from judges.case import Turn as ConversationTurn
from judges.trajectory import ToolStep

from .errors import TranscriptError

if TYPE_CHECKING:
    from experiments.record import CaseRecord, Score

__all__ = [
    "Step",
    "TranscriptError",
    "Turn",
    "TurnScore",
    "case_payload",
    "conversation",
    "trajectory",
    "turn_indices",
    "turn_judge_score",
]


@dataclass(frozen=True)
class TurnScore:
    """One per-turn judge's verdict on one turn."""

    criterion: str
    scorer: str
    score: float | None
    label: str | None = None
    failed: bool = False


@dataclass(frozen=True)
class Turn(ConversationTurn):
    """One turn of a conversation (the one turn type, ``judges.case.Turn``) with the per-turn judge scores it got."""

    scores: tuple[TurnScore, ...] = ()
    failing: bool = False  # the item's own judge failed this turn (shown highlighted)


@dataclass(frozen=True)
class Step(ToolStep):
    """One tool call of an agent (the one step type, ``judges.trajectory.ToolStep``), numbered from 1."""

    number: int = 0


# ---------------------------------------------------------------- from a results record


def _per_turn(score: Score) -> list[dict[str, Any]]:
    per_turn = score.details.get("per_turn") if isinstance(score.details, Mapping) else None
    if not isinstance(per_turn, list):
        return []
    out = []
    threshold = score.details.get("turn_threshold")
    failing = score.details.get("failing_turns")
    failing = set(failing) if isinstance(failing, list) else set()
    for p in per_turn:
        if not isinstance(p, Mapping) or not isinstance(p.get("turn"), int):
            continue
        value = p.get("score")
        value = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        failed = p["turn"] in failing or (
            value is not None and isinstance(threshold, (int, float)) and value < threshold
        )
        out.append(
            {
                "turn": p["turn"],
                "criterion": score.criterion,
                "scorer": score.scorer,
                "score": value,
                "label": p.get("label"),
                "failed": bool(failed),
            }
        )
    return out


def _steps_from_spans(spans: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    # imported only when a case has spans: `import review` stays light
    from judges.trajectory import trajectory_from_spans

    return [
        {"tool": s.tool, "arguments": dict(s.arguments), "ok": s.ok, "output": s.output, "error": s.error}
        for s in trajectory_from_spans(spans).steps
    ]


def case_payload(case: CaseRecord, score: Score | None, *, kind: str | None = None) -> dict[str, Any]:
    """The transcript and trajectory of ``case`` for a review item's ``meta`` (empty for other cases).

    ``score`` is the verdict the item is about (its failing turns are highlighted); ``kind`` is the suite's
    kind: a "conversation" case without turns gets ``turns: []`` (the page says none were recorded), an
    "agent" case without spans an empty trajectory.
    """
    task = case.task
    out: dict[str, Any] = {}
    turns = list(task.turns) if task is not None else []
    if turns or kind == "conversation":
        out["turns"] = turns
        out["turn_scores"] = [p for s in case.scores for p in _per_turn(s)]
        failing = score.details.get("failing_turns") if score is not None else None
        out["failing_turns"] = [t for t in failing if isinstance(t, int)] if isinstance(failing, list) else []
    spans = list(task.spans) if task is not None else []
    if spans or kind == "agent":
        try:
            out["trajectory"] = _steps_from_spans(spans) if spans else []
        except Exception as exc:  # noqa: BLE001 - spans from a file: the page says why, the fill goes on
            out["trajectory_error"] = f"the agent's spans could not be read as a trajectory: {exc}"
    return out


# ---------------------------------------------------------------- from an item's meta


def _index(turn: Mapping[str, Any], position: int) -> int:
    value = turn.get("index", position)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TranscriptError(f"turn {position + 1} has index {value!r}, not a whole number")
    return value


def _raw_turns(meta: Mapping[str, Any]) -> list[Mapping[str, Any]] | None:
    if "turns" not in meta:
        return None
    raw = meta["turns"]
    if not isinstance(raw, list):
        raise TranscriptError(f"the transcript is a {type(raw).__name__}, not a list of turns")
    if not raw:
        raise TranscriptError(
            "the conversation has no turns recorded (the task may have failed before its first turn)"
        )
    for n, t in enumerate(raw, 1):
        if not isinstance(t, Mapping):
            raise TranscriptError(f"turn {n} is a {type(t).__name__}, not a turn with a role and a content")
        if t.get("role") not in ("user", "assistant", "system", "tool"):
            raise TranscriptError(
                f"turn {n} has role {t.get('role')!r}; a turn is from the user or the assistant"
            )
        if not isinstance(t.get("content"), str) and not t.get("error"):
            raise TranscriptError(f"turn {n} has no text content")
    return raw


def turn_indices(meta: Mapping[str, Any]) -> list[int]:
    """The indices of the item's turns (empty when it holds no readable conversation)."""
    try:
        raw = _raw_turns(meta)
        return [] if raw is None else [_index(t, i) for i, t in enumerate(raw)]
    except TranscriptError:
        return []


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _turn_scores(meta: Mapping[str, Any]) -> dict[int, list[TurnScore]]:
    raw = meta.get("turn_scores")
    out: dict[int, list[TurnScore]] = {}
    if not isinstance(raw, list):
        return out
    for p in raw:
        if isinstance(p, Mapping) and isinstance(p.get("turn"), int) and isinstance(p.get("criterion"), str):
            out.setdefault(p["turn"], []).append(
                TurnScore(
                    criterion=p["criterion"],
                    scorer=str(p.get("scorer") or p["criterion"]),
                    score=_number(p.get("score")),
                    label=None if p.get("label") is None else str(p.get("label")),
                    failed=bool(p.get("failed")),
                )
            )
    return out


def conversation(meta: Mapping[str, Any]) -> tuple[Turn, ...] | None:
    """The item's conversation turn by turn; None when the item holds none; a TranscriptError when malformed."""
    raw = _raw_turns(meta)
    if raw is None:
        return None
    scores = _turn_scores(meta)
    failing_raw = meta.get("failing_turns")
    failing = {t for t in failing_raw if isinstance(t, int)} if isinstance(failing_raw, list) else set()
    out = []
    for i, t in enumerate(raw):
        index = _index(t, i)
        error = t.get("error")
        out.append(
            Turn(
                index=index,
                role=str(t["role"]),  # type: ignore[arg-type]  # shown as stored, whatever the role
                content=t["content"] if isinstance(t.get("content"), str) else "",
                error=None if not error else str(error),
                simulated=bool(t.get("simulated")),
                scores=tuple(scores.get(index, ())),
                failing=index in failing,
            )
        )
    return tuple(out)


def trajectory(meta: Mapping[str, Any]) -> tuple[Step, ...] | None:
    """The agent's steps, numbered from 1; None when the item holds none; a TranscriptError when malformed."""
    if isinstance(meta.get("trajectory_error"), str):
        raise TranscriptError(meta["trajectory_error"])
    if "trajectory" not in meta:
        return None
    raw = meta["trajectory"]
    if not isinstance(raw, list):
        raise TranscriptError(f"the trajectory is a {type(raw).__name__}, not a list of steps")
    out = []
    for n, s in enumerate(raw, 1):
        if not isinstance(s, Mapping) or not isinstance(s.get("tool"), str) or not s["tool"]:
            raise TranscriptError(f"step {n} names no tool")
        args = s.get("arguments", {})
        if not isinstance(args, Mapping):
            args = {"input": args}
        output, error = s.get("output"), s.get("error")
        out.append(
            Step(
                number=n,
                tool=s["tool"],
                arguments=dict(args),
                ok=bool(s.get("ok", error is None)),
                output=None
                if output is None
                else (output if isinstance(output, str) else json.dumps(output)),
                error=None if not error else str(error),
            )
        )
    return tuple(out)


def turn_judge_score(meta: Mapping[str, Any], criterion: str, turn: int) -> float | None:
    """The per-turn judge score of ``turn`` under ``criterion`` (None when no per-turn judge scored it)."""
    return next((s.score for s in _turn_scores(meta).get(turn, ()) if s.criterion == criterion), None)
