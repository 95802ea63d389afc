"""Drift statistics for categorical features: PSI, Jensen–Shannon and chi-square.

Categories are compared as strings over the union of reference and current categories, so a
category never seen in the reference (a new topic, a new model version) is counted: PSI fills its
empty reference share with ``eps``; JS and chi-square handle zeros natively. Unseen categories are
listed in ``details["unseen"]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .binning import Eps, aligned_counts, category_counts
from .errors import EmptyDataError
from .numeric import (
    JS_THRESHOLD,
    PSI_THRESHOLD,
    PVALUE_THRESHOLD,
    js_from_counts,
    psi_from_counts,
    warn_low_power,
)
from .results import CategoricalSummary, DriftResult


def _summaries(reference: Any, current: Any, column: str) -> tuple[CategoricalSummary, CategoricalSummary]:
    ref = reference if isinstance(reference, CategoricalSummary) else category_counts(reference, column=column)
    cur = current if isinstance(current, CategoricalSummary) else category_counts(current, column=column)
    for which, s in (("reference", ref), ("current", cur)):
        if s.n == 0:
            raise EmptyDataError(f"{which} sample of categorical column {column!r} has no non-missing values "
                                 f"({s.n_missing} missing); check the window or drop the column from the schema")
    warn_low_power(ref.n, cur.n, column)
    return ref, cur


def _details(keys: list[str], ref: CategoricalSummary, cur: CategoricalSummary) -> dict[str, Any]:
    unseen = [k for k in keys if k not in ref.counts]
    return {"categories": keys, "unseen": unseen,
            "unseen_share": float(sum(cur.counts[k] for k in unseen) / cur.n),
            "missing_reference": ref.n_missing, "missing_current": cur.n_missing}


def psi_categorical(reference: Any, current: Any, *, eps: Eps = "auto", threshold: float = PSI_THRESHOLD,
                    column: str = "value") -> DriftResult:
    """PSI over category shares (samples or :class:`CategoricalSummary`); drift when >= ``threshold``."""
    ref, cur = _summaries(reference, current, column)
    keys, rc, cc = aligned_counts(ref.counts, cur.counts)
    return psi_from_counts(rc, cc, eps=eps, threshold=threshold, column=column, details=_details(keys, ref, cur))


def js_categorical(reference: Any, current: Any, *, base: float | None = None,
                   threshold: float = JS_THRESHOLD, column: str = "value") -> DriftResult:
    """Jensen–Shannon distance over category shares; natural log unless ``base`` is given."""
    ref, cur = _summaries(reference, current, column)
    keys, rc, cc = aligned_counts(ref.counts, cur.counts)
    return js_from_counts(rc, cc, base=base, threshold=threshold, column=column, details=_details(keys, ref, cur))


def chi2(reference: Any, current: Any, *, threshold: float = PVALUE_THRESHOLD, column: str = "value") -> DriftResult:
    """Chi-square test of homogeneity on the 2 x K table of category counts (no continuity
    correction), i.e. :func:`scipy.stats.chi2_contingency`. Drift when ``pvalue < threshold``.

    Unlike Evidently's ``chisquare`` (goodness of fit with the reference shares as the expected
    distribution), this treats both samples as samples, so it stays defined when a category is
    unseen in the reference.
    """
    from scipy.stats import chi2 as chi2_dist

    ref, cur = _summaries(reference, current, column)
    keys, rc, cc = aligned_counts(ref.counts, cur.counts)
    table = np.vstack([rc, cc])
    if len(keys) < 2:
        # One category in both samples: the distributions are identical by construction.
        return DriftResult("chi2", 0.0, 1.0, threshold, False, {**_details(keys, ref, cur), "dof": 0})
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    dof = len(keys) - 1
    p = float(chi2_dist.sf(stat, dof))
    return DriftResult("chi2", stat, p, threshold, bool(p < threshold), {**_details(keys, ref, cur), "dof": dof})
