"""Null distributions of the binned drift statistics (PSI, JS, chi-square) and of KS at given sample sizes.

Under no drift, with ``B`` bins and samples of ``M`` and ``N`` values, PSI ≈ (1/M + 1/N)·χ²(B−1), the
squared JS distance ≈ (1/M + 1/N)·χ²(B−1)/8 and Pearson's X² ≈ χ²(B−1). These approximations are used
when every bin expects at least ``min_expected`` values in the smaller sample; below that (small windows,
rare categories, PSI's empty-bin fill) the null is simulated:

* bins at the reference's quantiles (numeric detectors): the current bin shares of a continuous feature are
  Dirichlet-distributed given the reference order statistics, so current counts are drawn
  Dirichlet-multinomial with the reference counts as parameters (``"dirichlet-multinomial"``);
* fixed bins and categories: the pooled counts are split at random into samples of ``M`` and ``N``
  (multivariate hypergeometric draws: a permutation test on the binned data, ``"permutation"``).

Draws are made lazily, in batches, until the p-value is resolved at the smallest level the decision needs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .binning import Eps

Binning = Literal["reference-quantiles", "fixed"]
#: The smallest expected count per bin (in the smaller sample) at which the χ² approximations are used;
#: at 10 per bin PSI's χ² approximation alarms at 2.6x the nominal rate at p = 0.005 (docs/drift.md).
MIN_EXPECTED = 30.0
#: Stop drawing once this many simulated statistics reach the observed one (p known to about ±22%); the
#: p-value (1 + hits) / (1 + draws) is valid whenever drawing stops, precision only buys power.
_ENOUGH_EXCEEDANCES = 20
_BATCH = 500
_MAX_DRAWS = 200_000
#: Simulated counts are drawn at most this many cells (draws x bins) at a time, to bound memory.
_MAX_CELLS = 2_000_000


# ------------------------------------------------------------------ vectorised statistics (rows = draws)

def _shares_eps(counts: np.ndarray, eps: Eps) -> np.ndarray:
    """:func:`drift.binning.shares` applied to every row (the same fill rule, vectorised)."""
    p = counts / counts.sum(axis=-1, keepdims=True)
    zero = p == 0
    if not zero.any():
        return p
    if eps == "auto":
        m = np.where(zero, np.inf, p).min(axis=-1, keepdims=True)
        fill = np.where(m <= 1e-4, m / 1e6, 1e-4)
    else:
        fill = np.full(p.shape[:-1] + (1,), float(eps))
    return np.where(zero, fill, p)


def psi_rows(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: Eps = "auto") -> np.ndarray:
    """PSI of each row pair (same formula and empty-bin rule as :func:`drift.psi_from_counts`)."""
    r = _shares_eps(np.asarray(ref_counts, dtype=np.float64), eps)
    c = _shares_eps(np.asarray(cur_counts, dtype=np.float64), eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (r - c) * np.log(r / c)
    return np.sum(np.where((r == 0) & (c == 0), 0.0, terms), axis=-1)


def js_rows(ref_counts: np.ndarray, cur_counts: np.ndarray) -> np.ndarray:
    """Jensen–Shannon distance (natural log) of each row pair, as :func:`drift.js_from_counts`."""
    rc = np.asarray(ref_counts, dtype=np.float64)
    cc = np.asarray(cur_counts, dtype=np.float64)
    p = rc / rc.sum(axis=-1, keepdims=True)
    q = cc / cc.sum(axis=-1, keepdims=True)
    m = (p + q) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum(axis=-1)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum(axis=-1)
    return np.sqrt(np.maximum((kl_p + kl_q) / 2.0, 0.0))


def chi2_rows(ref_counts: np.ndarray, cur_counts: np.ndarray) -> np.ndarray:
    """Pearson's X² of the 2 x K table of each row pair (bins empty in both samples left out)."""
    rc = np.asarray(ref_counts, dtype=np.float64)
    cc = np.asarray(cur_counts, dtype=np.float64)
    col = rc + cc
    n_r = rc.sum(axis=-1, keepdims=True)
    n_c = cc.sum(axis=-1, keepdims=True)
    total = n_r + n_c
    with np.errstate(divide="ignore", invalid="ignore"):
        er, ec = n_r * col / total, n_c * col / total
        terms = np.where(col > 0, (rc - er) ** 2 / er + (cc - ec) ** 2 / ec, 0.0)
    return terms.sum(axis=-1)


_STATISTICS: dict[str, Callable[[np.ndarray, np.ndarray, Eps], np.ndarray]] = {
    "psi": psi_rows,
    "js": lambda r, c, eps: js_rows(r, c),
    "chi2": lambda r, c, eps: chi2_rows(r, c),
}


def effect_w(ref_counts: Any, cur_counts: Any) -> float:
    """Cohen's w between the two samples' shares, ``sqrt(sum((r - c)^2 / m))`` with ``m = (r + c) / 2``:
    0.1 is Cohen's "small" effect; for small shifts w² ≈ PSI."""
    r = np.asarray(ref_counts, dtype=np.float64)
    c = np.asarray(cur_counts, dtype=np.float64)
    r, c = r / r.sum(), c / c.sum()
    m = (r + c) / 2
    keep = m > 0
    return float(math.sqrt(np.sum((r[keep] - c[keep]) ** 2 / m[keep])))


# ------------------------------------------------------------------ null distributions

class Null:
    """The distribution of a statistic under "no drift" at the observed sample sizes."""

    name: str = ""

    def pvalue(self, statistic: float, resolution: float) -> float:
        """P(statistic ≥ observed | no drift); simulated nulls draw until ``resolution`` is met."""
        raise NotImplementedError

    def critical(self, level: float) -> float:
        """The value the statistic must reach to be significant at ``level``."""
        raise NotImplementedError


@dataclass(frozen=True)
class ChiSquareNull(Null):
    """``statistic ** power / scale ~ χ²(df)``."""

    scale: float
    df: int
    power: int = 1
    name: str = "chi2-approx"

    def pvalue(self, statistic: float, resolution: float = 0.0) -> float:
        from scipy.stats import chi2

        return float(chi2.sf(statistic ** self.power / self.scale, self.df))

    def critical(self, level: float) -> float:
        from scipy.stats import chi2

        return float((self.scale * chi2.isf(level, self.df)) ** (1.0 / self.power))


@dataclass(frozen=True)
class DegenerateNull(Null):
    """One category (or bin) holds every value of both samples: nothing can differ, p = 1."""

    name: str = "degenerate"

    def pvalue(self, statistic: float, resolution: float = 0.0) -> float:
        return 1.0

    def critical(self, level: float) -> float:
        return float("nan")


class CountSampler:
    """Simulated bin counts under no drift, drawn in batches and shared by every statistic of a feature."""

    def __init__(self, ref_counts: np.ndarray, cur_counts: np.ndarray, binning: Binning, eps: Eps,
                 rng: np.random.Generator, methods: tuple[str, ...] = tuple(_STATISTICS)) -> None:
        self.rc = np.asarray(ref_counts, dtype=np.int64)
        self.cc = np.asarray(cur_counts, dtype=np.int64)
        self.binning = binning
        self.eps = eps
        self.rng = rng
        self.name = "dirichlet-multinomial" if binning == "reference-quantiles" else "permutation"
        self._stats: dict[str, list[np.ndarray]] = {m: [] for m in methods}
        self.n_draws = 0

    def _draw(self, k: int) -> None:
        step = max(1, _MAX_CELLS // max(self.rc.size, 1))
        for start in range(0, k, step):
            self._draw_batch(min(step, k - start))
        self.n_draws += k

    def _draw_batch(self, k: int) -> None:
        n_cur = int(self.cc.sum())
        if self.binning == "reference-quantiles":
            # Reference counts stay fixed (they define the bins); a small prior lets bins that are empty in
            # the reference (a constant reference's outer bins) receive current values.
            alpha = self.rc + 1.0 / self.rc.size
            cur = self.rng.multinomial(n_cur, self.rng.dirichlet(alpha, size=k))
            ref = np.broadcast_to(self.rc, cur.shape)
        else:
            pooled = self.rc + self.cc
            cur = self.rng.multivariate_hypergeometric(pooled, n_cur, size=k)
            ref = pooled - cur
        for m, stats in self._stats.items():
            stats.append(_STATISTICS[m](ref, cur, self.eps))

    def draws(self, method: str, at_least: int) -> np.ndarray:
        """At least ``at_least`` simulated values of ``method``'s statistic."""
        while self.n_draws < at_least:
            self._draw(min(max(at_least - self.n_draws, _BATCH), _MAX_DRAWS))
        return np.concatenate(self._stats[method])


@dataclass(frozen=True)
class SimulatedNull(Null):
    """Monte Carlo null of one statistic: p = (1 + #draws ≥ observed) / (1 + #draws)."""

    sampler: CountSampler
    method: str

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.sampler.name

    def pvalue(self, statistic: float, resolution: float = 0.01) -> float:
        # Draw until the p-value is resolved: enough exceedances for a ±22% estimate, or enough draws that a
        # p-value 20 times below `resolution` (the smallest level the decision compares with) can show.
        target = int(min(max(math.ceil(20 / max(resolution, 1e-12)), 2 * _BATCH), _MAX_DRAWS))
        n = _BATCH
        while True:
            d = self.sampler.draws(self.method, n)
            # A relative tolerance so that draws equal to the observed value up to rounding count as reaching it.
            hits = int(np.count_nonzero(d >= statistic - 1e-12 * max(abs(statistic), 1.0)))
            if hits >= _ENOUGH_EXCEEDANCES or d.size >= target:
                return (1 + hits) / (1 + d.size)
            n = min(d.size * 2, target)

    def critical(self, level: float) -> float:
        need = int(min(max(math.ceil(5 / level), _BATCH), _MAX_DRAWS))  # five draws beyond the quantile
        d = self.sampler.draws(self.method, need)
        return float(np.quantile(d, 1.0 - level, method="higher"))


@dataclass(frozen=True)
class GivenPNull(Null):
    """A p-value computed by the test itself (MMD's permutation test); no critical value is kept."""

    pvalue_: float
    name_: str = "permutation"

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.name_

    def pvalue(self, statistic: float, resolution: float = 0.0) -> float:
        return self.pvalue_

    def critical(self, level: float) -> float:
        return float("nan")


@dataclass(frozen=True)
class KSNull(Null):
    """KS: the p-value is scipy's (exact up to 10 000 values per sample, else asymptotic); the critical value
    is the asymptotic one, ``K_{1-level} / sqrt(MN / (M + N))`` with K Kolmogorov's limiting distribution."""

    pvalue_: float
    n_eff: float
    exact: bool

    @property
    def name(self) -> str:  # type: ignore[override]
        return "ks-exact" if self.exact else "ks-asymptotic"

    def pvalue(self, statistic: float, resolution: float = 0.0) -> float:
        return self.pvalue_

    def critical(self, level: float) -> float:
        return _kolmogorov_isf(level) / math.sqrt(self.n_eff)


@functools.lru_cache(maxsize=1024)
def _kolmogorov_isf(level: float) -> float:
    from scipy.stats import kstwobign

    return float(kstwobign.isf(level))


def binned_nulls(ref_counts: Any, cur_counts: Any, *, binning: Binning, eps: Eps = "auto",
                 min_expected: float = MIN_EXPECTED, rng: np.random.Generator | None = None,
                 methods: tuple[str, ...] = ("psi", "js", "chi2")) -> dict[str, Null]:
    """Nulls of ``methods`` (PSI, JS, X²) for these counts: χ² approximations when every used bin expects at
    least ``min_expected`` values in the smaller sample, else simulated (see the module docstring)."""
    rc = np.asarray(ref_counts, dtype=np.float64)
    cc = np.asarray(cur_counts, dtype=np.float64)
    m, n = rc.sum(), cc.sum()
    pooled = rc + cc
    used = pooled > 0
    if used.sum() <= 1:
        return dict.fromkeys(methods, DegenerateNull())
    df = int(used.sum()) - 1
    expected = (pooled[used] / pooled.sum()).min() * min(m, n)
    if expected >= min_expected:
        scale = 1.0 / m + 1.0 / n
        approx = {"psi": ChiSquareNull(scale, df), "js": ChiSquareNull(scale / 8.0, df, power=2),
                  "chi2": ChiSquareNull(1.0, df)}
        return {m: approx[m] for m in methods}
    # Reference-quantile bins that the reference left empty are kept (a constant reference's outer bins).
    keep = used | (binning == "reference-quantiles")
    sampler = CountSampler(rc[keep], cc[keep], binning, eps, rng or np.random.default_rng(0), methods)
    return {method: SimulatedNull(sampler, method) for method in methods}


def power(n_ref: int, n_cur: int, df: int, level: float, detectable_psi: float) -> float:
    """Approximate power of the binned tests against a shift of PSI ``detectable_psi`` at ``level``:
    P(noncentral χ²(df, λ) > χ²_{1-level}(df)) with λ = detectable_psi · MN / (M + N)."""
    from scipy.stats import chi2, ncx2

    if n_ref <= 0 or n_cur <= 0:
        return 0.0
    lam = detectable_psi * n_ref * n_cur / (n_ref + n_cur)
    return float(ncx2.sf(chi2.isf(level, max(df, 1)), max(df, 1), lam))


def rows_needed(n_ref: int, df: int, level: float, detectable_psi: float, target: float) -> int | None:
    """Current rows needed for ``target`` power given ``n_ref`` reference rows (see :func:`power`);
    ``None`` when even an infinite current window would not do (the reference is too small)."""
    n_eff = _noncentrality_needed(max(df, 1), level, target) / detectable_psi
    if n_eff >= n_ref:
        return None
    return math.ceil(n_eff * n_ref / (n_ref - n_eff))


@functools.lru_cache(maxsize=1024)
def _noncentrality_needed(df: int, level: float, target: float) -> float:
    """The noncentrality at which the χ²(df) test at ``level`` has power ``target``."""
    from scipy.optimize import brentq
    from scipy.stats import chi2, ncx2

    crit = chi2.isf(level, df)
    return float(brentq(lambda x: ncx2.sf(crit, df, x) - target, 1e-9, 1e6))
