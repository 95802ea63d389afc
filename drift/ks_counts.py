"""KS from counts: the reference side of the Kolmogorov–Smirnov test as sorted distinct values with their
counts (exact, equal to :func:`scipy.stats.ks_2samp`) or a fine histogram (a lower bound), and the undecided KS
result of a current window against it.

Both the detectors (:mod:`drift.detectors`) and the stored reference profile (:mod:`drift.profile`) need
these; they live one floor below both, so neither imports the other to get them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .binning import edges_from_quantiles, histogram
from .decision import PVALUE_THRESHOLD
from .errors import ConfigError
from .numeric import ks_statistic_from_counts
from .results import DriftResult

#: Columns with more distinct reference values than this keep a fine histogram for KS instead of the
#: value counts (KS is then a lower bound, off by at most the largest fine bin's share).
KS_MAX_DISTINCT = 100_000
#: Bins of that fine histogram (at reference quantiles).
KS_HIST_BINS = 10_000
#: scipy's ks_2samp uses the exact distribution up to this many values per sample (method="auto").
SCIPY_MAX_AUTO_N = 10_000


@dataclass(frozen=True, eq=False)
class KSReference:
    """The reference side of KS. ``kind="values"``: sorted distinct finite values and their counts (exact KS);
    ``kind="histogram"``: ``values`` are fine bin edges (``len(counts) + 1``) and KS is the histogram bound."""

    kind: Literal["values", "histogram"]
    values: np.ndarray
    counts: np.ndarray

    @property
    def n(self) -> int:
        """Number of finite reference values."""
        return int(self.counts.sum())

    @property
    def exact(self) -> bool:
        """True when KS against this reference is exact."""
        return self.kind == "values"


def value_counts_sorted(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and their counts (one pass over run ends)."""
    if sorted_values.size == 0:
        return sorted_values.astype(np.float64), np.zeros(0, dtype=np.int64)
    ends = np.append(np.flatnonzero(sorted_values[1:] != sorted_values[:-1]), sorted_values.size - 1)
    counts = np.diff(np.concatenate([[-1], ends])).astype(np.int64)
    return sorted_values[ends].astype(np.float64), counts


def ks_reference(sorted_finite: np.ndarray, max_distinct: int | None = KS_MAX_DISTINCT,
                 hist_bins: int = KS_HIST_BINS) -> KSReference:
    """The KS reference of a sorted finite sample: value counts, or a fine histogram when the sample has
    more than ``max_distinct`` distinct values (``None``: never)."""
    values, counts = value_counts_sorted(sorted_finite)
    if max_distinct is None or values.size <= max_distinct:
        return KSReference("values", values, counts)
    qs = np.quantile(sorted_finite, np.linspace(0.0, 1.0, hist_bins + 1)[1:-1])
    edges = edges_from_quantiles(qs, float(sorted_finite[0]))
    return KSReference("histogram", edges, histogram(sorted_finite, edges, presorted=True))


def ks_from_value_counts(ref_values: np.ndarray, ref_counts: np.ndarray, cur_values: np.ndarray,
                         cur_counts: np.ndarray, *, method: str = "auto") -> tuple[float, float]:
    """Two-sided KS ``(statistic, pvalue)`` of two samples given as sorted distinct values with counts,
    equal to :func:`scipy.stats.ks_2samp` on the expanded samples.

    At or below scipy's exact-mode size the samples are expanded and scipy runs (its exact statistic is
    rounded to the lattice of ``1/lcm(n1, n2)``). Above, the ECDF difference is evaluated at every distinct
    value of both samples from cumulative counts: the same integers scipy divides, so the same floats.
    """
    n1, n2 = int(ref_counts.sum()), int(cur_counts.sum())
    if n1 == 0 or n2 == 0:
        raise ConfigError("KS needs at least one value in each sample")
    if method == "exact" or (method == "auto" and max(n1, n2) <= SCIPY_MAX_AUTO_N):
        from scipy.stats import ks_2samp

        res = ks_2samp(np.repeat(ref_values, ref_counts), np.repeat(cur_values, cur_counts), method=method)
        return float(res.statistic), float(res.pvalue)
    if method not in ("auto", "asymp"):
        raise ConfigError(f"KS method must be 'auto', 'exact' or 'asymp', got {method!r}")
    c1 = np.concatenate([[0], np.cumsum(ref_counts)])
    c2 = np.concatenate([[0], np.cumsum(cur_counts)])
    d1 = c1[1:] / n1 - c2[np.searchsorted(cur_values, ref_values, side="right")] / n2
    d2 = c1[np.searchsorted(ref_values, cur_values, side="right")] / n1 - c2[1:] / n2
    return ks_finish(max(d1.max(), d2.max()), min(d1.min(), d2.min()), n1, n2)


def ks_finish(max_diff: float, min_diff: float, n1: int, n2: int) -> tuple[float, float]:
    """Statistic and asymptotic p-value from the largest and smallest ECDF difference, as scipy's
    ``ks_2samp(method='asymp')``."""
    from scipy.stats import kstwo

    min_s = float(np.clip(-min_diff, 0, 1))
    d = float(max(max_diff, min_s))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    p = float(np.clip(kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))
    return d, p


def ks_result(ks: KSReference, n_current: int, *, cur_values: np.ndarray | None = None,
              cur_counts: np.ndarray | None = None, stat: tuple[float, float] | None = None) -> DriftResult:
    """The undecided KS result against ``ks``: from the current's value counts (or a statistic computed
    elsewhere, ``stat``) for an exact reference, from the current's counts on the fine edges otherwise."""
    if ks.kind == "histogram":
        assert cur_counts is not None
        return ks_statistic_from_counts(ks.counts, cur_counts)
    if stat is None:
        assert cur_values is not None and cur_counts is not None
        stat = ks_from_value_counts(ks.values, ks.counts, cur_values, cur_counts)
    d, p = stat
    return DriftResult("ks", d, p, PVALUE_THRESHOLD, False,
                       {"method": "auto", "n_reference": ks.n, "n_current": int(n_current)})
