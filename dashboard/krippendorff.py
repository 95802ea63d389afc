"""Krippendorff's alpha for any number of raters, missing values and four metrics.

Follows Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": build the coincidence matrix
from every unit with two or more values, then ``alpha = 1 - (n - 1) * sum(o * d) / sum(n_c * n_k * d)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from .errors import ConfigError

__all__ = ["krippendorff_alpha"]

Metric = Literal["nominal", "ordinal", "interval", "ratio"]


def krippendorff_alpha(
    data: Sequence[Sequence[float | None]] | np.ndarray,
    *,
    metric: Metric = "interval",
) -> float:
    """Alpha of a raters-by-units table (``None``/NaN = missing); NaN when there is nothing to compare.

    1 is perfect agreement, 0 is agreement at chance level, below 0 is systematic disagreement.
    """
    if metric not in ("nominal", "ordinal", "interval", "ratio"):
        raise ConfigError(f"metric must be nominal, ordinal, interval or ratio, got {metric!r}")
    table = np.array([[np.nan if v is None else float(v) for v in row] for row in data], dtype=float)
    if table.ndim != 2:
        raise ConfigError(f"data must be a raters-by-units table, got shape {table.shape}")
    values = np.unique(table[~np.isnan(table)])
    index = {v: i for i, v in enumerate(values)}
    k = len(values)
    coincidence = np.zeros((k, k))
    for unit in table.T:
        present = unit[~np.isnan(unit)]
        m = len(present)
        if m < 2:
            continue  # a value nobody else rated cannot be compared
        counts = np.zeros(k)
        for v in present:
            counts[index[v]] += 1
        # Ordered pairs of distinct raters' values within the unit, each weighted 1 / (m - 1).
        coincidence += (np.outer(counts, counts) - np.diag(counts)) / (m - 1)
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    if n <= 1 or k < 2:
        return float("nan")
    delta = _delta(values, n_c, metric)
    observed = (coincidence * delta).sum()
    expected = (np.outer(n_c, n_c) * delta).sum()
    if expected == 0:
        return float("nan")
    return float(1.0 - (n - 1) * observed / expected)


def _delta(values: np.ndarray, n_c: np.ndarray, metric: Metric) -> np.ndarray:
    c, k = np.meshgrid(values, values, indexing="ij")
    if metric == "nominal":
        return (c != k).astype(float)
    if metric == "interval":
        return (c - k) ** 2
    if metric == "ratio":
        with np.errstate(invalid="ignore", divide="ignore"):
            d = ((c - k) / (c + k)) ** 2
        return np.nan_to_num(d)
    # ordinal: squared count of values lying between c and k, halving the two ends.
    cum = np.cumsum(n_c)
    i, j = np.meshgrid(np.arange(len(values)), np.arange(len(values)), indexing="ij")
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    between = cum[hi] - np.where(lo > 0, cum[lo - 1], 0.0)
    return (between - (n_c[i] + n_c[j]) / 2.0) ** 2
