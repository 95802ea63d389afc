"""Abstention: a judge that is unsure sends the case to human review instead of scoring it.

An ``AbstainBand`` on a judge marks a verdict whose label distribution is too flat (entropy above a
bound) or too close (margin between the two likeliest labels below a bound) as ``abstained``: the
verdict is kept in the record for a reviewer to read, the review dashboard escalates it, and the suite's
aggregates and gate leave it out. ``coverage_risk`` says what a band buys: the disagreement with humans
among the cases kept, for every share of cases kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from judges.stats import Estimate, case_bootstrap, entropy

#: The flag an abstained verdict carries (the review dashboard escalates every flagged verdict).
ABSTAINED = "abstained"


def margin(probs: Mapping[str, float]) -> float:
    """Probability of the likeliest label minus that of the second likeliest (1 = certain, 0 = a coin toss)."""
    p = sorted((max(0.0, v) for v in probs.values()), reverse=True)
    total = sum(p)
    if total <= 0:
        return 0.0
    return (p[0] - (p[1] if len(p) > 1 else 0.0)) / total


@dataclass(frozen=True)
class AbstainBand:
    """Abstain when the entropy exceeds ``max_entropy_bits`` or the top-two margin is below ``min_margin``."""

    max_entropy_bits: float | None = None
    min_margin: float | None = None

    def __post_init__(self) -> None:
        if self.max_entropy_bits is None and self.min_margin is None:
            raise ValueError("AbstainBand needs max_entropy_bits=... or min_margin=... (or both)")
        if self.max_entropy_bits is not None and not self.max_entropy_bits >= 0:
            raise ValueError(f"AbstainBand max_entropy_bits must be >= 0, got {self.max_entropy_bits}")
        if self.min_margin is not None and not 0 <= self.min_margin <= 1:
            raise ValueError(f"AbstainBand min_margin must be in [0, 1], got {self.min_margin}")

    def reason(self, probs: Mapping[str, float]) -> str | None:
        """Why a verdict with this label distribution abstains; None when it is confident enough to count."""
        why = []
        if self.max_entropy_bits is not None:
            h = entropy(dict(probs))
            if h > self.max_entropy_bits + 1e-12:  # on the bound counts (float noise aside)
                why.append(f"entropy {h:.3f} bits > {self.max_entropy_bits:g}")
        if self.min_margin is not None:
            m = margin(probs)
            if m < self.min_margin - 1e-12:
                why.append(f"margin {m:.3f} < {self.min_margin:g}")
        return "; ".join(why) or None


@dataclass(frozen=True)
class CoverageRisk:
    """The coverage–risk curve: keeping the ``coverage[i]`` most confident cases, ``risk[i]`` of them disagree.

    ``threshold[i]`` is the confidence of the least confident case kept: an abstain band at that value
    (``AbstainBand(min_margin=...)`` when the confidence is the margin) keeps those cases.
    """

    coverage: tuple[float, ...]
    risk: tuple[float, ...]
    threshold: tuple[float, ...]


def _ranked(confidence: ArrayLike, error: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(confidence, dtype=float).ravel()
    e = np.asarray(error, dtype=float).ravel()
    if c.shape != e.shape:
        raise ValueError(f"confidence and error must align, got {c.size} and {e.size}")
    order = np.argsort(-c, kind="stable")  # most confident first; ties keep the cases' order
    return c[order], e[order]


def coverage_risk(confidence: ArrayLike, error: ArrayLike) -> CoverageRisk:
    """Risk (mean ``error``, e.g. 1 where the judge disagrees with the human) at every coverage k / n."""
    c, e = _ranked(confidence, error)
    if c.size == 0:
        return CoverageRisk((), (), ())
    k = np.arange(1, c.size + 1)
    risk = np.cumsum(e) / k
    return CoverageRisk(tuple(map(float, k / c.size)), tuple(map(float, risk)), tuple(map(float, c)))


def _risk_at(c: np.ndarray, e: np.ndarray, coverage: float) -> float:
    k = max(1, math.ceil(coverage * c.size - 1e-9))
    order = np.argsort(-c, kind="stable")
    return float(e[order[:k]].mean())


@dataclass(frozen=True)
class RiskAtCoverage:
    """Disagreement with humans when the judge abstains on the least confident cases, against not abstaining."""

    coverage: float
    risk: Estimate  # among the cases kept
    full: Estimate  # over all cases (no abstention)
    change: Estimate  # risk - full, paired over the same bootstrap resamples
    threshold: float  # the confidence below which the judge abstains


def risk_at_coverage(
    confidence: ArrayLike, error: ArrayLike, *, coverage: float = 0.8, n_resamples: int = 1000, seed: int | None = 0
) -> RiskAtCoverage:
    """Risk at ``coverage`` and at full coverage, each with a bootstrap CI (cases resampled, the cut redone)."""
    if not 0 < coverage <= 1:
        raise ValueError(f"coverage must be in (0, 1], got {coverage}")
    c = np.asarray(confidence, dtype=float).ravel()
    e = np.asarray(error, dtype=float).ravel()
    if c.shape != e.shape or c.size == 0:
        raise ValueError(f"risk_at_coverage needs paired, non-empty values, got {c.size} and {e.size}")
    n = c.size

    def kept(idx: np.ndarray) -> float:
        return _risk_at(c[idx], e[idx], coverage)

    def full(idx: np.ndarray) -> float:
        return float(e[idx].mean())

    def change(idx: np.ndarray) -> float:
        return kept(idx) - full(idx)

    k = max(1, math.ceil(coverage * n - 1e-9))
    threshold = float(np.sort(c)[::-1][k - 1])
    return RiskAtCoverage(
        coverage=coverage,
        risk=case_bootstrap(kept, n, n_resamples=n_resamples, seed=seed),
        full=case_bootstrap(full, n, n_resamples=n_resamples, seed=seed),
        change=case_bootstrap(change, n, n_resamples=n_resamples, seed=seed),
        threshold=threshold,
    )
