"""Drift statistics for categorical features: PSI, Jensen–Shannon and chi-square.

Categories are compared as strings over the union of reference and current categories, so a
category never seen in the reference (a new topic, a new model version) is counted: PSI fills its
empty reference share with ``eps``; JS and chi-square handle zeros natively. Unseen categories are
listed in ``details["unseen"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .binning import Eps, aligned_counts, category_counts
from .decision import DEFAULT_DECISION, PVALUE_THRESHOLD, Decision, PendingTest, decide_one, with_threshold
from .errors import EmptyDataError
from .nulls import ChiSquareNull, DegenerateNull, Null, binned_nulls, effect_w
from .numeric import binned_pending, js_from_counts, psi_from_counts, warn_low_power
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


def category_details(keys: list[str], ref: CategoricalSummary, cur: CategoricalSummary) -> dict[str, Any]:
    """Categories compared, those unseen in the reference and their share, and missing counts."""
    unseen = [k for k in keys if k not in ref.counts]
    return {"categories": keys, "unseen": unseen,
            "unseen_share": float(sum(cur.counts[k] for k in unseen) / cur.n),
            "missing_reference": ref.n_missing, "missing_current": cur.n_missing}


def psi_categorical(reference: Any, current: Any, *, eps: Eps = "auto", threshold: float | None = None,
                    decision: Decision = DEFAULT_DECISION, column: str = "value") -> DriftResult:
    """PSI over category shares (samples or :class:`CategoricalSummary`); decided as
    :func:`drift.psi_from_counts` (permutation null at small counts); ``threshold=0.1`` is the old rule."""
    ref, cur = _summaries(reference, current, column)
    keys, rc, cc = aligned_counts(ref.counts, cur.counts)
    return psi_from_counts(rc, cc, eps=eps, threshold=threshold, decision=decision, column=column,
                           details=category_details(keys, ref, cur))


def js_categorical(reference: Any, current: Any, *, base: float | None = None, threshold: float | None = None,
                   decision: Decision = DEFAULT_DECISION, column: str = "value") -> DriftResult:
    """Jensen–Shannon distance over category shares; natural log unless ``base`` is given."""
    ref, cur = _summaries(reference, current, column)
    keys, rc, cc = aligned_counts(ref.counts, cur.counts)
    return js_from_counts(rc, cc, base=base, threshold=threshold, decision=decision, column=column,
                          details=category_details(keys, ref, cur))


def chi2_statistic(ref: CategoricalSummary, cur: CategoricalSummary, decision: Decision = DEFAULT_DECISION,
                   column: str = "value", null: Null | None = None) -> tuple[DriftResult, float, Null]:
    """Pearson's X² of the 2 x K table, its effect size (Cohen's w) and its null, not yet decided.

    The null is the χ² distribution with K - 1 degrees of freedom (scipy's p-value), or under the calibrated
    rule a permutation null when some category expects fewer than ``decision.min_expected`` values."""
    from scipy.stats import chi2 as chi2_dist

    keys, rc, cc = aligned_counts(ref.counts, cur.counts)
    info = category_details(keys, ref, cur)
    if len(keys) < 2:
        # One category in both samples: the distributions are identical by construction.
        return DriftResult("chi2", 0.0, 1.0, PVALUE_THRESHOLD, False, {**info, "dof": 0}), 0.0, DegenerateNull()
    table = np.vstack([rc, cc])
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    stat = float(((table - expected) ** 2 / expected).sum())
    dof = len(keys) - 1
    if decision.rule == "fixed":
        null = ChiSquareNull(1.0, dof)
    elif null is None:
        null = binned_nulls(rc, cc, binning="fixed", min_expected=decision.min_expected,
                            rng=decision.rng(column), methods=("chi2",))["chi2"]
    base = DriftResult("chi2", stat, float(chi2_dist.sf(stat, dof)), PVALUE_THRESHOLD, False, {**info, "dof": dof})
    return base, effect_w(rc, cc), null


def chi2(reference: Any, current: Any, *, threshold: float | None = None, decision: Decision = DEFAULT_DECISION,
         column: str = "value") -> DriftResult:
    """Chi-square test of homogeneity on the 2 x K table of category counts (no continuity
    correction), i.e. :func:`scipy.stats.chi2_contingency`. Drift when ``pvalue <= alpha`` and Cohen's w ≥
    0.1; ``threshold=0.05`` is the old rule (drift when ``pvalue < threshold``).

    Unlike Evidently's ``chisquare`` (goodness of fit with the reference shares as the expected
    distribution), this treats both samples as samples, so it stays defined when a category is
    unseen in the reference. With rare categories the p-value comes from a permutation null.
    """
    ref, cur = _summaries(reference, current, column)
    decision = with_threshold(decision, "chi2", threshold)
    base, effect, null = chi2_statistic(ref, cur, decision, column)
    return decide_one(base, effect, null, decision)


def categorical_pending(ref: CategoricalSummary, cur: CategoricalSummary, methods: Sequence[str], *,
                        decision: Decision = DEFAULT_DECISION, eps: Eps = "auto",
                        column: str = "value") -> tuple[tuple[PendingTest, ...], dict[str, Any]]:
    """The ``methods`` (psi, js, chi2) of two category summaries before the decision, in ``methods`` order,
    and the category details (unseen categories...)."""
    keys, rc, cc = aligned_counts(ref.counts, cur.counts)
    info = category_details(keys, ref, cur)
    tests, nulls = binned_pending(rc, cc, methods, binning="fixed", decision=decision, eps=eps, column=column,
                                  details=info)
    if "chi2" in methods:
        base, effect, null = chi2_statistic(ref, cur, decision, column, nulls.get("chi2"))
        tests["chi2"] = PendingTest(base, effect, null)
    return tuple(tests[m] for m in methods), info
