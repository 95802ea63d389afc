"""The persona user simulator: a model plays the user, the application under test answers, turn by turn.

The loop writes one user turn, then one assistant turn, never two of a kind in a row. It stops when the
goal is reached (a goal-completion judge after every assistant turn), when the simulated user gives up
(writes ``[GIVE UP]``), when the application raises (the error is recorded at that turn and the
transcript kept), or after ``max_turns`` user turns. Each user turn is generated greedily with a seed
derived from the simulator's seed and the turn, so a rerun at temperature 0 is byte-for-byte the same.
The conversation is one traced session (``session.id``) with one span per turn.

A case may script the user's side (``metadata["user_turns"]``: a list whose strings are sent verbatim and
whose ``None`` entries the simulator writes in persona): a red team's multi-turn escalation sends its attack
as the last scripted turn, after turns that build it up. The script's length is then the turn limit, and a
case whose script has no ``None`` needs no persona.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from judges.case import Case, Turn
from judges.client import ModelClient
from judges.conversation import GoalCompletion, render_turns
from judges.types import ModelRequest
from simulate._transcript import StopReason, Transcript
from simulate.errors import SimulationError

#: What the application under test is: the conversation so far ({"role", "content"} messages) -> the next reply.
App = Callable[[list[dict[str, str]]], Any]

GIVE_UP = "[GIVE UP]"
_ROLE_PREFIX = re.compile(r"^\s*(?:\*\*)?(?:user|me|you|customer|assistant)\s*(?:\*\*)?\s*:\s*", re.IGNORECASE)


def user_script(case: Case) -> list[str | None] | None:
    """The case's scripted user turns (``metadata["user_turns"]``), checked; None when it has none."""
    script = case.metadata.get("user_turns")
    if script is None:
        return None
    if (not isinstance(script, list | tuple) or not script
            or not all(t is None or (isinstance(t, str) and t.strip()) for t in script)):
        raise SimulationError(f"case {case.id!r}: metadata['user_turns'] must be a non-empty list of messages "
                              f"(str) and None for turns the simulator writes; got {script!r}")
    return list(script)


def persona_of(case: Case) -> Mapping[str, Any]:
    """The case's persona; a SimulationError naming the case when it has none (or no scenario or goal)."""
    persona = case.metadata.get("persona")
    if not isinstance(persona, Mapping) or not persona.get("description"):
        raise SimulationError(f"case {case.id!r} has no persona (metadata['persona'] with a description); "
                              "load it from a 'conversation' dataset or add one")
    if not (case.metadata.get("scenario") or case.input):
        raise SimulationError(f"case {case.id!r} has no scenario")
    if not case.metadata.get("goal"):
        raise SimulationError(f"case {case.id!r} has no goal (metadata['goal']); the simulated user needs one")
    return persona


def clean_user_message(text: str) -> str:
    """The simulated user's message: the first line with words in it, without a role prefix or quotes (a small
    model may open with a bare ``user:`` line or two before the message)."""
    for raw in text.splitlines():
        line = _ROLE_PREFIX.sub("", raw.strip()).strip()
        if len(line) >= 2 and line[0] == line[-1] and line[0] in "\"'":
            line = line[1:-1].strip()
        if line:
            return line
    return ""


@dataclass(frozen=True)
class UserSimulator:
    """Plays the user of a conversational case against ``app``.

    ``client``: the simulator's model (a judges ``ModelClient``); ``seed`` and ``temperature`` make reruns
    reproducible (greedy at 0). ``goal_threshold``: stop once the goal-completion judge's score reaches it
    (on its 1..5 scale; None: never stop on the goal). ``max_turns``: overrides the case's turn limit.
    """

    client: ModelClient = field(compare=False)
    seed: int = 0
    temperature: float = 0.0
    max_tokens: int = 40
    goal_threshold: float | None = 4.5
    goal_judge: GoalCompletion = field(default_factory=GoalCompletion)
    max_turns: int | None = None
    tracer: Any = field(default=None, compare=False)  # an OpenTelemetry tracer (default: the global one)
    #: offer the simulated user a way out (``[GIVE UP]``); an attacker playing a scripted escalation gets none
    allow_give_up: bool = True

    def __post_init__(self) -> None:
        if self.max_turns is not None and self.max_turns < 1:
            raise SimulationError(f"max_turns must be >= 1, got {self.max_turns}")
        if self.temperature < 0:
            raise SimulationError(f"temperature must be >= 0, got {self.temperature}")

    def user_prompt(self, case: Case, turns: list[Turn]) -> str:
        p = persona_of(case)
        who = f"{p.get('name', 'the user')}: {p['description']}"
        parts = [f"You are role-playing a user talking to an assistant. Stay in character.\nYou are {who}."]
        if p.get("knowledge"):
            parts.append(f"What you know: {p['knowledge']}")
        if p.get("tone"):
            parts.append(f"How you write: {p['tone']}")
        parts.append(f"Situation: {case.metadata.get('scenario') or case.input}\nYour goal: {case.metadata['goal']}")
        history = render_turns([t.to_dict() for t in turns]) if turns else "(no messages yet)"
        parts.append(f"Conversation so far:\n{history}")
        ask = "Write your next message to the assistant in one or two sentences."
        parts.append(f"{ask} If you want to give up, write only {GIVE_UP}." if self.allow_give_up else ask)
        return "\n\n".join(parts)

    async def _user_turn(self, case: Case, turns: list[Turn], n: int) -> str:
        messages = [{"role": "user", "content": self.user_prompt(case, turns)}, {"role": "assistant", "content": "User:"}]
        text = ""
        # A reply with no words (a small model's run of bare "user:" lines) is asked again, seeded and sampled, at
        # most twice; still nothing is the simulator's error, recorded as the stop reason, never an empty turn.
        for attempt in range(3):
            req = ModelRequest(messages, max_tokens=self.max_tokens, seed=self.seed * 1000 + n + 100_000 * attempt,
                               temperature=self.temperature if attempt == 0 else max(self.temperature, 0.7),
                               stop=("\n\n",))  # not "\n": a small model often opens with a newline
            text = clean_user_message((await self.client.complete(req)).text)
            if text:
                break
        return text

    async def _goal_p(self, case: Case, turns: list[Turn]) -> float | None:
        if self.goal_threshold is None:
            return None
        res = await self.goal_judge.judge(self.client, Case(case.id, case.input, expected=case.expected,
                                                            metadata={**case.metadata,
                                                                      "turns": [t.to_dict() for t in turns]}))
        return None if res.score is None else round(float(res.score), 6)

    async def run(self, case: Case, app: App) -> Transcript:
        """Simulate the conversation of ``case`` with ``app``; the app's failures are recorded, not raised."""
        import tracing

        script = user_script(case)
        if script is None or None in script:
            persona_of(case)  # a fully scripted user needs no persona
        limit = len(script) if script is not None else self.max_turns or int(case.metadata.get("max_turns") or 3)
        opening = [Turn(i, t["role"], t["content"]) for i, t in enumerate(case.metadata.get("opening_turns") or ())]
        if script is not None and opening:
            raise SimulationError(f"case {case.id!r} has both opening_turns and user_turns; script the opening "
                                  "user turns in user_turns instead")
        session = f"sim:{case.id}:{self.seed}"
        turns: list[Turn] = []
        reason: StopReason = "turn_limit"
        with tracing.chain_span(f"conversation:{case.id}", input=case.input, session_id=session,
                                attributes={"conversation.max_turns": limit}, tracer=self.tracer) as root:
            while True:
                n = len(turns)
                if n < len(opening):  # fixed opening turns first, as written (the dataset checks they alternate)
                    turns.append(opening[n])
                    continue
                if n and turns[-1].role == "user":
                    turn, failed = await self._assistant_turn(case, turns, n, app)
                    turns.append(turn)
                    if failed:
                        reason = "task_error"
                        break
                    goal_p = await self._goal_p(case, turns)
                    turns[-1] = replace(turn, goal_score=goal_p)
                    if goal_p is not None and self.goal_threshold is not None and goal_p >= self.goal_threshold:
                        reason = "goal_reached"
                        break
                    continue
                sent = sum(1 for t in turns if t.role == "user")
                if sent >= limit:
                    break
                scripted = script[sent] if script is not None else None
                if scripted is not None:
                    text, span_id = await self._traced(n, "user", partial(_const, scripted))
                    turns.append(Turn(n, "user", text, span_id=span_id))
                    continue
                text, span_id = await self._traced(n, "user", partial(self._user_turn, case, turns, n))
                if not self.allow_give_up:
                    text = re.sub(re.escape(GIVE_UP), "", text, flags=re.IGNORECASE).strip()
                if not text or GIVE_UP.lower() in text.lower():
                    reason = "user_gave_up" if text else "simulator_error"
                    break
                turns.append(Turn(n, "user", text, simulated=True, span_id=span_id))
            root.set_output(render_turns([t.to_dict() for t in turns]))
            root.set_attributes({"conversation.stop_reason": reason, "conversation.turns": len(turns)})
        return Transcript(case.id, tuple(turns), reason, session)

    async def _assistant_turn(self, case: Case, turns: list[Turn], n: int, app: App) -> tuple[Turn, bool]:
        messages = [{"role": t.role, "content": t.content} for t in turns]
        try:
            text, span_id = await self._traced(n, "assistant", partial(_call, app, messages))
        except Exception as exc:  # noqa: BLE001 - the app under test: its failure is recorded at this turn
            return Turn(n, "assistant", "", error=f"{type(exc).__name__}: {exc}"), True
        if not isinstance(text, str):
            return Turn(n, "assistant", "", error=f"the app returned {type(text).__name__}, not a str"), True
        return Turn(n, "assistant", text.strip(), span_id=span_id), False

    async def _traced(self, n: int, role: str, make: Callable[[], Any]) -> tuple[Any, str | None]:
        import tracing

        with tracing.chain_span(f"turn {n}: {role}", attributes={"conversation.turn": n, "conversation.role": role},
                                tracer=self.tracer) as span:
            value = await make()
            span.set_output(value if isinstance(value, str) else None)
            ids = span.ids
        return value, ids[1] if ids else None


async def _const(text: str) -> str:
    return text


async def _call(app: App, messages: list[dict[str, str]]) -> Any:
    if inspect.iscoroutinefunction(app):
        return await app(messages)
    out = await asyncio.to_thread(app, messages)  # a sync app (a local model) must not block the event loop
    if inspect.isawaitable(out):
        out = await out
    return out
