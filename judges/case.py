"""The thing a judge or scorer looks at: one case of a dataset, with the output to judge, and one turn of
a conversational case (declared once here: the simulator writes turns, the conversation judges read them,
the results record stores them as ``Turn.to_dict()`` and the review transcript extends them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal


@dataclass(frozen=True)
class Case:
    """One thing to judge. Pointwise judges read ``output``; pairwise judges read ``output_a``/``output_b``."""

    id: str
    input: str
    output: str | None = None
    context: str | None = None
    expected: str | None = None
    output_a: str | None = None
    output_b: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """One message of a conversation. ``simulated``: written by the user simulator (not a fixed opening turn);
    ``error``: the application raised instead of answering (``content`` is then empty); ``goal_score``: after
    an assistant turn, the goal-completion judge's score (1..5); ``span_id``: the turn's span."""

    index: int
    role: Literal["user", "assistant"]
    content: str
    simulated: bool = False
    error: str | None = None
    goal_score: float | None = None
    span_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The stored form (``TaskRun.turns`` of the results record): fields that are None are left out."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Turn:
        """Read a stored turn; keys this class does not declare are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})
