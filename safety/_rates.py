"""A proportion with its Wilson 95% interval: every rate the safety reports quote carries one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` with the Wilson score interval (sound at 0 and n, unlike a bootstrap of 0/1 values)."""

    k: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float:
        return self.k / self.n if self.n else float("nan")

    def __str__(self) -> str:
        if not self.n:
            return "n/a (0 cases)"
        return f"{self.value:.0%} [{self.low:.0%}, {self.high:.0%}] ({self.k}/{self.n})"


def rate(k: int, n: int, confidence: float = 0.95) -> Rate:
    """``k`` successes of ``n`` with their Wilson interval (``nan`` bounds when ``n`` is 0)."""
    from drift.concept import wilson_interval  # the harness's one Wilson interval

    low, high = wilson_interval(k, n, confidence)
    return Rate(k, n, low, high)
