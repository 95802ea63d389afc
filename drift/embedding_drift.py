"""Drift of embedding vectors: mean-embedding distance, MMD with a permutation p-value, and a
domain-classifier AUC.

MMD (Gretton et al. 2012, JMLR 13) with an RBF kernel whose bandwidth is the median pairwise
distance of the pooled sample; the p-value is a permutation test, ``(1 + #{MMD_perm >= MMD}) /
(1 + n_permutations)``. Costs O(n^2) memory, so each side is subsampled to ``max_samples``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ConfigError, EmptyDataError, SchemaError
from .numeric import PVALUE_THRESHOLD, warn_low_power
from .results import DriftResult


def as_matrix(values: Any, column: str = "embedding") -> np.ndarray:
    """Stack embeddings (2-D array, or a sequence of vectors) into a finite float64 matrix."""
    if hasattr(values, "to_numpy"):
        values = values.to_numpy()
    try:
        if isinstance(values, np.ndarray) and values.dtype != object:
            arr = values.astype(np.float64, copy=False)
        else:  # a list or object array of vectors, as a DataFrame column holds them
            arr = np.vstack([np.asarray(v, dtype=np.float64).ravel() for v in values])
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"column {column!r} must hold equal-length numeric vectors; embed the text first "
                          f"(embed.TextEmbedder) or declare the column as categorical") from exc
    if arr.ndim != 2:
        raise SchemaError(f"column {column!r} must be 2-D (rows x dims), got shape {arr.shape}")
    keep = np.isfinite(arr).all(axis=1)
    arr = arr[keep]
    if arr.shape[0] == 0:
        raise EmptyDataError(f"embedding column {column!r} has no finite vectors")
    return arr


def _mmd2_many(k: np.ndarray, members: np.ndarray, n: int) -> np.ndarray:
    """Biased MMD^2 (mean K(x,x') + mean K(y,y') - 2 mean K(x,y)) for each column of ``members``,
    a 0/1 matrix marking which pooled rows form the first sample. One matrix product covers every
    permutation instead of re-indexing the kernel matrix per permutation."""
    m = k.shape[0] - n
    ka = k @ members
    sxx = np.einsum("ip,ip->p", members, ka)
    col = ka.sum(axis=0)
    sxy = col - sxx
    syy = k.sum() - 2.0 * col + sxx
    return sxx / (n * n) + syy / (m * m) - 2.0 * sxy / (n * m)


def mmd(reference: Any, current: Any, *, n_permutations: int = 200, max_samples: int = 1000,
        threshold: float = PVALUE_THRESHOLD, seed: int = 0, column: str = "embedding") -> DriftResult:
    """Maximum mean discrepancy (squared, biased estimate) with an RBF kernel and a permutation
    p-value. Drift when ``pvalue < threshold``. ``details`` also has the mean-embedding cosine
    distance and the kernel bandwidth."""
    if n_permutations < 1:
        raise ConfigError(f"n_permutations must be >= 1, got {n_permutations}")
    x, y = as_matrix(reference, column), as_matrix(current, column)
    if x.shape[1] != y.shape[1]:
        raise SchemaError(f"embedding column {column!r}: reference has {x.shape[1]} dims, current has "
                          f"{y.shape[1]}; embed both with the same model")
    warn_low_power(x.shape[0], y.shape[0], column)
    rng = np.random.default_rng(seed)
    if x.shape[0] > max_samples:
        x = x[rng.choice(x.shape[0], max_samples, replace=False)]
    if y.shape[0] > max_samples:
        y = y[rng.choice(y.shape[0], max_samples, replace=False)]
    z = np.vstack([x, y])
    sq = np.einsum("ij,ij->i", z, z)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * z @ z.T, 0.0)
    off = d2[np.triu_indices_from(d2, k=1)]
    med = float(np.median(off[off > 0])) if np.any(off > 0) else 1.0
    k = np.exp(-d2 / med)  # median heuristic: bandwidth^2 = median squared distance
    n, total = x.shape[0], z.shape[0]
    members = np.zeros((total, n_permutations + 1))
    members[:n, 0] = 1.0  # column 0: the observed split
    perms = np.argsort(rng.random((n_permutations, total)), axis=1)[:, :n]
    members[perms.T, np.arange(1, n_permutations + 1)] = 1.0
    stats = _mmd2_many(k, members, n)
    observed = float(stats[0])
    # Compare with a tolerance: a permutation equal to the observed split must count as a hit.
    hits = int(np.sum(stats[1:] >= observed - 1e-12 * max(abs(observed), 1.0)))
    p = (1 + hits) / (1 + n_permutations)
    return DriftResult("mmd", observed, float(p), threshold, bool(p < threshold),
                       {"kernel": "rbf", "bandwidth_sq": med, "n_permutations": n_permutations,
                        "n_reference": int(x.shape[0]), "n_current": int(y.shape[0]),
                        "mean_cosine_distance": mean_embedding_distance(x, y)})


def mean_embedding_distance(reference: Any, current: Any) -> float:
    """Cosine distance between the mean reference and mean current embedding (0 = same direction)."""
    a = np.asarray(reference, dtype=np.float64).mean(axis=0)
    b = np.asarray(current, dtype=np.float64).mean(axis=0)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 0.0 if na == nb else 1.0
    return float(1.0 - a @ b / (na * nb))


def classifier_auc(reference: Any, current: Any, *, threshold: float = 0.55, folds: int = 5, seed: int = 0,
                   max_samples: int = 5000, column: str = "embedding") -> DriftResult:
    """Domain-classifier drift: cross-validated ROC AUC of a logistic regression telling reference
    from current rows. 0.5 means indistinguishable; drift when AUC >= ``threshold``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x, y = as_matrix(reference, column), as_matrix(current, column)
    rng = np.random.default_rng(seed)
    if x.shape[0] > max_samples:
        x = x[rng.choice(x.shape[0], max_samples, replace=False)]
    if y.shape[0] > max_samples:
        y = y[rng.choice(y.shape[0], max_samples, replace=False)]
    if min(x.shape[0], y.shape[0]) < folds:
        raise EmptyDataError(f"embedding column {column!r}: need at least {folds} rows per side for "
                             f"{folds}-fold classifier AUC, got {x.shape[0]} / {y.shape[0]}")
    z = np.vstack([x, y])
    lab = np.r_[np.zeros(x.shape[0]), np.ones(y.shape[0])]
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    prob = cross_val_predict(LogisticRegression(max_iter=1000), z, lab, cv=cv, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(lab, prob))
    return DriftResult("classifier_auc", auc, None, threshold, bool(auc >= threshold),
                       {"model": "logistic_regression", "folds": folds})
