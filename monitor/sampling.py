"""Which traces an evaluator judges: a deterministic hash of the trace id under the evaluator's rate.

Every evaluator hashes the trace id the same way (one salt), so evaluators with the same rate judge
the same traces, a lower rate's sample lies inside a higher rate's, and a rerun picks the same traces.
A rate can instead be derived from the width wanted for the 95% confidence interval of the daily mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from review.sampling import unit_hash

__all__ = ["RateChoice", "in_sample", "rate_for_ci_width"]

SALT = "monitor:"


def in_sample(trace_id: str, rate: float) -> bool:
    """True when ``trace_id`` falls in a ``rate`` sample (the same answer every time, for every evaluator)."""
    if rate >= 1.0:
        return True
    return rate > 0.0 and unit_hash(SALT + trace_id) < rate


@dataclass(frozen=True)
class RateChoice:
    """The rate an evaluator samples at this run, and where it came from."""

    rate: float
    reason: str


def sample_size_for_ci_width(width: float, score_sd: float, population: int | None = None,
                             confidence: float = 0.95) -> int:
    """Verdicts needed for a mean's ``confidence`` CI to be ``width`` wide (full width), from a
    population of ``population`` traces a day (finite-population correction) when given.

    n0 = (2·z·σ / width)²; with N traces, n = n0 / (1 + (n0 − 1) / N) (Cochran, *Sampling Techniques*, 1977).
    """
    from scipy.stats import norm

    if width <= 0 or score_sd <= 0:
        raise ValueError(f"width and score_sd must be > 0, got {width!r} and {score_sd!r}")
    z = float(norm.ppf(0.5 + confidence / 2))
    n0 = (2.0 * z * score_sd / width) ** 2
    if population is not None:
        n0 = n0 / (1.0 + (n0 - 1.0) / population)
    return max(2, math.ceil(n0))


def _round_up(rate: float) -> float:
    # Two significant digits, rounded up: a rate re-estimated each run changes the sample only when
    # the estimate really moves, and never lands below what the CI width needs.
    if rate <= 0:
        return 0.0
    scale = 10.0 ** (math.floor(math.log10(rate)) - 1)
    return min(1.0, math.ceil(rate / scale - 1e-9) * scale)


def rate_for_ci_width(width: float, *, daily_traces: float, score_sd: float, confidence: float = 0.95) -> float:
    """The sample rate whose expected daily sample gives a ``width``-wide CI for the daily mean score."""
    if daily_traces <= 0:
        raise ValueError(f"daily_traces must be > 0, got {daily_traces!r}")
    n = sample_size_for_ci_width(width, score_sd, max(2, round(daily_traces)), confidence)
    return _round_up(min(1.0, n / daily_traces))
