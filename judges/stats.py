"""Statistics for judgements: bootstrap CIs, paired comparisons, agreement, length-controlled win rates.

Pure functions on arrays that return small frozen results, in the manner of ``scipy.stats``.
Every aggregate the harness reports carries a confidence interval from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval."""

    value: float
    low: float
    high: float
    n: int
    confidence: float = 0.95

    def __str__(self) -> str:
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


@dataclass(frozen=True)
class PairedComparison:
    """Candidate B minus candidate A on the same cases."""

    mean_diff: float
    low: float
    high: float
    pvalue: float
    n: int
    method: str


def _clean(values: ArrayLike) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def bootstrap_ci(
    values: ArrayLike,
    statistic: Callable[..., np.ndarray] = np.mean,
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int | None = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``values`` (NaNs dropped).

    ``statistic`` must accept ``axis=-1`` (numpy reductions do). One value gives a zero-width
    interval; no values gives (nan, nan).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    x = _clean(values)
    if x.size == 0:
        return (float("nan"), float("nan"))
    if x.size == 1:
        v = float(statistic(x, axis=-1))
        return (v, v)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_resamples, x.size))
    stats = statistic(x[idx], axis=-1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return (float(low), float(high))


def mean_ci(values: ArrayLike, *, confidence: float = 0.95, n_resamples: int = 2000, seed: int | None = 0) -> Estimate:
    """Mean of ``values`` (NaNs dropped) with a bootstrap CI."""
    x = _clean(values)
    if x.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, confidence)
    low, high = bootstrap_ci(x, confidence=confidence, n_resamples=n_resamples, seed=seed)
    return Estimate(float(x.mean()), low, high, int(x.size), confidence)


def paired_test(
    a: ArrayLike,
    b: ArrayLike,
    *,
    method: Literal["permutation", "bootstrap"] = "permutation",
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int | None = 0,
) -> PairedComparison:
    """Compare two candidates scored on the same cases: mean of ``b - a``, its CI, and a two-sided p-value.

    ``permutation`` flips the sign of each paired difference (exact when 2**n <= n_resamples, via
    ``scipy.stats.permutation_test``); ``bootstrap`` resamples the pairs and reports the share of
    resampled means on the other side of zero, doubled. Pairs with a NaN on either side are dropped.
    """
    from scipy import stats

    xa = np.asarray(a, dtype=float).ravel()
    xb = np.asarray(b, dtype=float).ravel()
    if xa.shape != xb.shape:
        raise ValueError(f"paired_test needs the same cases on both sides, got {xa.size} and {xb.size} values")
    keep = np.isfinite(xa) & np.isfinite(xb)
    d = xb[keep] - xa[keep]
    n = int(d.size)
    if n < 2:
        raise ValueError(f"paired_test needs at least 2 complete pairs, got {n}")
    low, high = bootstrap_ci(d, confidence=confidence, n_resamples=min(n_resamples, 5000), seed=seed)
    if method == "permutation":
        res = stats.permutation_test(
            (d,),
            lambda x, axis: np.mean(x, axis=axis),
            permutation_type="samples",
            n_resamples=n_resamples,
            alternative="two-sided",
            random_state=seed,
        )
        p = float(res.pvalue)
    elif method == "bootstrap":
        rng = np.random.default_rng(seed)
        means = d[rng.integers(0, n, size=(n_resamples, n))].mean(axis=1)
        centred = means - d.mean()  # the null distribution: shift so that it is centred on zero
        p = float(min(1.0, (np.sum(np.abs(centred) >= abs(d.mean())) + 1) / (n_resamples + 1)))
    else:
        raise ValueError(f"method must be 'permutation' or 'bootstrap', got {method!r}")
    return PairedComparison(float(d.mean()), low, high, p, n, method)


def confusion_matrix(
    a: Sequence[object], b: Sequence[object], labels: Sequence[object] | None = None
) -> tuple[list[object], np.ndarray]:
    """Counts of (a == label_i, b == label_j); rows are ``a`` (e.g. human), columns ``b`` (e.g. judge)."""
    if len(a) != len(b):
        raise ValueError(f"confusion_matrix needs equal lengths, got {len(a)} and {len(b)}")
    labs = list(labels) if labels is not None else sorted(set(a) | set(b), key=lambda v: (str(type(v)), v))
    pos = {lab: i for i, lab in enumerate(labs)}
    m = np.zeros((len(labs), len(labs)), dtype=int)
    for x, y in zip(a, b):
        if x in pos and y in pos:
            m[pos[x], pos[y]] += 1
    return labs, m


def cohen_kappa(
    a: Sequence[object],
    b: Sequence[object],
    *,
    weights: Literal["linear", "quadratic"] | None = None,
    labels: Sequence[object] | None = None,
) -> float:
    """Cohen's kappa between two raters; ``weights`` for ordinal scales (quadratic is the usual choice).

    Weighted kappa treats label positions in sorted ``labels`` order as the ordinal scale.
    """
    labs, m = confusion_matrix(a, b, labels)
    k = len(labs)
    total = m.sum()
    if total == 0:
        return float("nan")
    observed = m / total
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0))
    i, j = np.indices((k, k))
    if weights is None:
        w = (i != j).astype(float)
    elif weights == "linear":
        w = np.abs(i - j).astype(float)
    elif weights == "quadratic":
        w = ((i - j) ** 2).astype(float)
    else:
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")
    denom = float((w * expected).sum())
    if denom == 0:
        # both raters used one and the same label: agreement is perfect but chance-corrected kappa is undefined
        return float("nan")
    return float(1 - (w * observed).sum() / denom)


def spearman(a: ArrayLike, b: ArrayLike) -> tuple[float, float]:
    """Spearman's rho and p-value (``scipy.stats.spearmanr``), pairs with NaN dropped."""
    from scipy import stats

    xa, xb = _pairs(a, b)
    res = stats.spearmanr(xa, xb)
    return float(res.statistic), float(res.pvalue)


def kendall(a: ArrayLike, b: ArrayLike) -> tuple[float, float]:
    """Kendall's tau-b and p-value (``scipy.stats.kendalltau``), pairs with NaN dropped."""
    from scipy import stats

    xa, xb = _pairs(a, b)
    res = stats.kendalltau(xa, xb)
    return float(res.statistic), float(res.pvalue)


def _pairs(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    xa = np.asarray(a, dtype=float).ravel()
    xb = np.asarray(b, dtype=float).ravel()
    if xa.shape != xb.shape:
        raise ValueError(f"need paired values, got {xa.size} and {xb.size}")
    keep = np.isfinite(xa) & np.isfinite(xb)
    if keep.sum() < 3:
        raise ValueError(f"need at least 3 complete pairs for a rank correlation, got {int(keep.sum())}")
    return xa[keep], xb[keep]


@dataclass(frozen=True)
class WinRates:
    """Pairwise outcome rates for candidate A against B, each with a bootstrap CI."""

    win: Estimate
    tie: Estimate
    loss: Estimate
    win_rate: Estimate  # wins + ties/2
    length_controlled: Estimate | None
    consistency: Estimate | None  # share of cases where both orders agreed


def win_rates(
    outcomes: ArrayLike,
    *,
    length_diff: ArrayLike | None = None,
    consistent: Sequence[bool] | None = None,
    n_resamples: int = 2000,
    seed: int | None = 0,
) -> WinRates:
    """Rates from per-case outcomes (1 = A wins, 0.5 = tie, 0 = B wins).

    ``length_diff`` (len(A) - len(B) per case) enables the length-controlled win rate.
    """
    y = np.asarray(outcomes, dtype=float)
    if y.size == 0:
        raise ValueError("win_rates needs at least one outcome")
    if not np.isin(y, [0.0, 0.5, 1.0]).all():
        raise ValueError("outcomes must be 1 (A wins), 0.5 (tie) or 0 (B wins)")

    def est(v: np.ndarray) -> Estimate:
        return mean_ci(v, n_resamples=n_resamples, seed=seed)

    lc = None
    if length_diff is not None:
        lc = length_controlled_win_rate(y, length_diff, n_resamples=min(n_resamples, 500), seed=seed)
    cons = est(np.asarray(consistent, dtype=float)) if consistent is not None else None
    return WinRates(
        win=est((y == 1).astype(float)),
        tie=est((y == 0.5).astype(float)),
        loss=est((y == 0).astype(float)),
        win_rate=est(y),
        length_controlled=lc,
        consistency=cons,
    )


def _fit_length_logit(y: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood logistic regression of y (in [0, 1], ties as 0.5) on z; returns (b0, b1)."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    def nll(beta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = beta[0] + beta[1] * z
        # a tiny ridge keeps the fit finite when the data are perfectly separated
        loss = -np.sum(y * log_expit(eta) + (1 - y) * log_expit(-eta)) + 1e-4 * beta[1] ** 2
        r = expit(eta) - y
        grad = np.array([r.sum(), (r * z).sum() + 2e-4 * beta[1]])
        return float(loss), grad

    res = minimize(nll, np.zeros(2), jac=True, method="L-BFGS-B")
    return float(res.x[0]), float(res.x[1])


def length_controlled_win_rate(
    outcomes: ArrayLike, length_diff: ArrayLike, *, n_resamples: int = 500, seed: int | None = 0
) -> Estimate:
    """AlpacaEval-2-style length-controlled win rate of A over B.

    Fits ``logit P(A preferred) = b0 + b1 * z`` where ``z`` is the standardised length difference
    (len(A) - len(B)) / sd, then sets the length term to zero: LC = sigmoid(b0). The CI resamples cases.
    """
    from scipy.special import expit

    y = np.asarray(outcomes, dtype=float)
    d = np.asarray(length_diff, dtype=float)
    if y.shape != d.shape:
        raise ValueError(f"outcomes and length_diff must align, got {y.size} and {d.size}")
    sd = d.std()
    z = d / sd if sd > 0 else np.zeros_like(d)
    b0, _ = _fit_length_logit(y, z)
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_resamples):
        i = rng.integers(0, y.size, y.size)
        boots.append(expit(_fit_length_logit(y[i], z[i])[0]))
    low, high = np.quantile(boots, [0.025, 0.975])
    return Estimate(float(expit(b0)), float(low), float(high), int(y.size))


def entropy(probs: dict[str, float] | Sequence[float]) -> float:
    """Shannon entropy in bits of a label distribution (0 = certain)."""
    p = np.asarray(list(probs.values()) if isinstance(probs, dict) else probs, dtype=float)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())
