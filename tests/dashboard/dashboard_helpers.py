"""Helpers shared by the dashboard tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

from dashboard import JudgeView, NewItem

PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-2", "carol": "carol-pw-3"}


class FakeClock:
    """A clock the test moves by hand (a fake, so lease expiry needs no sleeping)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def sample_items(n: int, *, queue: str = "escalation", overlap: int = 1, start: int = 0) -> list[NewItem]:
    """``n`` eval-like items on a 1..5 scale with one judge each."""
    return [
        NewItem(
            queue=queue,
            source_id=f"case-{i}",
            input=f"question {i}",
            output=f"answer {i}",
            context=f"context {i}",
            criterion="helpfulness",
            scale=(1, 5),
            judge_score=float(1 + i % 5),
            judges=(
                JudgeView("judge-a", float(1 + i % 5), {"1": 0.1, "3": 0.3, "5": 0.6}, f"reasoning {i}"),
            ),
            reason="low_confidence",
            overlap=overlap,
            span_id=f"{i:016x}",
            trace_id=f"{i:032x}",
        )
        for i in range(start, start + n)
    ]
