"""Pairwise verdicts against human preferences: both rules, contextual and isotonic calibration, bias probes.

Everything here is computed from each pair's two raw slot distributions, which the judge records, by
the same ``pair_verdict`` the judge runs: one pass of the model gives every variant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from judges.calibration import IsotonicMap, calibration_error, cross_val_isotonic
from judges.case import Case
from judges.meta_eval._record import Bias, Bin, Confusion, Interval, SelfPreference, Variant
from judges.pairwise import PairVerdict, PairwiseJudge, pair_verdict
from judges.panel import model_family
from judges.stats import case_bootstrap, confusion_matrix, kappa_ci, mean_ci, rank_correlation_ci

LABELS = ["A", "B", "tie"]
_OUTCOME = {"A": 1.0, "B": 0.0, "tie": 0.5}


@dataclass(frozen=True)
class PairRow:
    """A labelled pair and the judge's raw slot distributions in both orders."""

    case: Case
    human: str
    p1: Mapping[str, float]
    p2: Mapping[str, float]


def label_of(outcome: float) -> str:
    """The verdict's label: 1 -> "A", 0 -> "B", 0.5 -> "tie"."""
    return {1.0: "A", 0.0: "B", 0.5: "tie"}[outcome]


def p_of_a(probs: Mapping[str, float]) -> float:
    """P(candidate A) among the two candidates (ties left out)."""
    total = probs["A"] + probs["B"]
    return probs["A"] / total if total > 0 else 0.5


def variant(name: str, description: str, human: Sequence[str], verdicts: Sequence[PairVerdict],
            *, pa: Sequence[float] | None = None, n_resamples: int = 1000, seed: int = 0) -> Variant:
    """How well ``verdicts`` agree with ``human``; ``pa`` overrides P(A) for the calibration error."""
    labels = [label_of(v.outcome) for v in verdicts]
    correct = [float(h == v) for h, v in zip(human, labels)]
    probs_a = list(pa) if pa is not None else [p_of_a(v.probs) for v in verdicts]
    ce = calibration_error(probs_a, [_OUTCOME[h] for h in human])
    _, counts = confusion_matrix(list(human), labels, labels=LABELS)
    return Variant(
        name=name, description=description, n=len(verdicts),
        accuracy=Interval.of(mean_ci(correct, n_resamples=n_resamples, seed=seed)),
        agreement=Interval.of(kappa_ci(list(human), labels, labels=LABELS, n_resamples=n_resamples, seed=seed)),
        tie_rate=Interval.of(mean_ci([float(lab == "tie") for lab in labels], n_resamples=n_resamples, seed=seed)),
        consistency=Interval.of(mean_ci([float(v.consistent) for v in verdicts], n_resamples=n_resamples, seed=seed)),
        calibration_error=ce.value,
        reliability=[Bin(low=b.low, high=b.high, n=b.n, predicted=b.predicted, observed=b.observed) for b in ce.bins],
        confusion=Confusion(labels=LABELS, counts=counts.tolist()),
    )


@dataclass(frozen=True)
class PairwiseAnalysis:
    headline: Variant
    variants: list[Variant]
    verdicts: list[PairVerdict]  # the configured judge's, one per row
    isotonic: IsotonicMap | None
    rule_gain: Interval  # accuracy of mean_prob minus per_order, paired over the same pairs


def analyse(rows: Sequence[PairRow], judge: PairwiseJudge, prior: Mapping[str, float] | None, *,
            folds: int = 5, seed: int = 0, n_resamples: int = 1000) -> PairwiseAnalysis:
    """Every variant's agreement with the humans, and the configured judge's verdicts."""
    human = [r.human for r in rows]
    m = judge.tie_margin
    kw: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed}

    def run(rule: str, use_prior: bool) -> list[PairVerdict]:
        return [pair_verdict(r.p1, r.p2, rule=rule, tie_margin=m, prior=prior if use_prior else None)  # type: ignore[arg-type]
                for r in rows]

    per_order, mean_prob = run("per_order", False), run("mean_prob", False)
    variants = [
        variant("per_order", "each order's likeliest label votes; orders that disagree tie", human, per_order, **kw),
        variant("mean_prob", f"P(A) averaged over both orders; tie within {m:g}", human, mean_prob, **kw),
    ]
    right_per_order = np.array([float(label_of(v.outcome) == h) for v, h in zip(per_order, human)])
    right_mean = np.array([float(label_of(v.outcome) == h) for v, h in zip(mean_prob, human)])
    gain = Interval.of(case_bootstrap(lambda i: float(right_mean[i].mean() - right_per_order[i].mean()), len(rows),
                                      **kw))
    if prior is not None:
        variants += [
            variant("per_order+contextual", "per_order after dividing out the content-free slot prior", human,
                    run("per_order", True), **kw),
            variant("mean_prob+contextual", "mean_prob after dividing out the content-free slot prior", human,
                    run("mean_prob", True), **kw),
        ]
    base = run("mean_prob", judge.contextual and prior is not None)
    pa = np.array([p_of_a(v.probs) for v in base])
    target = np.array([_OUTCOME[h] for h in human])
    isotonic = None
    if len(rows) >= max(2, folds):
        cv = cross_val_isotonic(pa, target, folds=folds, seed=seed)
        cv_verdicts = [_from_pa(q, m, v) for q, v in zip(cv, base)]
        variants.append(variant(f"mean_prob+isotonic ({folds}-fold CV)",
                                "P(A) mapped to the human rate by an isotonic fit on the other folds", human,
                                cv_verdicts, pa=list(cv), **kw))
        isotonic = IsotonicMap.fit(pa, target)
    configured = [pair_verdict(r.p1, r.p2, rule=judge.rule, tie_margin=m,
                               prior=prior if judge.contextual else None, calibration=judge.calibration)
                  for r in rows]
    headline = variant("configured", _describe(judge), human, configured, **kw)
    return PairwiseAnalysis(headline, variants, configured, isotonic, gain)


def _from_pa(q: float, margin: float, base: PairVerdict) -> PairVerdict:
    d = 2 * q - 1
    outcome = 1.0 if d > margin + 1e-12 else 0.0 if d < -margin - 1e-12 else 0.5
    return PairVerdict(outcome, {"A": float(q), "B": float(1 - q)}, base.consistent, base.order1, base.order2)


def _describe(judge: PairwiseJudge) -> str:
    parts = [f"rule {judge.rule}", f"tie margin {judge.tie_margin:g}"]
    if judge.contextual:
        parts.append("contextual calibration")
    if judge.calibration is not None:
        parts.append("isotonic map (as given)")
    if judge.examples:
        parts.append(f"{len(judge.examples)} few-shot examples")
    return "the judge as configured: " + ", ".join(parts)


def bias(rows: Sequence[PairRow], verdicts: Sequence[PairVerdict], judge_model: str, *,
         n_resamples: int = 1000, seed: int = 0) -> Bias:
    """Slot preference, position consistency, length correlation and self-preference of the judge."""
    kw: dict[str, Any] = {"n_resamples": n_resamples, "seed": seed}
    firsts = [float(max(p, key=lambda k: p[k]) == "A") for r in rows for p in (r.p1, r.p2)]
    consistent = [float(v.consistent) for v in pair_verdict_raw(rows)]
    length = [len(r.case.output_a or "") - len(r.case.output_b or "") for r in rows]
    notes = []
    lc = hc = None
    if len(rows) >= 3 and np.ptp(length) > 0:
        judge_out = [v.outcome for v in verdicts]
        human_out = [_OUTCOME[r.human] for r in rows]
        lc = Interval.of(rank_correlation_ci(judge_out, length, **kw).estimate)
        hc = Interval.of(rank_correlation_ci(human_out, length, **kw).estimate)
    else:
        notes.append("length: fewer than 3 pairs or no length difference")
    return Bias(slot_a_rate=Interval.of(mean_ci(firsts, **kw)), position_consistency=Interval.of(mean_ci(consistent, **kw)),
                length_correlation=lc, human_length_correlation=hc,
                self_preference=_self_preference(rows, verdicts, judge_model, notes, **kw), notes=notes)


def pair_verdict_raw(rows: Sequence[PairRow]) -> list[PairVerdict]:
    """Each pair's verdict from the raw answers alone (no prior, no map): what the bias probes read."""
    return [pair_verdict(r.p1, r.p2, rule="per_order") for r in rows]


def _self_preference(rows: Sequence[PairRow], verdicts: Sequence[PairVerdict], judge_model: str, notes: list[str],
                     *, n_resamples: int, seed: int) -> SelfPreference | None:
    family = model_family(judge_model)
    if family is None:
        notes.append(f"self-preference: the judge model {judge_model!r} belongs to no known family")
        return None
    own_a, judge_pick, human_pick = [], [], []
    for r, v in zip(rows, verdicts):
        fa, fb = (model_family(str(r.case.metadata.get(k) or "")) for k in ("model_a", "model_b"))
        if (fa == family) == (fb == family) or r.human == "tie":
            continue  # both or neither output from the judge's family: nothing to prefer
        own_a.append(fa == family)
        judge_pick.append(v.outcome if fa == family else 1 - v.outcome)
        human_pick.append(_OUTCOME[r.human] if fa == family else 1 - _OUTCOME[r.human])
    if not own_a:
        notes.append("self-preference: no pair has exactly one output whose model (model_a / model_b) is of the "
                     f"judge's family ({family})")
        return None
    j, h = np.array(judge_pick), np.array(human_pick)
    return SelfPreference(
        judge_family=family, n=len(own_a),
        judge=Interval.of(mean_ci(j, n_resamples=n_resamples, seed=seed)),
        human=Interval.of(mean_ci(h, n_resamples=n_resamples, seed=seed)),
        gap=Interval.of(case_bootstrap(lambda i: float(j[i].mean() - h[i].mean()), len(j),
                                       n_resamples=n_resamples, seed=seed)))


