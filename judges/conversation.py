"""Conversation judges: whole transcripts and single turns, with the label-probability machinery of the others.

A conversation reaches a judge as ``case.metadata["turns"]`` (``{"role", "content", ...}`` per turn, as
``simulate`` writes them; the suite puts the task's turns there). Per-turn judges score every turn they
look at, each seeing a sliding window of the turns before it, and report the mean; ``details["per_turn"]``
holds each turn's score and ``details["worst_turn"]`` / ``details["failing_turns"]`` point at the turns
that failed, so a reviewer reads the turn, not the whole conversation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from judges._judge import NamedJudge, low_confidence_flags, scale_labels
from judges._labels import LabelAnswer, LabelQuery, ask_label
from judges.case import Case
from judges.client import ModelClient
from judges.geval import GEval
from judges.results import CallAccount, JudgeFailure, Judgement, Result
from judges.scoring import weighted_score


def conversation_turns(case: Case) -> list[dict[str, Any]]:
    """The case's turns; a ValueError naming the case when it has none (not a conversational case)."""
    turns = case.metadata.get("turns")
    if not isinstance(turns, Sequence) or not turns or not all(isinstance(t, Mapping) for t in turns):
        raise ValueError(f"case {case.id!r} has no conversation turns (metadata['turns']); run it through "
                         "simulate.ConversationTask or give the turns")
    return [dict(t) for t in turns]


def render_turns(turns: Sequence[Mapping[str, Any]]) -> str:
    """``Role: message`` lines (a turn the application failed shows its error)."""
    return "\n".join(f"{str(t['role']).capitalize()}: "
                     f"{t['content'] if not t.get('error') else '[error: ' + str(t['error']) + ']'}" for t in turns)


def _window(turns: Sequence[Mapping[str, Any]], i: int, window: int | None) -> list[Mapping[str, Any]]:
    start = 0 if window is None else max(0, i - window)
    return list(turns[start:i])


def _aggregate(name: str, client: ModelClient, answers: list[tuple[int, LabelAnswer]], values: dict[str, float],
               *, turn_threshold: float, max_entropy_bits: float | None, extra: dict[str, Any] | None = None) -> Result:
    """One result from per-turn answers: the mean over scored turns, each turn's score in ``details``."""
    calls = CallAccount()
    per_turn: list[dict[str, Any]] = []
    flags: set[str] = set()
    for index, ans in answers:
        calls.merge(ans.calls)
        if ans.label is None or ans.probs is None:
            per_turn.append({"turn": index, "score": None, "failure": ans.error or "no verdict"})
            continue
        per_turn.append({"turn": index, "score": round(weighted_score(ans.probs, values), 6), "label": ans.label})
        flags.update(low_confidence_flags(ans, max_entropy_bits))
    scored = [p for p in per_turn if p["score"] is not None]
    if not scored:
        reason = "; ".join(f"turn {p['turn']}: {p['failure']}" for p in per_turn) or "no turn to judge"
        return JudgeFailure(name, client.info.model, reason, "", len(answers), calls=calls)
    if len(scored) < len(per_turn):
        flags.add("partial")
    worst = min(scored, key=lambda p: p["score"])
    failing = [p["turn"] for p in scored if p["score"] < turn_threshold]
    source = next((a.source for _, a in answers if a.source), None)
    return Judgement(judge=name, judge_model=client.info.model, score=sum(p["score"] for p in scored) / len(scored),
                     label=worst["label"], prob_source=source, flags=tuple(sorted(flags)), calls=calls,
                     reasoning=(f"turn {worst['turn']} scored lowest ({worst['score']:.2f})" if failing else None),
                     details={"per_turn": per_turn, "worst_turn": worst["turn"], "failing_turns": failing,
                              "turn_threshold": turn_threshold, **(extra or {})})


@dataclass(frozen=True)
class _PerTurn(NamedJudge):
    """Shared settings of the per-turn judges: a 1..5 scale, a sliding window, a per-turn pass mark."""

    window: int | None = 6  # earlier turns each verdict sees (None: all of them)
    scale: tuple[int, int] = (1, 5)
    turn_threshold: float = 3.0
    max_parse_retries: int = 2
    max_entropy_bits: float | None = 1.5
    uses_model = True

    def _selected(self, turns: list[dict[str, Any]]) -> list[int]:
        return [i for i, t in enumerate(turns) if t["role"] == "assistant" and not t.get("error")]

    def _prompt(self, case: Case, turns: list[dict[str, Any]], i: int) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    async def judge(self, client: ModelClient, case: Case) -> Result:
        try:
            turns = conversation_turns(case)
        except ValueError as exc:
            return JudgeFailure(self.judge_name, client.info.model, str(exc))
        labels, values = scale_labels(self.scale)
        answers: list[tuple[int, LabelAnswer]] = []
        for i in self._selected(turns):  # one at a time: a local model serves one call at a time anyway
            q = LabelQuery(self._prompt(case, turns, i), "Score:", labels, explain=False)
            answers.append((turns[i].get("index", i), await ask_label(client, q, max_parse_retries=self.max_parse_retries)))
        return _aggregate(self.judge_name, client, answers, values, turn_threshold=self.turn_threshold,
                          max_entropy_bits=self.max_entropy_bits)



@dataclass(frozen=True)
class TurnRelevancy(_PerTurn):
    """Is each assistant reply relevant to the conversation so far (the last ``window`` turns)?"""

    name: ClassVar[str] = "turn_relevancy"

    def _prompt(self, case: Case, turns: list[dict[str, Any]], i: int) -> str:
        lo, hi = self.scale
        return (f"Rate how relevant the assistant's reply is to the conversation so far, from {lo} (off topic) "
                f"to {hi} (directly addresses the user's last message).\n\nConversation so far:\n"
                f"{render_turns(_window(turns, i, self.window))}\n\nAssistant reply:\n{turns[i]['content']}")


@dataclass(frozen=True)
class KnowledgeRetention(_PerTurn):
    """Does each assistant reply keep what the user said earlier (never contradicting or forgetting it)?"""

    name: ClassVar[str] = "knowledge_retention"
    window: int | None = None  # the user's facts may come from any earlier turn

    def _prompt(self, case: Case, turns: list[dict[str, Any]], i: int) -> str:
        lo, hi = self.scale
        said = "\n".join(f"- {t['content']}" for t in _window(turns, i, self.window) if t["role"] == "user")
        return (f"The user said earlier:\n{said or '- (nothing yet)'}\n\nAssistant reply:\n{turns[i]['content']}\n\n"
                f"Rate from {lo} (contradicts or forgets what the user said) to {hi} (consistent with everything "
                "the user said, asks nothing the user already answered).")


@dataclass(frozen=True)
class RoleAdherence(_PerTurn):
    """Does each turn of ``role`` stay in its role? For "assistant", the role is ``description`` or the case's
    ``assistant_role``; for "user" (persona adherence of the simulator) it is the case's persona, and only
    simulated user turns are judged."""

    role: Literal["assistant", "user"] = "assistant"
    description: str | None = None

    @property
    def judge_name(self) -> str:
        return "persona_adherence" if self.role == "user" else "role_adherence"

    def _selected(self, turns: list[dict[str, Any]]) -> list[int]:
        return [i for i, t in enumerate(turns) if t["role"] == self.role and not t.get("error")
                and (self.role == "assistant" or t.get("simulated"))]

    def _role_text(self, case: Case) -> str:
        if self.description:
            return self.description
        if self.role == "user":
            p = case.metadata.get("persona") or {}
            return "; ".join(f"{k}: {v}" for k, v in p.items() if v) or "a user"
        return str(case.metadata.get("assistant_role") or "a helpful, honest assistant")

    def _prompt(self, case: Case, turns: list[dict[str, Any]], i: int) -> str:
        lo, hi = self.scale
        who = "user" if self.role == "user" else "assistant"
        return (f"The {who} in this conversation is meant to be: {self._role_text(case)}\n\nConversation so far:\n"
                f"{render_turns(_window(turns, i, self.window))}\n\n{who.capitalize()} message:\n{turns[i]['content']}\n\n"
                f"Rate from {lo} (out of character) to {hi} (fully in character) how well the message fits that role.")


def PersonaAdherence(window: int | None = 4) -> RoleAdherence:
    """Persona adherence of the simulated user: role adherence of the simulated user turns."""
    return RoleAdherence(role="user", window=window)


@dataclass(frozen=True)
class GoalCompletion(NamedJudge):
    """Did the conversation reach the user's goal (``metadata["goal"]``, the expected outcome as reference)?

    The whole transcript, or its last ``window`` turns when it is longer.
    """

    scale: tuple[int, int] = (1, 5)
    window: int | None = 12
    max_parse_retries: int = 2
    max_entropy_bits: float | None = 1.5
    uses_model = True
    name: ClassVar[str] = "goal_completion"


    def prompt(self, case: Case, turns: Sequence[Mapping[str, Any]]) -> str:
        lo, hi = self.scale
        shown = list(turns) if self.window is None else list(turns)[-self.window:]
        return (f"The user's goal: {case.metadata.get('goal') or case.input}\n"
                f"Expected outcome: {case.expected or '(not given)'}\n\nConversation:\n{render_turns(shown)}\n\n"
                f"Rate from {lo} (goal not reached) to {hi} (goal fully reached) whether the conversation reached "
                "the user's goal.")

    async def judge(self, client: ModelClient, case: Case) -> Result:
        try:
            turns = conversation_turns(case)
        except ValueError as exc:
            return JudgeFailure(self.judge_name, client.info.model, str(exc))
        labels, values = scale_labels(self.scale)
        ans = await ask_label(client, LabelQuery(self.prompt(case, turns), "Score:", labels, explain=False),
                              max_parse_retries=self.max_parse_retries)
        if ans.label is None or ans.probs is None:
            return JudgeFailure(self.judge_name, client.info.model, ans.error or "no verdict", ans.raw, ans.attempts,
                                calls=ans.calls)
        return Judgement(self.judge_name, client.info.model, weighted_score(ans.probs, values), label=ans.label,
                         label_probs=ans.probs, prob_source=ans.source, entropy=ans.entropy,
                         flags=low_confidence_flags(ans, self.max_entropy_bits), raw=ans.raw, calls=ans.calls,
                         details={"turns": len(turns)})


@dataclass(frozen=True)
class ConversationGEval:
    """G-Eval over a conversation, in sliding windows of ``window`` turns (stride ``stride``).

    The score is the mean over windows; ``details["windows"]`` gives each window's turns and score, and
    ``worst_turn`` the first turn of the lowest-scoring window.
    """

    geval: GEval
    window: int = 8
    stride: int = 4
    turn_threshold: float = 3.0
    uses_model = True

    def __post_init__(self) -> None:
        if self.window < 2 or not 1 <= self.stride <= self.window:
            raise ValueError(f"ConversationGEval needs window >= 2 and 1 <= stride <= window, got "
                             f"window={self.window}, stride={self.stride}")

    @property
    def judge_name(self) -> str:
        return f"conversation_geval:{self.geval.name}"

    @property
    def metric_name(self) -> str:
        return self.geval.metric_name

    @property
    def scale(self) -> tuple[int, int]:
        return self.geval.scale

    def windows(self, n: int) -> list[tuple[int, int]]:
        """``[start, end)`` turn ranges covering ``n`` turns (one window when the conversation is short)."""
        if n <= self.window:
            return [(0, n)]
        starts = list(range(0, n - self.window + 1, self.stride))
        if starts[-1] + self.window < n:
            starts.append(n - self.window)
        return [(s, s + self.window) for s in starts]

    async def judge(self, client: ModelClient, case: Case) -> Result:
        try:
            turns = conversation_turns(case)
        except ValueError as exc:
            return JudgeFailure(self.judge_name, client.info.model, str(exc))
        calls = CallAccount()
        found: list[dict[str, Any]] = []
        version = None
        for start, end in self.windows(len(turns)):
            sub = Case(case.id, case.input, output=render_turns(turns[start:end]), expected=case.expected)
            res = await self.geval.judge(client, sub)
            calls.merge(res.calls)
            found.append({"turns": [start, end - 1], "score": res.score,
                          **({"failure": res.reason} if isinstance(res, JudgeFailure) else {})})
            if isinstance(res, Judgement):
                version = res.details.get("steps_version", version)
        scored = [w for w in found if w["score"] is not None]
        if not scored:
            return JudgeFailure(self.judge_name, client.info.model,
                                "; ".join(str(w.get("failure")) for w in found), calls=calls)
        worst = min(scored, key=lambda w: w["score"])
        return Judgement(self.judge_name, client.info.model, sum(w["score"] for w in scored) / len(scored),
                         calls=calls, flags=("partial",) if len(scored) < len(found) else (),
                         details={"windows": found, "worst_turn": worst["turns"][0], "steps_version": version,
                                  "failing_turns": [w["turns"][0] for w in scored if w["score"] < self.turn_threshold]})


@dataclass(frozen=True)
class TranscriptCheck(NamedJudge):
    """Deterministic: 1 when the turns alternate strictly, no turn failed, and the conversation ran to its
    turn limit (``metadata["max_turns"]`` user turns) or stopped for a stated reason (goal reached, user gave up)."""

    scale: tuple[float, float] = (0.0, 1.0)
    uses_model = False
    name: ClassVar[str] = "transcript_check"


    async def judge(self, client: ModelClient, case: Case) -> Result:
        try:
            turns = conversation_turns(case)
        except ValueError as exc:
            return JudgeFailure(self.judge_name, "deterministic", str(exc))
        problems = [f"turns {i - 1} and {i} are both {t['role']}" for i, t in enumerate(turns)
                    if i and t["role"] == turns[i - 1]["role"]]
        problems += [f"turn {t.get('index', i)} failed: {t['error']}" for i, t in enumerate(turns) if t.get("error")]
        stop = turns[-1].get("stop_reason", "turn_limit")
        users = sum(1 for t in turns if t["role"] == "user")
        limit = case.metadata.get("max_turns")
        if stop == "turn_limit" and limit is not None and users != limit:
            problems.append(f"{users} user turns, expected exactly {limit}")
        if stop == "simulator_error":
            problems.append("the simulator wrote an empty user turn")
        failed = next((t.get("index", i) for i, t in enumerate(turns) if t.get("error")), None)
        return Judgement(self.judge_name, "deterministic", 0.0 if problems else 1.0,
                         label="fail" if problems else "ok", reasoning="; ".join(problems) or None,
                         details={"stop_reason": stop, "user_turns": users, "failing_turns": [] if failed is None else [failed]})
