"""How drift is decided: significance at the observed sample sizes, an effect-size floor, Holm's correction
across the features (and windows) tested together, and "insufficient data" when a test could not have seen
the stated shift. The old fixed thresholds stay available as ``Decision(rule="fixed")``.

A test first produces a :class:`PendingTest` (its statistic, effect size and null distribution); then
:func:`decide` settles a whole family of them at once, because the level each test is held to depends on how
many are tested together. See docs/drift.md ("How drift is decided") for the measured false-alarm rates.
"""

from __future__ import annotations

import dataclasses
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from stats import holm, holm_levels

from . import nulls
from .errors import ConfigError
from .results import DatasetDrift, DatasetStatus, DriftResult, FeatureDrift, FeatureStatus

#: Fixed thresholds of the old rule: PSI 0.1 "moderate" / 0.25 "significant" (Siddiqi 2006, Credit Risk
#: Scorecards; Yurdakul 2018), also Evidently's default; JS distance 0.1 (Evidently's default); KS and
#: chi-square p-value 0.05.
PSI_THRESHOLD = 0.1
JS_THRESHOLD = 0.1
PVALUE_THRESHOLD = 0.05
#: Distances drift when the statistic reaches the threshold; tests when the p-value falls below it.
DISTANCES = ("psi", "js")
#: The old rule's dataset threshold (Evidently's default ``drift_share``).
FIXED_SHARE_THRESHOLD = 0.5


@dataclass(frozen=True)
class Thresholds:
    """The fixed rule's per-method thresholds (distances: statistic ≥ threshold; tests: p < threshold)."""

    psi: float = PSI_THRESHOLD
    js: float = JS_THRESHOLD
    ks: float = PVALUE_THRESHOLD
    chi2: float = PVALUE_THRESHOLD
    mmd: float = PVALUE_THRESHOLD


@dataclass(frozen=True)
class MinEffect:
    """Effect-size floors of the calibrated rule: a significant change smaller than these is not drift.

    The defaults are what a 0.1 standard-deviation mean shift of a normal feature measures on ten
    reference-decile bins (PSI 0.0096, JS distance 0.035, KS D 0.040, Cohen's w 0.098; w = 0.1 is Cohen's
    "small" effect), so the planted 0.2 sd shift (PSI 0.038) is always above them and a million-row window
    does not alarm on a 0.05 sd shift (PSI 0.0024). ``chi2``'s effect is Cohen's w; MMD has no floor.
    """

    psi: float = 0.01
    js: float = 0.035
    ks: float = 0.04
    chi2: float = 0.1
    mmd: float = 0.0


@dataclass(frozen=True)
class Decision:
    """How tests become verdicts.

    ``rule="calibrated"`` (default): a test drifts when its Holm-adjusted p-value is at most ``alpha`` and its
    effect is at least ``min_effect``; a feature whose primary test did not drift is ``"insufficient data"``
    when that test's power against a shift of PSI ``detectable_psi`` was below ``power`` (at level
    ``alpha / number of features``). Nulls are the χ² approximations when every bin expects
    ``min_expected`` values, else simulated with ``seed``. ``rule="fixed"``: the old ``thresholds``.
    """

    rule: Literal["calibrated", "fixed"] = "calibrated"
    alpha: float = 0.05
    min_effect: MinEffect = field(default_factory=MinEffect)
    thresholds: Thresholds = field(default_factory=Thresholds)
    detectable_psi: float = 0.1
    power: float = 0.8
    min_expected: float = nulls.MIN_EXPECTED
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rule not in ("calibrated", "fixed"):
            raise ConfigError(f"decision rule must be 'calibrated' or 'fixed', got {self.rule!r}")
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha must be in (0, 1), got {self.alpha!r}")
        if not 0 < self.power < 1:
            raise ConfigError(f"power must be in (0, 1), got {self.power!r}")
        if self.detectable_psi <= 0:
            raise ConfigError(f"detectable_psi must be > 0, got {self.detectable_psi!r}")

    def rng(self, column: str) -> np.random.Generator:
        """The generator of a column's simulated nulls: reproducible per (seed, column)."""
        return np.random.default_rng([self.seed, zlib.crc32(column.encode("utf-8"))])


DEFAULT_DECISION = Decision()


@dataclass(frozen=True)
class PendingTest:
    """A test whose decision waits for its family: the statistic (in ``base``), its effect size and null."""

    base: DriftResult
    effect: float
    null: nulls.Null


@dataclass(frozen=True)
class PendingFeature:
    """A scored (or skipped) column before the family's decision; ``df`` feeds the power check."""

    feature: FeatureDrift
    tests: tuple[PendingTest, ...] = ()
    df: int | None = None


def decide(groups: Sequence[Sequence[PendingFeature]], decision: Decision = DEFAULT_DECISION) -> list[list[FeatureDrift]]:
    """Settle every test in ``groups`` (windows, each a list of features).

    Calibrated rule: Holm's correction over the primary tests of all features of all groups, so the chance
    that any feature drifts when nothing changed is at most ``alpha``; then the effect floor. Each non-primary
    method is corrected the same way within itself. Fixed rule: each test against its fixed threshold.
    """
    decided: dict[tuple[int, int, int], DriftResult] = {}
    # Families: every feature's primary test together (the dataset verdict rests on them, whatever the method),
    # then each other method on its own (shown for information).
    cells = [(g, i, j, t, "primary" if t.base.method == pf.feature.primary else t.base.method)
             for g, group in enumerate(groups) for i, pf in enumerate(group) for j, t in enumerate(pf.tests)]
    family: dict[str, int] = {}
    for name in dict.fromkeys(c[-1] for c in cells):
        members = [(g, i, j, t) for g, i, j, t, fam in cells if fam == name]
        family[name] = len(members)
        if decision.rule == "fixed":
            for g, i, j, t in members:
                decided[(g, i, j)] = _fixed(t, decision.thresholds)
            continue
        resolution = decision.alpha / len(members)
        pvals = [t.null.pvalue(t.base.statistic, resolution) for *_, t in members]
        adjusted, fraction = holm(pvals), holm_levels(pvals)
        for (g, i, j, t), p, adj, frac in zip(members, pvals, adjusted, fraction, strict=True):
            level = decision.alpha * float(frac)
            floor = float(getattr(decision.min_effect, t.base.method))
            decided[(g, i, j)] = dataclasses.replace(
                t.base, pvalue=float(p), adjusted_pvalue=float(adj), threshold=floor, effect=float(t.effect),
                critical_value=t.null.critical(level), drifted=bool(adj <= decision.alpha and t.effect >= floor),
                details={**t.base.details, "null": t.null.name, "level": level, "family_size": len(members)})
    out: list[list[FeatureDrift]] = []
    for g, group in enumerate(groups):
        out.append([_feature(pf, tuple(decided[(g, i, j)] for j in range(len(pf.tests))), family.get("primary", 1),
                             decision) for i, pf in enumerate(group)])
    return out


def _fixed(t: PendingTest, thresholds: Thresholds) -> DriftResult:
    method = t.base.method
    thr = float(getattr(thresholds, method))
    if method in DISTANCES:
        return dataclasses.replace(t.base, threshold=thr, effect=float(t.effect), drifted=bool(t.base.statistic >= thr),
                                   details={**t.base.details, "rule": "fixed"})
    p = t.null.pvalue(t.base.statistic, thr)
    return dataclasses.replace(t.base, pvalue=p, threshold=thr, effect=float(t.effect), drifted=bool(p < thr),
                               details={**t.base.details, "rule": "fixed", "null": t.null.name})


def _feature(pf: PendingFeature, tests: tuple[DriftResult, ...], family_size: int, decision: Decision) -> FeatureDrift:
    f = pf.feature
    if not tests:
        return f
    primary = next(t for t in tests if t.method == f.primary)
    power = needed = None
    if pf.df is not None:
        level = decision.alpha / family_size
        power = nulls.power(f.n_reference, f.n_current, pf.df, level, decision.detectable_psi)
        needed = nulls.rows_needed(f.n_reference, pf.df, level, decision.detectable_psi, decision.power)
    status: FeatureStatus = "drift" if primary.drifted else "ok"
    notes = f.warnings
    if status == "ok" and decision.rule == "calibrated" and power is not None and power < decision.power:
        status = "insufficient data"
        notes = (*notes, insufficient_note(f, power, needed, decision))
    return dataclasses.replace(f, status=status, drifted=primary.drifted, tests=tests, power=power,
                               rows_needed=needed, warnings=notes)


def insufficient_note(f: FeatureDrift, power: float, needed: int | None, decision: Decision) -> str:
    """Why a feature is ``insufficient data``, with the numbers."""
    more = (f"about {needed:,} current rows would reach {decision.power:.0%}" if needed is not None
            else f"the reference ({f.n_reference:,} values) is too small to reach {decision.power:.0%} at any window size")
    return (f"column {f.column!r}: insufficient data: {f.n_reference:,} reference / {f.n_current:,} current values "
            f"give {power:.0%} power against a shift of PSI {decision.detectable_psi:g}; {more}")


def verdict(features: Sequence[FeatureDrift], decision: Decision, *, share_threshold: float | None,
            n_reference_rows: int, n_current_rows: int, notes: Sequence[str] = ()) -> DatasetDrift:
    """The dataset-level verdict over decided features (see :class:`drift.DatasetDrift`)."""
    scored = [f for f in features if f.scored]
    n_drifted = sum(f.drifted for f in scored)
    share = n_drifted / len(scored) if scored else 0.0
    notes = list(notes)
    if decision.rule == "fixed":
        threshold = FIXED_SHARE_THRESHOLD if share_threshold is None else share_threshold
        drifted = bool(scored) and share >= threshold
    else:
        drifted = n_drifted >= 1 and (share_threshold is None or share >= share_threshold)
    if not scored:
        notes.append("no column could be scored; there is no evidence either way")
    status: DatasetStatus = "drift" if drifted else (
        "insufficient data" if not scored or any(f.status == "insufficient data" for f in scored) else "no drift")
    adjusted = [t.adjusted_pvalue for f in scored for t in f.tests
                if t.method == f.primary and t.adjusted_pvalue is not None]
    return DatasetDrift(drifted, share, share_threshold, len(scored), n_drifted, tuple(features), n_reference_rows,
                        n_current_rows, tuple(dict.fromkeys(notes)), status, min(adjusted) if adjusted else None,
                        decision.alpha, decision.rule, "holm" if decision.rule == "calibrated" else "none")


def decide_one(base: DriftResult, effect: float, null: nulls.Null, decision: Decision) -> DriftResult:
    """Decide a single test on its own (a family of one: no correction)."""
    pending = PendingFeature(FeatureDrift(base.details.get("column", "value"), "numeric", "ok", False, base.method),
                             (PendingTest(base, effect, null),))
    return decide([[pending]], decision)[0][0].tests[0]


def with_threshold(decision: Decision, method: str, threshold: float | None) -> Decision:
    """``decision``, or the fixed rule with ``method``'s threshold set when ``threshold`` is given."""
    if threshold is None:
        return decision
    if math.isnan(threshold) or threshold <= 0:
        raise ConfigError(f"{method} threshold must be > 0, got {threshold!r}")
    return Decision(rule="fixed", thresholds=dataclasses.replace(decision.thresholds, **{method: threshold}))
