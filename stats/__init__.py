"""The harness's shared statistics: pure functions on numbers, one copy each.

This package is the lowest floor: it imports numpy (scipy where a function runs) and nothing of the harness,
so ``judges`` (``judges.stats`` re-exports these), ``drift`` (which knows nothing of judges) and ``monitor`` all
use the same Holm correction, Wilson interval and Welch test.

* :func:`holm` — Holm's step-down adjusted p-values (Holm 1979); :func:`holm_levels` — the share of ``alpha``
  each p-value is tested at.
* :func:`wilson_interval` — Wilson score interval of a binomial proportion (``scipy.stats.binomtest``).
* :func:`welch_pvalue` — two-sided p-value of Welch's t-test (``scipy.stats.ttest_ind(equal_var=False)``).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["holm", "holm_levels", "welch_pvalue", "wilson_interval"]


def _pvalues(pvalues: ArrayLike) -> np.ndarray:
    p = np.asarray(pvalues, dtype=float).ravel()
    if np.isnan(p).any():
        raise ValueError("holm needs p-values without NaN; drop the tests that could not be computed")
    return p


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1), in the order given.

    Reject hypothesis i at family-wise level ``alpha`` when ``holm(p)[i] <= alpha``.
    """
    p = _pvalues(pvalues)
    m = p.size
    order = np.argsort(p, kind="stable")
    out = np.empty(m)
    out[order] = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    return out


def holm_levels(pvalues: ArrayLike) -> np.ndarray:
    """The level each p-value is compared with in Holm's procedure, as a share of ``alpha``: ``1 / k`` for the
    smallest of k, ``1 / (k - 1)`` for the next, … ``1`` for the largest (ties in the order given)."""
    p = _pvalues(pvalues)
    m = p.size
    out = np.empty(m)
    out[np.argsort(p, kind="stable")] = 1.0 / (m - np.arange(m))
    return out


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of ``successes`` in ``n`` trials (Wilson 1927; no continuity correction), as
    ``scipy.stats.binomtest(successes, n).proportion_ci(method="wilson")``; ``(nan, nan)`` when ``n == 0``."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n], got {successes!r} of {n!r}")
    if n == 0:
        return float("nan"), float("nan")
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def welch_pvalue(reference: ArrayLike, current: ArrayLike) -> float:
    """Two-sided p-value of Welch's t-test (unequal variances) of ``current`` against ``reference``, as
    ``scipy.stats.ttest_ind(current, reference, equal_var=False)``. Both samples constant: 1 when the means are
    equal, else 0 (scipy gives NaN); fewer than two values on a side: NaN."""
    a = np.asarray(reference, dtype=float).ravel()
    b = np.asarray(current, dtype=float).ravel()
    if a.size < 2 or b.size < 2:
        return float("nan")
    if a.var() == 0 and b.var() == 0:
        return 1.0 if float(b.mean()) == float(a.mean()) else 0.0
    from scipy.stats import ttest_ind

    p = float(ttest_ind(b, a, equal_var=False).pvalue)
    return p if math.isfinite(p) else float("nan")
