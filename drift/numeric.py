"""Drift statistics for numeric features: PSI, Jensen–Shannon and Kolmogorov–Smirnov.

Functions take two samples (array-likes or pandas Series) and return a frozen
:class:`~drift.results.DriftResult`. ``bins`` is either a number of reference-quantile bins or an
explicit sequence of edges; pass Evidently's edges to reproduce Evidently's numbers exactly.

Each function decides on its own (a family of one test): by default drift means "significant at 5% at these
sample sizes and at least the effect floor" (:mod:`drift.decision`); ``threshold=`` gives the old fixed rule.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .binning import Eps, as_float_array, check_edges, histogram, quantile_edges, shares, split_finite
from .decision import (
    DEFAULT_DECISION,
    JS_THRESHOLD,
    PSI_THRESHOLD,
    PVALUE_THRESHOLD,
    Decision,
    PendingTest,
    decide_one,
    with_threshold,
)
from .errors import ConfigError, EmptyDataError, LowPowerWarning
from .nulls import Binning, DegenerateNull, KSNull, Null, binned_nulls
from .results import DriftResult

__all__ = ["JS_THRESHOLD", "PSI_THRESHOLD", "PVALUE_THRESHOLD"]  # re-exported for drift.categorical
#: Below this many values per sample a LowPowerWarning is issued.
MIN_SAMPLES = 30


def _clean(values: Any, column: str, which: str) -> tuple[np.ndarray, dict[str, int]]:
    arr = as_float_array(values, column)
    finite, n_nan, n_pos, n_neg = split_finite(arr)
    if finite.size == 0:
        raise EmptyDataError(
            f"{which} sample of column {column!r} has no finite values ({arr.size} rows, {n_nan} NaN, "
            f"{n_pos + n_neg} inf); check the window or the column's logging, or drop it from the schema"
        )
    return finite, {"nan": n_nan, "posinf": n_pos, "neginf": n_neg}


def warn_low_power(n_ref: int, n_cur: int, column: str, min_samples: int = MIN_SAMPLES) -> str | None:
    """Warn (and return the message) when either sample is below ``min_samples``."""
    if min(n_ref, n_cur) >= min_samples:
        return None
    msg = (f"column {column!r}: only {n_ref} reference / {n_cur} current values (< {min_samples}); "
           f"drift tests have low power, collect a longer window before trusting 'no drift'")
    warnings.warn(msg, LowPowerWarning, stacklevel=3)
    return msg


def _edges(ref: np.ndarray, bins: int | Sequence[float], column: str) -> tuple[np.ndarray, Binning]:
    if isinstance(bins, (int, np.integer)):
        return quantile_edges(ref, int(bins), column=column), "reference-quantiles"
    return check_edges(bins, column), "fixed"


def psi_statistic(ref_counts: Any, cur_counts: Any, *, eps: Eps = "auto", column: str = "value",
                  details: dict[str, Any] | None = None) -> DriftResult:
    """PSI = sum((r - c) * ln(r / c)) over bins, from counts on the same bins, not yet decided."""
    r = shares(np.asarray(ref_counts, dtype=np.float64), eps, column=column, which="reference")
    c = shares(np.asarray(cur_counts, dtype=np.float64), eps, column=column, which="current")
    with np.errstate(divide="ignore", invalid="ignore"):  # eps=0 may give inf, which is the honest answer
        terms = (r - c) * np.log(r / c)
    terms = np.where((r == 0) & (c == 0), 0.0, terms)
    value = float(np.sum(terms))
    info = {"log_base": "e", "eps": eps, "n_bins": int(r.size)}
    info.update(details or {})
    return DriftResult("psi", value, None, PSI_THRESHOLD, False, info)


def js_statistic(ref_counts: Any, cur_counts: Any, *, column: str = "value",
                 details: dict[str, Any] | None = None) -> DriftResult:
    """Jensen–Shannon distance (natural log) from counts on the same bins, not yet decided."""
    p = shares(np.asarray(ref_counts, dtype=np.float64), 0.0, column=column, which="reference")
    q = shares(np.asarray(cur_counts, dtype=np.float64), 0.0, column=column, which="current")
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0)
    div = (kl_p.sum() + kl_q.sum()) / 2.0
    info = {"log_base": "e", "eps": 0, "n_bins": int(p.size)}
    info.update(details or {})
    return DriftResult("js", float(math.sqrt(max(div, 0.0))), None, JS_THRESHOLD, False, info)


def binned_pending(ref_counts: Any, cur_counts: Any, methods: Sequence[str], *, binning: Binning,
                   decision: Decision = DEFAULT_DECISION, eps: Eps = "auto", column: str = "value",
                   details: dict[str, Any] | None = None) -> tuple[dict[str, PendingTest], dict[str, Null]]:
    """PSI and JS of these counts (those of them in ``methods``) with their nulls, before the decision, and
    the nulls (X²'s too, for the caller). Under the fixed rule no null is built: PSI and JS are then compared
    with thresholds, not p-values."""
    nulls: dict[str, Null] = {}
    if decision.rule == "calibrated":
        wanted = tuple(m for m in ("psi", "js", "chi2") if m in methods)
        nulls = binned_nulls(ref_counts, cur_counts, binning=binning, eps=eps, min_expected=decision.min_expected,
                             rng=decision.rng(column), methods=wanted)
    out = {}
    if "psi" in methods:
        res = psi_statistic(ref_counts, cur_counts, eps=eps, column=column, details=details)
        out["psi"] = PendingTest(res, res.statistic, nulls.get("psi", DegenerateNull()))
    if "js" in methods:
        res = js_statistic(ref_counts, cur_counts, column=column, details=details)
        out["js"] = PendingTest(res, res.statistic, nulls.get("js", DegenerateNull()))
    return out, nulls


def psi_from_counts(ref_counts: Any, cur_counts: Any, *, eps: Eps = "auto", threshold: float | None = None,
                    decision: Decision = DEFAULT_DECISION, binning: Binning = "fixed", column: str = "value",
                    details: dict[str, Any] | None = None) -> DriftResult:
    """PSI = sum((r - c) * ln(r / c)) over bins, from counts on the same bins.

    Drift when significant at ``decision.alpha`` against PSI's null at these counts and PSI ≥ the floor;
    ``threshold`` switches to the old fixed rule (drift when PSI ≥ threshold). ``binning`` says whether the
    bins are the reference's quantiles (the null is then Dirichlet-multinomial) or fixed (permutation).
    """
    base = psi_statistic(ref_counts, cur_counts, eps=eps, column=column, details=details)
    decision = with_threshold(decision, "psi", threshold)
    null = binned_nulls(ref_counts, cur_counts, binning=binning, eps=eps, min_expected=decision.min_expected,
                        rng=decision.rng(column), methods=("psi",))["psi"]
    return decide_one(base, base.statistic, null, decision)


def js_from_counts(ref_counts: Any, cur_counts: Any, *, base: float | None = None, threshold: float | None = None,
                   decision: Decision = DEFAULT_DECISION, binning: Binning = "fixed", column: str = "value",
                   details: dict[str, Any] | None = None) -> DriftResult:
    """Jensen–Shannon *distance* (the square root of the divergence), as
    :func:`scipy.spatial.distance.jensenshannon`; natural log unless ``base`` is given.

    Decided as :func:`psi_from_counts` (in natural-log units; ``base`` rescales the statistic, the critical
    value and the floor alike); ``threshold`` is compared with the statistic in ``base`` units.
    """
    if base is not None and (base <= 0 or base == 1):
        raise ConfigError(f"log base must be > 0 and != 1, got {base!r}")
    nat = js_statistic(ref_counts, cur_counts, column=column, details=details)
    unit = 1.0 if base is None else math.sqrt(math.log(base))
    decision = with_threshold(decision, "js", None if threshold is None else threshold * unit)
    null = binned_nulls(ref_counts, cur_counts, binning=binning, min_expected=decision.min_expected,
                        rng=decision.rng(column), methods=("js",))["js"]
    res = decide_one(nat, nat.statistic, null, decision)
    if base is None:
        return res
    def scaled(v: float | None) -> float | None:
        return None if v is None else v / unit

    return dataclasses.replace(res, statistic=res.statistic / unit, threshold=res.threshold / unit,
                               critical_value=scaled(res.critical_value), effect=scaled(res.effect),
                               details={**res.details, "log_base": base})


def psi(reference: Any, current: Any, *, bins: int | Sequence[float] = 10, eps: Eps = "auto",
        threshold: float | None = None, decision: Decision = DEFAULT_DECISION, column: str = "value") -> DriftResult:
    """Population Stability Index of ``current`` against ``reference``.

    ``bins=10`` bins at reference deciles with open outer bins; or pass explicit edges. Empty bins
    are filled by ``eps`` (see :func:`drift.binning.shares`). NaN/inf are dropped and counted in
    ``details["dropped_*"]``. Decided as :func:`psi_from_counts`; ``threshold=0.1`` is the old rule.
    """
    ref, ref_drop = _clean(reference, column, "reference")
    cur, cur_drop = _clean(current, column, "current")
    warn_low_power(ref.size, cur.size, column)
    edges, binning = _edges(ref, bins, column)
    rc, cc = histogram(ref, edges), histogram(cur, edges)
    return psi_from_counts(rc, cc, eps=eps, threshold=threshold, decision=decision, binning=binning, column=column,
                           details={"edges": edges.tolist(), "dropped_reference": ref_drop,
                                    "dropped_current": cur_drop})


def js(reference: Any, current: Any, *, bins: int | Sequence[float] = 10, base: float | None = None,
       threshold: float | None = None, decision: Decision = DEFAULT_DECISION, column: str = "value") -> DriftResult:
    """Jensen–Shannon distance between the binned distributions (reference-quantile bins).

    Natural log by default (range ``[0, sqrt(ln 2)]``, as Evidently); ``base=2`` gives ``[0, 1]``.
    """
    ref, ref_drop = _clean(reference, column, "reference")
    cur, cur_drop = _clean(current, column, "current")
    warn_low_power(ref.size, cur.size, column)
    edges, binning = _edges(ref, bins, column)
    return js_from_counts(histogram(ref, edges), histogram(cur, edges), base=base, threshold=threshold,
                          decision=decision, binning=binning, column=column,
                          details={"edges": edges.tolist(), "dropped_reference": ref_drop,
                                   "dropped_current": cur_drop})


def ks_null(statistic_pvalue: tuple[float, float], n_ref: int, n_cur: int, method: str = "auto") -> KSNull:
    """KS's null at these sizes: scipy's p-value and the asymptotic critical value."""
    exact = method == "exact" or (method == "auto" and max(n_ref, n_cur) <= _SCIPY_MAX_AUTO_N)
    return KSNull(statistic_pvalue[1], n_ref * n_cur / (n_ref + n_cur), exact)


def ks(reference: Any, current: Any, *, threshold: float | None = None, decision: Decision = DEFAULT_DECISION,
       method: str = "auto", column: str = "value") -> DriftResult:
    """Two-sided Kolmogorov–Smirnov test; statistic and p-value are those of
    :func:`scipy.stats.ks_2samp` (two-sided) on the finite values. Drift when ``pvalue <= alpha`` and
    D ≥ the floor (0.04); ``threshold=0.05`` is the old rule (drift when ``pvalue < threshold``).

    KS needs the raw samples: it cannot be computed exactly from a histogram. For chunked data use
    :func:`ks_from_counts` on a fine histogram, which gives a lower bound on the statistic.
    """
    ref, ref_drop = _clean(reference, column, "reference")
    cur, cur_drop = _clean(current, column, "current")
    warn_low_power(ref.size, cur.size, column)
    d, p = ks_2samp_sorted(np.sort(ref), np.sort(cur), method=method)
    base = DriftResult("ks", d, p, PVALUE_THRESHOLD, False,
                       {"method": method, "n_reference": int(ref.size), "n_current": int(cur.size),
                        "dropped_reference": ref_drop, "dropped_current": cur_drop})
    return decide_one(base, d, ks_null((d, p), ref.size, cur.size, method), with_threshold(decision, "ks", threshold))


#: scipy's ks_2samp uses the exact distribution up to this many values per sample with method="auto".
_SCIPY_MAX_AUTO_N = 10_000


def ks_2samp_sorted(ref_sorted: np.ndarray, cur_sorted: np.ndarray, *, method: str = "auto") -> tuple[float, float]:
    """Two-sided KS ``(statistic, pvalue)`` of two *sorted* samples, bit-identical to
    :func:`scipy.stats.ks_2samp`.

    Small samples (scipy's exact path) go to scipy. For large ones the ECDF difference is
    evaluated only at the last of each run of tied values, in each sample, with the other sample's
    count found by binary search (scipy re-sorts both samples and searches every value of both),
    and the p-value is the same ``kstwo.sf(d, round(n1 n2 / (n1 + n2)))`` scipy's asymptotic mode
    uses.
    """
    from scipy.stats import kstwo

    n1, n2 = ref_sorted.size, cur_sorted.size
    if method == "exact" or (method == "auto" and max(n1, n2) <= _SCIPY_MAX_AUTO_N):
        from scipy.stats import ks_2samp

        res = ks_2samp(ref_sorted, cur_sorted, method=method)
        return float(res.statistic), float(res.pvalue)
    if method not in ("auto", "asymp"):
        raise ConfigError(f"KS method must be 'auto', 'exact' or 'asymp', got {method!r}")
    # The ECDF difference only changes at the end of a run of equal values, so it is enough to
    # evaluate it there (scipy's side='right'), in each sample, with the other sample's count
    # found by binary search. Counts are the same integers scipy divides, so the floats match.
    ends1, ends2 = _run_ends(ref_sorted), _run_ends(cur_sorted)
    d1 = (ends1 + 1) / n1 - np.searchsorted(cur_sorted, ref_sorted[ends1], side="right") / n2
    d2 = np.searchsorted(ref_sorted, cur_sorted[ends2], side="right") / n1 - (ends2 + 1) / n2
    max_s = max(d1.max(), d2.max())
    min_s = np.clip(-min(d1.min(), d2.min()), 0, 1)
    d = max(max_s, min_s)
    m, n = sorted([float(n1), float(n2)], reverse=True)
    p = np.clip(kstwo.sf(d, np.round(m * n / (m + n))), 0, 1)
    return float(d), float(p)


def _run_ends(sorted_values: np.ndarray) -> np.ndarray:
    """Index of the last element of each run of equal values in a sorted array."""
    ends = np.flatnonzero(sorted_values[1:] != sorted_values[:-1])
    return np.append(ends, sorted_values.size - 1)


def ks_from_counts(ref_counts: Any, cur_counts: Any, *, threshold: float | None = None,
                   decision: Decision = DEFAULT_DECISION, details: dict[str, Any] | None = None) -> DriftResult:
    """Approximate KS from counts on shared (fine) bins.

    The statistic is the largest gap between the two empirical CDFs at the bin edges, a lower bound
    on the exact statistic that is off by at most the largest bin's share. The p-value uses the
    asymptotic Kolmogorov distribution with ``n = round(n1 n2 / (n1 + n2))``, as scipy's
    ``method='asymp'``. Decided as :func:`ks`.
    """
    base = ks_statistic_from_counts(ref_counts, cur_counts, details=details)
    n1, n2 = base.details["n_reference"], base.details["n_current"]
    null = KSNull(float(base.pvalue or 0.0), n1 * n2 / (n1 + n2), exact=False)
    return decide_one(base, base.statistic, null, with_threshold(decision, "ks", threshold))


def ks_statistic_from_counts(ref_counts: Any, cur_counts: Any, *, details: dict[str, Any] | None = None) -> DriftResult:
    """The histogram KS statistic and asymptotic p-value of :func:`ks_from_counts`, not yet decided."""
    from scipy.stats import kstwo

    rc = np.asarray(ref_counts, dtype=np.float64)
    cc = np.asarray(cur_counts, dtype=np.float64)
    n1, n2 = rc.sum(), cc.sum()
    if n1 == 0 or n2 == 0:
        raise EmptyDataError("KS needs at least one value in each sample")
    d = float(np.max(np.abs(np.cumsum(rc) / n1 - np.cumsum(cc) / n2)))
    en = n1 * n2 / (n1 + n2)
    p = float(np.clip(kstwo.sf(d, np.round(en)), 0.0, 1.0))
    info = {"method": "histogram-asymp", "max_bin_share": float(max((rc / n1).max(), (cc / n2).max())),
            "n_reference": int(n1), "n_current": int(n2)}
    info.update(details or {})
    return DriftResult("ks", d, p, PVALUE_THRESHOLD, False, info)
