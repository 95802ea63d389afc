"""Graded verdicts (pointwise, G-Eval) against human scores: agreement, rank correlation, calibration.

Computed from each case's raw label distribution, which the judge records, so one pass of the model
gives the raw, contextual and isotonic variants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from judges.abstention import margin
from judges.calibration import IsotonicMap, calibration_error, cross_val_isotonic, divide_prior
from judges.case import Case
from judges.meta_eval._record import Bias, Bin, Confusion, Interval, SelfPreference, Variant
from judges.panel import model_family
from judges.scoring import weighted_score
from judges.stats import case_bootstrap, confusion_matrix, kappa_ci, mean_ci, rank_correlation_ci


@dataclass(frozen=True)
class ScoreRow:
    """A labelled case and the judge's raw label distribution."""

    case: Case
    human: float
    probs: Mapping[str, float]


@dataclass(frozen=True)
class Graded:
    """A judge's score on one case and the distribution it came from (after any contextual calibration)."""

    score: float
    probs: Mapping[str, float]

    @property
    def confidence(self) -> float:
        return margin(self.probs)


def round_half_up(x: float) -> int:
    """4.5 -> 5, 2.5 -> 3: how scores meet the integer human scale (as the review export rounds)."""
    return int(np.floor(x + 0.5))


def grade(probs: Mapping[str, float], scale: tuple[int, int], *, prior: Mapping[str, float] | None = None,
          calibration: IsotonicMap | None = None) -> Graded:
    """The score a judge gives from ``probs``, as ``judges._judge.to_result`` computes it."""
    p = divide_prior(probs, prior) if prior is not None else dict(probs)
    score = weighted_score(p, {k: float(k) for k in p})
    if calibration is not None:
        score = min(scale[1], max(scale[0], calibration(score)))
    return Graded(score, p)


def variant(name: str, description: str, human: Sequence[float], scores: Sequence[float], scale: tuple[int, int],
            *, n_resamples: int = 1000, seed: int = 0) -> Variant:
    """Agreement of the rounded scores with the human scores (QWK, exact), rank correlations, MAE, calibration."""
    kw: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed}
    labs = list(range(scale[0], scale[1] + 1))
    h = [round_half_up(x) for x in human]
    j = [min(scale[1], max(scale[0], round_half_up(x))) for x in scores]
    sp = kd = None
    sp_p = kd_p = None
    if len(scores) >= 3:
        s, k = rank_correlation_ci(scores, human, **kw), rank_correlation_ci(scores, human, method="kendall", **kw)
        sp, sp_p, kd, kd_p = Interval.of(s.estimate), _num(s.pvalue), Interval.of(k.estimate), _num(k.pvalue)
    ce = calibration_error(scores, human, value_range=(float(scale[0]), float(scale[1])))
    _, counts = confusion_matrix(h, j, labels=labs)
    return Variant(
        name=name, description=description, n=len(scores),
        accuracy=Interval.of(mean_ci([float(a == b) for a, b in zip(h, j)], **kw)),
        agreement=Interval.of(kappa_ci(h, j, weights="quadratic", labels=labs, **kw)),
        spearman=sp, spearman_p=sp_p, kendall=kd, kendall_p=kd_p,
        mae=Interval.of(mean_ci(np.abs(np.asarray(scores) - np.asarray(human)), **kw)),
        calibration_error=ce.value,
        reliability=[Bin(low=b.low, high=b.high, n=b.n, predicted=b.predicted, observed=b.observed) for b in ce.bins],
        confusion=Confusion(labels=[str(x) for x in labs], counts=counts.tolist()),
    )


def _num(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


@dataclass(frozen=True)
class OrdinalAnalysis:
    headline: Variant
    variants: list[Variant]
    graded: list[Graded]  # the configured judge's, one per row
    isotonic: IsotonicMap | None


def analyse(rows: Sequence[ScoreRow], *, scale: tuple[int, int], prior: Mapping[str, float] | None,
            contextual: bool, calibration: IsotonicMap | None, describe: str, folds: int = 5, seed: int = 0,
            n_resamples: int = 1000) -> OrdinalAnalysis:
    """Every variant's agreement with the human scores, and the configured judge's scores."""
    human = [r.human for r in rows]
    kw: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed}
    raw = [grade(r.probs, scale) for r in rows]
    variants = [variant("expected score", "probability-weighted label value", human, [g.score for g in raw], scale, **kw),
                variant("argmax label", "the likeliest label", human,
                        [float(max(g.probs, key=lambda k: g.probs[k])) for g in raw], scale, **kw)]
    if prior is not None:
        ctx = [grade(r.probs, scale, prior=prior) for r in rows]
        variants.append(variant("expected score+contextual", "after dividing out the content-free label prior",
                                human, [g.score for g in ctx], scale, **kw))
    base = [grade(r.probs, scale, prior=prior if contextual else None).score for r in rows]
    isotonic = None
    if len(rows) >= max(2, folds):
        cv = cross_val_isotonic(base, human, folds=folds, seed=seed)
        variants.append(variant(f"isotonic ({folds}-fold CV)", "the score mapped to the human scale by an isotonic fit "
                                "on the other folds", human, list(cv), scale, **kw))
        isotonic = IsotonicMap.fit(base, human)
    graded = [grade(r.probs, scale, prior=prior if contextual else None, calibration=calibration) for r in rows]
    headline = variant("configured", describe, human, [g.score for g in graded], scale, **kw)
    return OrdinalAnalysis(headline, variants, graded, isotonic)


def bias(rows: Sequence[ScoreRow], graded: Sequence[Graded], judge_model: str, *, n_resamples: int = 1000,
         seed: int = 0) -> Bias:
    """Length correlation (judge and humans) and self-preference; position does not apply to one output."""
    kw: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed}
    notes = ["position: one output per case, no slots to prefer"]
    length = [len(r.case.output or "") for r in rows]
    lc = hc = None
    if len(rows) >= 3 and np.ptp(length) > 0 and np.ptp([g.score for g in graded]) > 0 and np.ptp([r.human for r in rows]) > 0:
        lc = Interval.of(rank_correlation_ci([g.score for g in graded], length, **kw).estimate)
        hc = Interval.of(rank_correlation_ci([r.human for r in rows], length, **kw).estimate)
    else:
        notes.append("length: fewer than 3 cases, or a constant length, judge score or human score")
    return Bias(length_correlation=lc, human_length_correlation=hc,
                self_preference=_self_preference(rows, graded, judge_model, notes, **kw), notes=notes)


def _self_preference(rows: Sequence[ScoreRow], graded: Sequence[Graded], judge_model: str, notes: list[str], *,
                     n_resamples: int, seed: int) -> SelfPreference | None:
    family = model_family(judge_model)
    known = [(model_family(str(r.case.metadata.get("model") or "")) == family, g.score - r.human)
             for r, g in zip(rows, graded) if r.case.metadata.get("model")]
    own = np.array([d for is_own, d in known if is_own])
    other = np.array([d for is_own, d in known if not is_own])
    if family is None or own.size == 0 or other.size == 0:
        notes.append("self-preference: needs outputs whose model (row field 'model') is known, some of the judge's "
                     f"family ({family or 'unknown'}) and some not")
        return None
    both = np.concatenate([own, other])
    is_own = np.concatenate([np.ones(own.size, bool), np.zeros(other.size, bool)])

    def gap(idx: np.ndarray) -> float:
        o, t = both[idx][is_own[idx]], both[idx][~is_own[idx]]
        return float(o.mean() - t.mean()) if o.size and t.size else float("nan")

    return SelfPreference(judge_family=family, n=int(own.size),
                          judge=Interval.of(mean_ci(own, n_resamples=n_resamples, seed=seed)),
                          human=Interval.of(mean_ci(other, n_resamples=n_resamples, seed=seed)),
                          gap=Interval.of(case_bootstrap(gap, both.size, n_resamples=n_resamples, seed=seed)))
