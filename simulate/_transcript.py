"""A conversation as the simulator produced it: turns that alternate strictly, and why it stopped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from judges.case import Turn
from simulate.errors import SimulationError

StopReason = Literal["turn_limit", "goal_reached", "user_gave_up", "task_error", "simulator_error"]


@dataclass(frozen=True)
class Transcript:
    """A whole conversation. ``user_turns`` counts the user's messages (the unit of ``max_turns``)."""

    case_id: str
    turns: tuple[Turn, ...]
    stop_reason: StopReason
    session_id: str

    def __post_init__(self) -> None:
        for prev, turn in zip(self.turns, self.turns[1:], strict=False):
            if prev.role == turn.role:  # an invariant of the simulator loop, checked so a bug cannot hide
                raise SimulationError(f"conversation {self.case_id!r}: turns {prev.index} and {turn.index} are both "
                                      f"{turn.role} turns; turns must alternate")

    @property
    def user_turns(self) -> int:
        return sum(1 for t in self.turns if t.role == "user")

    @property
    def failed_turn(self) -> int | None:
        return next((t.index for t in self.turns if t.error is not None), None)

    def messages(self) -> list[dict[str, str]]:
        """The conversation as chat messages ({"role", "content"}), what the application is given."""
        return [{"role": t.role, "content": t.content} for t in self.turns]

    def text(self) -> str:
        """The transcript as plain text, one ``Role: message`` line per turn (the output that is judged)."""
        return "\n".join(f"{t.role.capitalize()}: {t.content if t.error is None else '[error: ' + t.error + ']'}"
                         for t in self.turns)
