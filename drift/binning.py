"""Binned summaries: reference-quantile edges, histograms on those edges, category counts.

These summaries are the core representation of drift here: every distance (PSI, JS, chi-square)
is computed from counts, so the same counts produced chunk by chunk (see :mod:`drift.chunked`) or
by a SQL engine give the same numbers as the in-memory path.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import ConfigError, EmptyDataError, SchemaError
from .results import CategoricalSummary, NumericSummary

logger = logging.getLogger(__name__)

Eps = float | str


def as_float_array(values: Any, column: str = "value") -> np.ndarray:
    """Convert ``values`` to a 1-D float64 array or raise :class:`SchemaError` naming ``column``."""
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        sample = next((v for v in np.asarray(values, dtype=object).ravel() if _not_number(v)), None)
        raise SchemaError(
            f"column {column!r} must be numeric but holds {sample!r}; declare it as categorical "
            f"in the schema or convert it to numbers"
        ) from exc
    if arr.ndim != 1:
        raise SchemaError(f"column {column!r} must be one-dimensional, got shape {arr.shape}; "
                          f"use embedding drift for vector columns")
    return arr


def _not_number(v: Any) -> bool:
    try:
        float(v)
        return False
    except (TypeError, ValueError):
        return True


def split_finite(arr: np.ndarray) -> tuple[np.ndarray, int, int, int]:
    """Return ``(finite values, n_nan, n_posinf, n_neginf)``: the NaN/inf policy is drop-and-count."""
    finite = np.isfinite(arr)
    if finite.all():
        return arr, 0, 0, 0
    n_nan = int(np.isnan(arr).sum())
    n_pos = int(np.isposinf(arr).sum())
    n_neg = int(np.isneginf(arr).sum())
    return arr[finite], n_nan, n_pos, n_neg


def quantile_edges(reference: Any, bins: int = 10, *, column: str = "value") -> np.ndarray:
    """Bin edges at the reference's quantiles, outer edges ``-inf``/``inf``.

    Tied quantiles are merged, so a column with few distinct values gets fewer bins. A constant
    column gets three bins (below, at, above the constant) so that any change is visible.
    """
    if not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ConfigError(f"bins must be an integer >= 2 for column {column!r}, got {bins!r}")
    arr = np.asarray(reference, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        raise EmptyDataError(f"column {column!r} has no finite reference values; cannot derive bin edges "
                             f"(fix the logging of this column or drop it from the schema)")
    # np.quantile with the default 'linear' method: DuckDB's quantile_cont computes the same values.
    qs = np.quantile(arr, np.linspace(0.0, 1.0, bins + 1)[1:-1])
    return edges_from_quantiles(qs, float(arr.min()))


def edges_from_quantiles(interior: np.ndarray, minimum: float) -> np.ndarray:
    """Build edges ``[-inf, *unique interior, inf]``; a constant column gets edges around its value."""
    inner = np.unique(np.asarray(interior, dtype=np.float64))
    if inner.size == 1 and inner[0] == minimum:
        # Constant reference: every quantile equals the minimum. Bins (<c), [c, c+ulp), (>=c+ulp).
        c = inner[0]
        inner = np.array([c, np.nextafter(c, np.inf)])
    elif inner.size and inner[0] == minimum:
        # A first edge equal to the minimum would leave the first bin empty in the reference.
        inner = inner[1:] if inner.size > 1 else inner
    return np.concatenate([[-np.inf], inner, [np.inf]])


def check_edges(edges: Sequence[float], column: str = "value") -> np.ndarray:
    """Validate user-given edges: at least two, strictly increasing."""
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or np.any(np.diff(e) <= 0) or np.isnan(e).any():
        raise ConfigError(f"bin edges for column {column!r} must be >= 2 strictly increasing numbers, got {edges!r}")
    return e


def histogram(values: np.ndarray, edges: np.ndarray, *, presorted: bool = False) -> np.ndarray:
    """Counts of finite ``values`` in ``[e_i, e_{i+1})`` (last bin closed); values beyond the outer
    edges are clipped into the outer bins, so nothing is silently dropped."""
    inner = edges[1:-1]
    if presorted:
        # On sorted data the bin boundaries are found by binary search: O(k log n) instead of O(n).
        idx = np.searchsorted(values, inner, side="left")
        return np.diff(np.concatenate([[0], idx, [values.size]])).astype(np.int64)
    idx = np.searchsorted(inner, values, side="right")
    return np.bincount(idx, minlength=len(edges) - 1).astype(np.int64)


def summarize_numeric(values: Any, edges: np.ndarray, *, column: str = "value") -> NumericSummary:
    """Histogram summary of ``values`` on ``edges`` with NaN/inf counted separately."""
    arr = as_float_array(values, column)
    finite, n_nan, n_pos, n_neg = split_finite(arr)
    counts = histogram(finite, edges)
    return NumericSummary(tuple(float(e) for e in edges), tuple(int(c) for c in counts), n_nan, n_pos, n_neg)


def is_missing_label(v: Any) -> bool:
    """True for None, NaN and pandas' NA/NaT."""
    if v is None:
        return True
    try:
        return bool(v != v)  # noqa: PLR0124 -- NaN, NaT and pd.NA compare unequal to themselves
    except (TypeError, ValueError):
        return False


def category_counts(values: Any, *, column: str = "value") -> CategoricalSummary:
    """Counts per category; categories are compared as strings, missing values are counted apart."""
    import pandas as pd  # hash-based counting is far faster than np.unique on object arrays

    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values, dtype=object).ravel())
    if s.ndim != 1:
        raise SchemaError(f"column {column!r} must be one-dimensional for categorical drift")
    # One hashing pass: missing values come back as their own keys (NaN/None) and are split off.
    vc = s.value_counts(dropna=False, sort=False)
    n_missing = 0
    counts: dict[str, int] = {}
    for key, n in vc.items():
        if is_missing_label(key):
            n_missing += int(n)
            continue
        k = str(key)
        counts[k] = counts.get(k, 0) + int(n)  # 1 and "1" become one category
    return CategoricalSummary(counts, n_missing)


def aligned_counts(ref: Mapping[str, int], cur: Mapping[str, int]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Counts of both samples over the union of categories (reference order first, then unseen)."""
    keys = list(ref) + [k for k in cur if k not in ref]
    return (keys, np.array([ref.get(k, 0) for k in keys], dtype=np.float64),
            np.array([cur.get(k, 0) for k in keys], dtype=np.float64))


def shares(counts: np.ndarray, eps: Eps, *, column: str = "value", which: str = "reference") -> np.ndarray:
    """Turn counts into shares, replacing empty bins.

    ``eps="auto"`` is Evidently's rule: an empty bin gets ``1e-4``, or ``min non-zero share / 1e6``
    when that minimum is itself ``<= 1e-4``; shares are not renormalised afterwards. A float
    ``eps`` replaces empty bins by that value. ``eps=0`` keeps zeros (PSI may then be infinite).
    """
    total = counts.sum()
    if total <= 0:
        raise EmptyDataError(f"{which} sample of column {column!r} is empty after dropping missing values; "
                             f"nothing to compare (check the window or the column's logging)")
    p = counts.astype(np.float64) / total
    zero = p == 0
    if not zero.any():
        return p
    if eps == "auto":
        m = p[~zero].min()
        fill = m / 1e6 if m <= 1e-4 else 1e-4
    elif isinstance(eps, (int, float)) and not isinstance(eps, bool) and eps >= 0:
        fill = float(eps)
    else:
        raise ConfigError(f"eps must be 'auto' or a number >= 0, got {eps!r}")
    p = p.copy()
    p[zero] = fill
    return p


def canonical_categories(ref: CategoricalSummary, cur: Mapping[str, int], n_missing: int) -> CategoricalSummary:
    """A current category summary in a fixed order: the reference's categories first (in its order), then
    unseen ones sorted, so sums over categories add in the same order in every engine."""
    counts = {k: int(cur[k]) for k in ref.counts if cur.get(k)}
    counts.update({k: int(cur[k]) for k in sorted(k for k in cur if k not in ref.counts and cur[k])})
    return CategoricalSummary(counts, int(n_missing))
