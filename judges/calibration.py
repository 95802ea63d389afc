"""Calibrating a judge's label probabilities: contextual calibration, isotonic maps, calibration error.

* **Contextual calibration** (Zhao et al., 2021, "Calibrate Before Use"): ask the judge its question about
  content-free inputs ("N/A", "[MASK]", ""), take the mean label distribution as the judge's prior, and
  divide it out of every answer. A judge that says "A" whatever it reads has a prior heavy on "A"; what
  is left after dividing is what the content moved.
* **Isotonic calibration**: a monotone map from the judge's score (expected label value, or P(A) of a
  pairwise judge) to the human score, fitted on review labels by pool-adjacent-violators; the same fit
  as ``sklearn.isotonic.IsotonicRegression(out_of_bounds="clip")``.
* **Calibration error**: predictions and human values binned over the score range; the size-weighted mean
  gap between each bin's mean prediction and mean human value, over the range's width. For P(A) against
  0/1 outcomes this is the usual expected calibration error (ECE).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from judges._labels import LabelQuery, ask_label
from judges.case import Case
from judges.client import ModelClient
from judges.errors import JudgeError

#: The content-free inputs of contextual calibration (Zhao et al. 2021 use the same three).
CONTENT_FREE = ("N/A", "[MASK]", "")


def content_free_cases(kind: str) -> tuple[Case, ...]:
    """One case per content-free string, shaped for a pairwise (``kind="pairwise"``) or pointwise judge."""
    if kind == "pairwise":
        return tuple(Case(f"content-free-{i}", s, output_a=s, output_b=s) for i, s in enumerate(CONTENT_FREE))
    return tuple(Case(f"content-free-{i}", s, output=s) for i, s in enumerate(CONTENT_FREE))


def divide_prior(probs: Mapping[str, float], prior: Mapping[str, float]) -> dict[str, float]:
    """``probs / prior``, renormalised: the label distribution with the judge's content-free prior divided out."""
    raw = {k: p / max(prior.get(k, 0.0), 1e-12) for k, p in probs.items()}
    total = sum(raw.values())
    if not np.isfinite(total) or total <= 0:
        raise ValueError(f"cannot divide {dict(probs)} by the prior {dict(prior)}: no mass left")
    return {k: v / total for k, v in raw.items()}


def mean_distribution(dists: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The label-wise mean of label distributions (over the same labels)."""
    if not dists:
        raise ValueError("mean_distribution needs at least one distribution")
    labels = list(dists[0])
    return {k: float(np.mean([d.get(k, 0.0) for d in dists])) for k in labels}


_priors: dict[str, dict[str, float]] = {}
_locks: dict[str, asyncio.Lock] = {}


async def memoised_prior(key: str, estimate: Callable[[], Awaitable[dict[str, float]]]) -> dict[str, float]:
    """The prior under ``key`` (a judge's configuration and model), estimated once per process."""
    if key in _priors:
        return _priors[key]
    lock = _locks.setdefault(key, asyncio.Lock())
    async with lock:
        if key not in _priors:
            _priors[key] = await estimate()
    return _priors[key]


async def content_free_prior(
    client: ModelClient, key: str, queries: Sequence[LabelQuery], *, max_parse_retries: int = 2
) -> dict[str, float]:
    """The judge's label prior: its mean label distribution over ``queries`` about content-free cases.

    ``key`` names the judge's configuration; the prior is estimated once per (key, model) and process.
    Raises JudgeError when the model gives no label probabilities for any of them.
    """

    async def estimate() -> dict[str, float]:
        answers = await asyncio.gather(*(ask_label(client, q, max_parse_retries=max_parse_retries) for q in queries))
        probs = [a.probs for a in answers if a.probs is not None]
        if not probs:
            raise JudgeError(f"no label probabilities on content-free inputs from {client.info.model} "
                             f"({answers[0].error if answers else 'no queries'}); turn contextual calibration off")
        return mean_distribution(probs)

    return await memoised_prior(f"{key}|{client.info.model}", estimate)


# --- isotonic maps ------------------------------------------------------------------------------------------


def _pava(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted pool-adjacent-violators: the non-decreasing fit of ``y`` (already ordered by x)."""
    values: list[float] = []
    weights: list[float] = []
    sizes: list[int] = []
    for yi, wi in zip(y, w):
        values.append(float(yi))
        weights.append(float(wi))
        sizes.append(1)
        while len(values) > 1 and values[-2] > values[-1]:
            wt = weights[-2] + weights[-1]
            merged = (values[-2] * weights[-2] + values[-1] * weights[-1]) / wt
            size = sizes[-2] + sizes[-1]
            del values[-1], weights[-1], sizes[-1]
            values[-1], weights[-1], sizes[-1] = merged, wt, size
    return np.repeat(values, sizes)


@dataclass(frozen=True)
class IsotonicMap:
    """A fitted non-decreasing map from a judge's score to the human score (linear between knots, clipped)."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or not self.x:
            raise ValueError(f"IsotonicMap needs as many x as y knots, at least one; got {len(self.x)} and {len(self.y)}")
        if any(b < a for a, b in zip(self.x, self.x[1:])) or any(b < a for a, b in zip(self.y, self.y[1:])):
            raise ValueError("IsotonicMap knots must be non-decreasing in x and in y")

    @classmethod
    def fit(cls, scores: ArrayLike, human: ArrayLike) -> IsotonicMap:
        """Fit on paired (judge score, human score) values; equal scores are pooled first, as sklearn does."""
        xs = np.asarray(scores, dtype=float).ravel()
        ys = np.asarray(human, dtype=float).ravel()
        if xs.shape != ys.shape or xs.size == 0:
            raise ValueError(f"IsotonicMap.fit needs paired, non-empty scores and human values, got {xs.size} and {ys.size}")
        if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
            raise ValueError("IsotonicMap.fit needs finite values; drop the cases without a score or a label")
        ux, inverse, counts = np.unique(xs, return_inverse=True, return_counts=True)
        uy = np.bincount(inverse, weights=ys) / counts
        fitted = _pava(uy, counts.astype(float))
        return cls(tuple(float(v) for v in ux), tuple(float(v) for v in fitted))

    def __call__(self, score: float) -> float:
        """The calibrated score (the end knots' values outside the fitted range)."""
        return float(np.interp(score, self.x, self.y))

    def apply(self, scores: ArrayLike) -> np.ndarray:
        """The map over an array of scores."""
        return np.interp(np.asarray(scores, dtype=float), self.x, self.y)

    def to_dict(self) -> dict[str, list[float]]:
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def load(cls, path: str | Path) -> IsotonicMap:
        """Read a map from a JSON file ``{"x": [...], "y": [...]}`` or from a meta-evaluation results file."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        found = data.get("isotonic_map", data) if isinstance(data, dict) else None
        if not isinstance(found, dict) or "x" not in found or "y" not in found:
            raise ValueError(f"{path} holds no isotonic map; write one with `python -m judges meta-eval ... --out FILE`")
        return cls(tuple(map(float, found["x"])), tuple(map(float, found["y"])))


def cross_val_isotonic(scores: ArrayLike, human: ArrayLike, *, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold isotonic predictions: each case mapped by a fit on the other folds (shuffled, seeded)."""
    xs = np.asarray(scores, dtype=float).ravel()
    ys = np.asarray(human, dtype=float).ravel()
    n = xs.size
    if n < 2 or folds < 2:
        raise ValueError(f"cross-validation needs at least 2 cases and 2 folds, got {n} cases and {folds} folds")
    folds = min(folds, n)
    order = np.random.default_rng(seed).permutation(n)
    out = np.empty(n)
    for k in range(folds):
        test = order[k::folds]
        train = np.setdiff1d(order, test)
        out[test] = IsotonicMap.fit(xs[train], ys[train]).apply(xs[test])
    return out


# --- calibration error and the reliability diagram ----------------------------------------------------------


@dataclass(frozen=True)
class ReliabilityBin:
    """One bin of a reliability diagram: its range, its cases, the mean prediction and the mean human value."""

    low: float
    high: float
    n: int
    predicted: float
    observed: float


@dataclass(frozen=True)
class CalibrationError:
    """Binned calibration error (0 = the judge's values match the human means bin by bin) and its bins."""

    value: float
    bins: tuple[ReliabilityBin, ...]
    n: int


def calibration_error(
    predicted: ArrayLike, observed: ArrayLike, *, n_bins: int = 10, value_range: tuple[float, float] = (0.0, 1.0)
) -> CalibrationError:
    """Expected calibration error of ``predicted`` against ``observed`` over ``n_bins`` equal-width bins.

    ``sum_b n_b / n * |mean(predicted_b) - mean(observed_b)| / (high - low)``. Bins follow
    ``sklearn.calibration.calibration_curve(strategy="uniform")``: a value on an inner edge falls in the
    lower bin. Values outside ``value_range`` fall in the end bins.
    """
    p = np.asarray(predicted, dtype=float).ravel()
    o = np.asarray(observed, dtype=float).ravel()
    if p.shape != o.shape:
        raise ValueError(f"calibration_error needs paired values, got {p.size} and {o.size}")
    lo, hi = value_range
    if not hi > lo:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    if p.size == 0:
        return CalibrationError(float("nan"), (), 0)
    edges = np.linspace(lo, hi, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], p, side="left")
    bins = []
    gap = 0.0
    for b in range(n_bins):
        mask = ids == b
        if not mask.any():
            continue
        mp, mo = float(p[mask].mean()), float(o[mask].mean())
        bins.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), int(mask.sum()), mp, mo))
        gap += mask.sum() * abs(mp - mo)
    return CalibrationError(float(gap / p.size / (hi - lo)), tuple(bins), int(p.size))
