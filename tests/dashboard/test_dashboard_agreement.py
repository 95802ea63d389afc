"""Agreement figures against scikit-learn/scipy (Krippendorff's alpha itself: tests/judges/test_krippendorff.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps
from sklearn.metrics import cohen_kappa_score

from judges.stats import krippendorff_alpha
from review import criterion_agreement, disagreements
from review.models import LabelRecord


def _rec(item: int, reviewer: str, score: float, judge: float | None) -> LabelRecord:
    return LabelRecord(
        item_id=item,
        queue="calibration",
        source_id=f"s{item}",
        criterion="helpfulness",
        reviewer=reviewer,
        kind="label",
        score=score,
        category=None,
        note="",
        created=0.0,
        judge_score=judge,
        input=f"in {item}",
        output=f"out {item}",
        context=None,
        expected=None,
        trace_id=None,
        span_id=None,
    )


def test_criterion_agreement_against_reference_libraries() -> None:
    rng = np.random.default_rng(7)
    human_a = rng.integers(1, 6, size=60)
    human_b = np.clip(human_a + rng.integers(-1, 2, size=60), 1, 5)
    judge = np.clip(human_a + rng.integers(-2, 3, size=60), 1, 5)
    records = [_rec(i, "ann", float(a), float(j)) for i, (a, j) in enumerate(zip(human_a, judge))]
    records += [_rec(i, "ben", float(b), float(j)) for i, (b, j) in enumerate(zip(human_b, judge)) if i < 40]
    rep = criterion_agreement(records, "helpfulness", scale=(1, 5), n_resamples=300)

    mean = np.array([(a + b) / 2 if i < 40 else a for i, (a, b) in enumerate(zip(human_a, human_b))])
    rounded = [round(x) for x in mean]
    expected_kappa = cohen_kappa_score(rounded, judge, weights="quadratic", labels=[1, 2, 3, 4, 5])
    assert rep.kappa_qw == pytest.approx(expected_kappa)
    assert rep.kappa_ci[0] < rep.kappa_qw < rep.kappa_ci[1]
    assert rep.spearman_rho == pytest.approx(sps.spearmanr(mean, judge).statistic)
    assert rep.n_items == 60 and rep.n_multi == 40
    assert rep.confusion.sum() == 60 and rep.confusion.shape == (5, 5)
    assert rep.confusion[0].sum() == rounded.count(1)  # rows are human
    assert rep.alpha == pytest.approx(krippendorff_alpha([human_a[:40], human_b[:40]], metric="interval"))
    assert rep.pairwise_kappa == pytest.approx(
        cohen_kappa_score(human_a[:40], human_b[:40], weights="quadratic", labels=[1, 2, 3, 4, 5])
    )


def test_flags_and_unscored_labels_are_left_out() -> None:
    recs = [_rec(1, "ann", 4, 4), _rec(2, "ann", 2, 5)]
    flag = LabelRecord(**{**_rec(3, "ann", 1, 1).__dict__, "kind": "flag", "score": None})
    rep = criterion_agreement([*recs, flag], "helpfulness", scale=(1, 5), n_resamples=50)
    assert rep.n_items == 2


def test_disagreements_sorted_by_gap() -> None:
    recs = [_rec(1, "ann", 4, 4), _rec(2, "ann", 1, 5), _rec(3, "ann", 2, 3), _rec(3, "ben", 5, 3)]
    rows = disagreements(recs, "helpfulness", min_gap=1.0)
    assert [(d.item_id, d.gap, d.why) for d in rows] == [
        (2, 4.0, "judge vs humans"),
        (3, 3.0, "reviewers disagree"),
    ]
