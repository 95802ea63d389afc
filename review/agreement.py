"""Judge–human and human–human agreement from the review store's labels (statistics from ``judges.stats``).

Labels of single conversation turns are their own criterion, ``"<criterion> (per turn)"``: each labelled
turn is one unit, compared with the per-turn judge's score of that turn (``meta["turn_scores"]``). They are
never mixed with labels of whole conversations, whose judge score is the mean over turns.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from .models import LabelRecord
from .transcript import turn_judge_score

__all__ = [
    "PER_TURN",
    "CriterionAgreement",
    "Disagreement",
    "criteria",
    "criterion_agreement",
    "disagreements",
    "unit_criterion",
]

#: The suffix naming the criterion of single-turn labels.
PER_TURN = " (per turn)"


@dataclass(frozen=True)
class CriterionAgreement:
    """Agreement figures for one criterion.

    ``kappa_qw`` is quadratic-weighted Cohen's kappa between the judge and the reviewers' mean (both
    rounded onto the integer scale) with its bootstrap interval; ``alpha`` is Krippendorff's alpha
    (interval metric) among reviewers; ``pairwise_kappa`` is the mean quadratic kappa over reviewer pairs.
    """

    criterion: str
    n_items: int
    kappa_qw: float
    kappa_ci: tuple[float, float]
    spearman_rho: float
    spearman_p: float
    labels: list[object]
    confusion: np.ndarray  # rows: human, columns: judge
    n_multi: int
    alpha: float
    pairwise_kappa: float


@dataclass(frozen=True)
class Disagreement:
    """An item where the judge and the humans, or the humans among themselves, differ."""

    item_id: int
    criterion: str
    judge_score: float | None
    human_scores: dict[str, float]
    gap: float
    why: str
    input: str
    output: str
    turn: int | None = None  # the conversation turn, for a per-turn criterion


def unit_criterion(r: LabelRecord) -> str:
    """The criterion a label counts under: its item's, or ``"<criterion> (per turn)"`` for a turn's label."""
    return r.criterion if r.turn is None else r.criterion + PER_TURN


def _judge_score(r: LabelRecord) -> float | None:
    """The judge's score of what ``r`` labels: the item's verdict, or the per-turn judge's score of the turn."""
    return r.judge_score if r.turn is None else turn_judge_score(r.meta, r.criterion, r.turn)


def criteria(records: Sequence[LabelRecord]) -> list[str]:
    """Criteria that have at least one scored label, sorted (single-turn labels under their own name)."""
    return sorted({unit_criterion(r) for r in records if r.kind == "label" and r.score is not None})


def _by_item(records: Sequence[LabelRecord], criterion: str) -> dict[tuple[int, int], list[LabelRecord]]:
    # the unit is an item, or one turn of an item (-1: the whole item)
    out: dict[tuple[int, int], list[LabelRecord]] = defaultdict(list)
    for r in records:
        if unit_criterion(r) == criterion and r.kind == "label" and r.score is not None:
            out[(r.item_id, -1 if r.turn is None else r.turn)].append(r)
    return out


def criterion_agreement(
    records: Sequence[LabelRecord],
    criterion: str,
    *,
    scale: tuple[int, int] | None = None,
    n_resamples: int = 1000,
) -> CriterionAgreement:
    """Compute the agreement figures for ``criterion`` from stored labels."""
    from judges import stats

    items = _by_item(records, criterion)
    pairs = [
        (float(np.mean([r.score for r in rs])), float(js))  # type: ignore[misc]
        for rs in items.values()
        if (js := _judge_score(rs[0])) is not None and not math.isnan(js)
    ]
    human = np.array([p[0] for p in pairs])
    judge = np.array([p[1] for p in pairs])
    if scale is None:
        seen = np.concatenate([human, judge]) if pairs else np.array([1.0, 5.0])
        scale = (math.floor(seen.min()), math.ceil(seen.max()))
    labs = list(range(scale[0], scale[1] + 1))
    h_round = [round(x) for x in human]
    j_round = [round(x) for x in judge]
    if pairs:
        kappa = stats.cohen_kappa(h_round, j_round, weights="quadratic", labels=labs)
        ha, ja = np.array(h_round), np.array(j_round)

        def _kappa_rows(idx: np.ndarray, axis: int = -1) -> np.ndarray:
            # bootstrap_ci hands over resampled item indices (as floats), one resample per row.
            idx = np.asarray(idx, dtype=int)
            rows = np.atleast_2d(idx)
            out = np.array([stats.cohen_kappa(ha[r], ja[r], weights="quadratic", labels=labs) for r in rows])
            return out if idx.ndim == 2 else out[0]

        kappa_ci = stats.bootstrap_ci(np.arange(len(pairs)), _kappa_rows, n_resamples=n_resamples)
        rho, p = stats.spearman(human, judge) if len(pairs) >= 3 else (float("nan"), float("nan"))
        _, confusion = stats.confusion_matrix(h_round, j_round, labels=labs)
    else:
        kappa, kappa_ci, rho, p = float("nan"), (float("nan"), float("nan")), float("nan"), float("nan")
        confusion = np.zeros((len(labs), len(labs)), dtype=int)

    multi = {i: rs for i, rs in items.items() if len(rs) >= 2}
    reviewers = sorted({r.reviewer for rs in multi.values() for r in rs})
    table = [
        [next((r.score for r in rs if r.reviewer == who), None) for rs in multi.values()] for who in reviewers
    ]
    alpha = stats.krippendorff_alpha(table, metric="interval") if multi else float("nan")
    pair_kappas = []
    for a, b in combinations(range(len(reviewers)), 2):
        both = [(x, y) for x, y in zip(table[a], table[b]) if x is not None and y is not None]
        if len(both) >= 2:
            k = stats.cohen_kappa(
                [round(x) for x, _ in both],
                [round(y) for _, y in both],
                weights="quadratic",
                labels=labs,
            )
            if not math.isnan(k):
                pair_kappas.append(k)
    return CriterionAgreement(
        criterion=criterion,
        n_items=len(pairs),
        kappa_qw=kappa,
        kappa_ci=kappa_ci,
        spearman_rho=rho,
        spearman_p=p,
        labels=list(labs),
        confusion=confusion,
        n_multi=len(multi),
        alpha=alpha,
        pairwise_kappa=float(np.mean(pair_kappas)) if pair_kappas else float("nan"),
    )


def disagreements(
    records: Sequence[LabelRecord], criterion: str, *, min_gap: float = 1.0
) -> list[Disagreement]:
    """Items where judge and human mean differ by ``min_gap`` or more, or reviewers do; largest gap first."""
    out = []
    for (item_id, turn), rs in _by_item(records, criterion).items():
        scores = {r.reviewer: float(r.score) for r in rs}  # type: ignore[arg-type]
        mean = float(np.mean(list(scores.values())))
        judge = _judge_score(rs[0])
        judge_gap = abs(judge - mean) if judge is not None else 0.0
        human_gap = max(scores.values()) - min(scores.values())
        gap = max(judge_gap, human_gap)
        if gap >= min_gap:
            why = "judge vs humans" if judge_gap >= human_gap else "reviewers disagree"
            where = None if turn < 0 else turn
            if where is not None:
                why += f", turn {where}"
            out.append(
                Disagreement(item_id, criterion, judge, scores, gap, why, rs[0].input, rs[0].output, where)
            )
    return sorted(out, key=lambda d: (-d.gap, d.item_id))
