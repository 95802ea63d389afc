"""Measure a decision rule's false-alarm rate and power by simulation, at any window size.

A simulated dataset has three features that behave like logged LLM traffic: a normal numeric feature, a
heavy-tailed one (Student's t with 2 degrees of freedom: infinite variance, like latencies with stalls) and a
categorical one with rare categories (shares 40% down to 0.5%). Reference and current windows have the same
size; the current one is drawn from the same distributions ("no drift") or with one planted shift:

* ``mean 0.2 sd``: the normal feature moves by 0.2 standard deviations (PSI ≈ 0.038 on decile bins);
* ``scale 20%``: the normal feature's spread grows by 20% (PSI ≈ 0.043);
* ``new category 5%``: 5% of the categorical values become a category the reference never saw.

``bench/drift_calibration.py`` prints the table for this package and for Evidently; the tests in
``tests/drift/test_drift_calibration.py`` assert the false-alarm rate at every size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .decision import DEFAULT_DECISION, Decision, decide, verdict
from .detectors import CategoricalDriftDetector, NumericDriftDetector
from .results import DatasetDrift

SIZES = (50, 100, 300, 1_000, 10_000, 1_000_000)
SHIFTS = ("none", "mean 0.2 sd", "scale 20%", "new category 5%")
#: The feature each planted shift moves.
SHIFTED_FEATURE = {"mean 0.2 sd": "normal", "scale 20%": "normal", "new category 5%": "category"}
CATEGORY_SHARES = (0.4, 0.25, 0.15, 0.1, 0.05, 0.03, 0.015, 0.005)
FEATURES = ("normal", "heavy_tailed", "category")


def sample(rng: np.random.Generator, n: int, shift: str = "none") -> dict[str, np.ndarray]:
    """One window of ``n`` rows of the three features, with ``shift`` planted (one of :data:`SHIFTS`)."""
    if shift not in SHIFTS:
        raise ValueError(f"unknown shift {shift!r}; choose from {SHIFTS}")
    normal = rng.standard_normal(n)
    if shift == "mean 0.2 sd":
        normal += 0.2
    elif shift == "scale 20%":
        normal *= 1.2
    category = rng.choice(len(CATEGORY_SHARES), size=n, p=CATEGORY_SHARES)
    if shift == "new category 5%":
        category[rng.random(n) < 0.05] = len(CATEGORY_SHARES)
    return {"normal": normal, "heavy_tailed": rng.standard_t(2, size=n), "category": category}


def score(reference: dict[str, np.ndarray], current: dict[str, np.ndarray],
          decision: Decision = DEFAULT_DECISION, *, ks: bool = True) -> DatasetDrift:
    """The dataset verdict of ``current`` against ``reference`` through the detectors (PSI primary), all
    features as one family. ``ks=False`` leaves KS out (it never decides the verdict; it costs a sort)."""
    methods = ("psi", "ks", "js") if ks else ("psi", "js")
    pending = [NumericDriftDetector(c, methods=methods, decision=decision).fit(reference[c]).pending(current[c])
               for c in ("normal", "heavy_tailed")]
    pending.append(CategoricalDriftDetector("category", decision=decision).fit(reference["category"])
                   .pending(current["category"]))
    features = decide([pending], decision)[0]
    n_ref, n_cur = len(reference["normal"]), len(current["normal"])
    return verdict(features, decision, share_threshold=None, n_reference_rows=n_ref, n_current_rows=n_cur)


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n`` trials, with the Wilson 95% interval."""

    k: int
    n: int

    @property
    def value(self) -> float:
        """The observed rate."""
        return self.k / self.n if self.n else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        """Wilson 95% interval (Wilson 1927)."""
        from .concept import wilson_interval

        return wilson_interval(self.k, self.n)

    @property
    def se(self) -> float:
        """Binomial standard error of the rate (the simulation error)."""
        p = self.value
        return math.sqrt(p * (1 - p) / self.n) if self.n else float("nan")


@dataclass(frozen=True)
class Cell:
    """One (size, shift) cell: how often the dataset alarmed, each feature did, any feature did, and how often
    the verdict was "insufficient data"."""

    size: int
    shift: str
    dataset: Rate
    features: dict[str, Rate]
    any_feature: Rate
    insufficient: Rate


def simulate(size: int, shift: str, trials: int, *, decision: Decision = DEFAULT_DECISION, seed: int = 0,
             ks: bool = True,
             scorer: Callable[[dict[str, np.ndarray], dict[str, np.ndarray]], Any] | None = None) -> Cell:
    """Run ``trials`` reference/current pairs of ``size`` rows each with ``shift`` planted. ``scorer`` replaces
    our detectors (the benchmark passes Evidently's); it returns ``(dataset drifted, {feature: drifted})``."""
    rng = np.random.default_rng([seed, size, SHIFTS.index(shift)])
    alarms = 0
    insufficient = 0
    any_feature = 0
    per_feature = dict.fromkeys(FEATURES, 0)
    for _ in range(trials):
        ref, cur = sample(rng, size), sample(rng, size, shift)
        if scorer is not None:
            drifted, features = scorer(ref, cur)
        else:
            res = score(ref, cur, decision, ks=ks)
            drifted, features = res.drifted, {f.column: f.drifted for f in res.features}
            insufficient += res.status == "insufficient data"
        alarms += bool(drifted)
        any_feature += any(features.values())
        for name, flag in features.items():
            per_feature[name] += bool(flag)
    return Cell(size, shift, Rate(alarms, trials), {k: Rate(v, trials) for k, v in per_feature.items()},
                Rate(any_feature, trials), Rate(insufficient, trials))
