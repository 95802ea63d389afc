"""Statistics for judgements: bootstrap CIs, paired comparisons, agreement, length-controlled win rates.

Pure functions on arrays that return small frozen results, in the manner of ``scipy.stats``.
Every aggregate the harness reports carries a confidence interval from here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

# Holm's correction, the Wilson interval and Welch's test live one floor down, in the shared ``stats`` package
# (drift and monitor use them too, and drift imports nothing of judges); re-exported here.
from stats import holm, holm_levels, welch_pvalue, wilson_interval  # noqa: F401


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
    """Shannon entropy in bits of a label distribution (0 = certain). Plain Python: a judgement's handful of labels
    is 10x quicker this way than through numpy, and this runs once or twice per judgement."""
    values = probs.values() if isinstance(probs, dict) else probs
    return float(-math.fsum(p * math.log2(p) for p in map(float, values) if p > 0))


@dataclass(frozen=True)
class RegressionTest:
    """Did quality drop against the baseline by more than ``max_drop``? ``new - old`` on the same cases.

    ``pvalue`` is one-sided, for H0 "the true mean drop is at most ``max_drop``" against H1 "it is
    larger"; the gate fails (``regressed``) when H0 is rejected at level ``alpha``. Not regressed means
    the data do not show a drop beyond the margin, not that there was none: read ``low`` for that.
    """

    mean_diff: float
    low: float  # two-sided 95% percentile bootstrap interval of mean_diff
    high: float
    pvalue: float
    max_drop: float
    alpha: float
    n: int
    method: str

    @property
    def regressed(self) -> bool:
        """True when the drop is shown to exceed ``max_drop`` (p < alpha)."""
        return self.pvalue < self.alpha

    def __str__(self) -> str:
        verdict, sign = ("REGRESSED", "<") if self.regressed else ("no regression shown", ">=")
        return (
            f"{verdict}: new - old = {self.mean_diff:+.3f} [{self.low:+.3f}, {self.high:+.3f}] "
            f"over {self.n} cases; "
            f"p = {self.pvalue:.4f} {sign} alpha {self.alpha:g} for a drop larger than {self.max_drop:g} "
            f"({self.method})"
        )


def regression_test(
    new: ArrayLike,
    old: ArrayLike,
    *,
    max_drop: float = 0.0,
    alpha: float = 0.05,
    method: Literal["permutation", "t"] = "permutation",
    n_resamples: int = 10_000,
    seed: int | None = 0,
) -> RegressionTest:
    """One-sided paired test of a quality drop: does ``new - old`` fall by more than ``max_drop`` on average?

    Both methods test the shifted differences ``d + max_drop`` against zero with ``alternative="less"``.
    ``permutation`` flips their signs (``scipy.stats.permutation_test``, exact when 2**n <= n_resamples;
    valid when the differences are symmetric at the boundary of H0); ``t`` is ``scipy.stats.ttest_1samp``.
    Pairs with a NaN on either side are dropped. All-zero differences give p = 1 (no evidence of a drop).
    """
    _check_gate_args(method, max_drop, alpha)
    xn = np.asarray(new, dtype=float).ravel()
    xo = np.asarray(old, dtype=float).ravel()
    if xn.shape != xo.shape:
        raise ValueError(
            f"regression_test needs the same cases on both sides, got {xn.size} new and {xo.size} old"
        )
    keep = np.isfinite(xn) & np.isfinite(xo)
    d = xn[keep] - xo[keep]
    n = int(d.size)
    if n < 2:
        raise ValueError(f"regression_test needs at least 2 complete pairs (no NaN on either side), got {n}")
    low, high = bootstrap_ci(d, n_resamples=min(n_resamples, 5000), seed=seed)
    p = float(_drop_pvalues(d[None, :], max_drop, method, n_resamples, seed)[0])
    return RegressionTest(float(d.mean()), low, high, p, float(max_drop), float(alpha), n, method)


def _check_gate_args(method: str, max_drop: float, alpha: float) -> None:
    if method not in ("permutation", "t"):
        raise ValueError(f"method must be 'permutation' or 't', got {method!r}")
    if not (np.isfinite(max_drop) and max_drop >= 0):
        raise ValueError(
            f"max_drop is the largest tolerated drop, a finite number >= 0, got {max_drop}; "
            "use 0 for no tolerance"
        )
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}; 0.05 is the usual choice")


def _drop_pvalues(
    d: np.ndarray, max_drop: float, method: str, n_resamples: int, seed: int | None
) -> np.ndarray:
    """One-sided p-values of H0 "mean drop <= max_drop", one per row of paired differences ``d`` (k, n).

    Rows go through scipy together (the simulation runs hundreds of suites at once); a row's p-value is
    the same as it would be alone with the same seed.
    """
    from scipy import stats

    shifted = d + max_drop
    # a case that dropped by exactly the margin is at the margin, whatever float noise the subtraction left
    shifted[np.isclose(shifted, 0.0, rtol=0.0, atol=1e-9)] = 0.0
    scale = np.maximum(1.0, np.abs(shifted).max(axis=1))
    flat = np.ptp(shifted, axis=1) <= 1e-12 * scale  # every case moved by the same amount
    below = shifted.mean(axis=1) < 0
    # identical scores, or every case at or above the margin: no evidence of a drop. scipy's t would be
    # 0/0 = nan (all-zero differences) or warn about catastrophic cancellation, so these rows stay out of it.
    p = np.ones(d.shape[0])
    if method == "t":
        p[flat & below] = 0.0  # every case dropped by the same amount beyond the margin: t = -inf
        rows = ~flat
        if rows.any():
            p[rows] = stats.ttest_1samp(shifted[rows], 0.0, axis=1, alternative="less").pvalue
        return p
    rows = ~flat | below
    n = d.shape[1]
    resamples = min(n_resamples, 2**n) if n < 64 else n_resamples
    # bound memory: scipy holds (rows, resamples, n) floats at once
    chunk = max(1, 10_000_000 // (resamples * n))
    todo = np.flatnonzero(rows)
    for start in range(0, todo.size, chunk):
        idx = todo[start : start + chunk]
        res = stats.permutation_test(
            (shifted[idx],),
            lambda x, axis: np.mean(x, axis=axis),
            vectorized=True,
            permutation_type="samples",
            n_resamples=n_resamples,
            alternative="less",
            random_state=seed,
            axis=1,
        )
        p[idx] = res.pvalue
    return p


def sample_size_for_drop(
    drop: float, sd_diff: float, *, max_drop: float = 0.0, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Paired cases needed so that a true mean drop of ``drop`` fails the gate with probability ``power``.

    For the one-sided test of :func:`regression_test` with margin ``max_drop``; ``sd_diff`` is the standard
    deviation of the per-case difference ``new - old`` (for scores of sd s and correlation rho between the
    two runs it is s * sqrt(2 * (1 - rho))). Normal approximation, rounded up, at least 2:
    ``n = ((z[1 - alpha] + z[power]) * sd_diff / (drop - max_drop)) ** 2``; the t-test may need a case more.
    """
    from scipy.stats import norm

    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}; 0.8 is the usual choice")
    if not (np.isfinite(max_drop) and max_drop >= 0):
        raise ValueError(f"max_drop must be a finite number >= 0, got {max_drop}")
    if not (np.isfinite(sd_diff) and sd_diff > 0):
        raise ValueError(
            f"sd_diff must be a finite number > 0, got {sd_diff}; estimate it from two runs of the suite"
        )
    if not (np.isfinite(drop) and drop > max_drop):
        raise ValueError(
            f"drop must exceed max_drop to be detectable, got drop {drop} and max_drop {max_drop}; "
            "a drop within the margin never fails the gate by design"
        )
    z = float(norm.ppf(1 - alpha) + norm.ppf(power))
    n = (z * sd_diff / (drop - max_drop)) ** 2
    return max(2, int(np.ceil(n - 1e-9)))  # the tolerance keeps float noise from adding a case


def simulate_gate(
    *,
    n: int,
    true_drop: float,
    sd: float = 0.8,
    rho: float = 0.5,
    max_drop: float = 0.0,
    alpha: float = 0.05,
    runs: int = 400,
    seed: int = 0,
    method: Literal["permutation", "t"] = "permutation",
    n_resamples: int = 2000,
) -> float:
    """Share of ``runs`` simulated suites in which :func:`regression_test` would report ``regressed``.

    The model: ``n`` cases judged in both runs; (old, new) scores are bivariate normal with sd ``sd`` each and
    correlation ``rho`` (a hard case stays hard), the new mean ``true_drop`` below the old one. Scores stay
    continuous, not rounded to a scale. The per-case difference then has mean ``-true_drop`` and sd
    ``sd * sqrt(2 * (1 - rho))``, which equals ``sd`` at rho = 0.5. At ``true_drop == max_drop`` the rate
    estimates the test's size, about ``alpha``. The p-values are regression_test's, for all runs at once.
    """
    _check_gate_args(method, max_drop, alpha)
    if n < 2:
        raise ValueError(f"n must be at least 2 paired cases, got {n}")
    if runs < 1:
        raise ValueError(f"runs must be at least 1, got {runs}")
    rng = np.random.default_rng(seed)
    new, old = _gate_scores(n=n, true_drop=true_drop, sd=sd, rho=rho, runs=runs, rng=rng)
    # not `seed` itself: the sign flips would replay the very bits the data were drawn from
    perm_seed = int(rng.integers(0, 2**32))
    p = _drop_pvalues(new - old, max_drop, method, n_resamples, perm_seed)
    return float(np.mean(p < alpha))


def _gate_scores(
    *, n: int, true_drop: float, sd: float, rho: float, runs: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(new, old) scores of shape (runs, n) from :func:`simulate_gate`'s model, centred on 3 (a 1-5 scale)."""
    if not (np.isfinite(sd) and sd > 0):
        raise ValueError(f"sd must be a finite number > 0, got {sd}")
    if not -1 < rho < 1:
        raise ValueError(f"rho must be in (-1, 1), got {rho}; at +-1 every difference is the same")
    z = rng.standard_normal((2, runs, n))
    old = 3.0 + sd * z[0]
    new = 3.0 - true_drop + sd * (rho * z[0] + np.sqrt(1 - rho**2) * z[1])
    return new, old


def krippendorff_alpha(
    data: Sequence[Sequence[float | None]] | np.ndarray,
    *,
    metric: Literal["nominal", "ordinal", "interval", "ratio"] = "interval",
) -> float:
    """Krippendorff's alpha of a raters-by-units table (``None``/NaN = missing); NaN when nothing compares.

    1 is perfect agreement, 0 chance level, below 0 systematic disagreement. Follows Krippendorff (2011),
    "Computing Krippendorff's Alpha-Reliability": the coincidence matrix of every unit with two or more
    values, then ``alpha = 1 - (n - 1) * sum(o * d) / sum(n_c * n_k * d)``.
    """
    if metric not in ("nominal", "ordinal", "interval", "ratio"):
        raise ValueError(f"metric must be 'nominal', 'ordinal', 'interval' or 'ratio', got {metric!r}")
    table = np.array([[np.nan if v is None else float(v) for v in row] for row in data], dtype=float)
    if table.ndim != 2:
        raise ValueError(f"data must be a raters-by-units table, got shape {table.shape}")
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
    delta = _alpha_distance(values, n_c, metric)
    expected = (np.outer(n_c, n_c) * delta).sum()
    if expected == 0:
        return float("nan")
    return float(1.0 - (n - 1) * (coincidence * delta).sum() / expected)


def _alpha_distance(values: np.ndarray, n_c: np.ndarray, metric: str) -> np.ndarray:
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


# --- agreement with human labels, each with a case-resampling bootstrap CI ---------------------------------


def case_bootstrap(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    confidence: float = 0.95,
    n_resamples: int = 1000,
    seed: int | None = 0,
) -> Estimate:
    """``statistic(indices)`` on all ``n`` cases, with a percentile bootstrap CI over resampled cases.

    For statistics of several aligned arrays (kappa, a correlation, a risk at a coverage): the function
    receives an index array and reads whatever it needs at those positions. Resamples on which the
    statistic is undefined (NaN, e.g. a kappa where one rater used one label) are left out of the interval.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, confidence)
    value = float(statistic(np.arange(n)))
    rng = np.random.default_rng(seed)
    boots = np.array([statistic(rng.integers(0, n, n)) for _ in range(n_resamples)], dtype=float)
    boots = boots[np.isfinite(boots)]
    if boots.size == 0:
        return Estimate(value, float("nan"), float("nan"), n, confidence)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boots, [alpha, 1 - alpha])
    return Estimate(value, float(low), float(high), n, confidence)


def kappa_ci(
    a: Sequence[object],
    b: Sequence[object],
    *,
    weights: Literal["linear", "quadratic"] | None = None,
    labels: Sequence[object] | None = None,
    n_resamples: int = 1000,
    seed: int | None = 0,
) -> Estimate:
    """Cohen's kappa of two raters (see :func:`cohen_kappa`) with a bootstrap CI over cases."""
    if len(a) != len(b):
        raise ValueError(f"kappa_ci needs equal lengths, got {len(a)} and {len(b)}")
    labs = list(labels) if labels is not None else sorted(set(a) | set(b), key=lambda v: (str(type(v)), v))
    xa, xb = list(a), list(b)

    def stat(idx: np.ndarray) -> float:
        return cohen_kappa([xa[i] for i in idx], [xb[i] for i in idx], weights=weights, labels=labs)

    return case_bootstrap(stat, len(xa), n_resamples=n_resamples, seed=seed)


@dataclass(frozen=True)
class Correlation:
    """A rank correlation with its bootstrap CI and scipy's p-value (H0: no association)."""

    estimate: Estimate
    pvalue: float


def rank_correlation_ci(
    a: ArrayLike,
    b: ArrayLike,
    *,
    method: Literal["spearman", "kendall"] = "spearman",
    n_resamples: int = 1000,
    seed: int | None = 0,
) -> Correlation:
    """Spearman's rho or Kendall's tau-b of paired values (NaN pairs dropped) with a bootstrap CI over pairs.

    A constant side gives NaN (scipy warns; here it is returned silently), since no ranking exists.
    """
    from scipy import stats

    if method not in ("spearman", "kendall"):
        raise ValueError(f"method must be 'spearman' or 'kendall', got {method!r}")
    xa, xb = _pairs(a, b)
    fn = stats.spearmanr if method == "spearman" else stats.kendalltau

    def stat(idx: np.ndarray) -> float:
        sa, sb = xa[idx], xb[idx]
        if np.ptp(sa) == 0 or np.ptp(sb) == 0:
            return float("nan")
        return float(fn(sa, sb).statistic)

    est = case_bootstrap(stat, xa.size, n_resamples=n_resamples, seed=seed)
    p = float(fn(xa, xb).pvalue) if np.ptp(xa) > 0 and np.ptp(xb) > 0 else float("nan")
    return Correlation(est, p)
