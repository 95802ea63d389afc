"""A judge's meta-evaluation written by hand, for gates that need evidence (imported by name)."""

from __future__ import annotations

from judges._judge import judge_fingerprint
from judges.meta_eval._record import Confusion, Dataset, Interval, MetaEvalRecord, Variant


def evidence(judge: object, model: str, *, n: int = 80, kappa: tuple[float, float, float] = (0.7, 0.55, 0.82),
             accuracy: tuple[float, float, float] = (0.85, 0.77, 0.92), created: str = "2026-01-01T00:00:00+0000",
             name: str | None = None) -> MetaEvalRecord:
    """A meta-evaluation record of ``judge`` on ``model`` with the given agreement (value, low, high)."""
    headline = Variant(name="configured", description="by hand", n=n,
                       accuracy=Interval(value=accuracy[0], low=accuracy[1], high=accuracy[2], n=n),
                       agreement=Interval(value=kappa[0], low=kappa[1], high=kappa[2], n=n),
                       confusion=Confusion(labels=["A", "B", "tie"], counts=[[0] * 3] * 3))
    return MetaEvalRecord(created=created, judge=name or getattr(judge, "judge_name"), judge_kind="pairwise",  # noqa: B009 - judge: object
                          judge_fingerprint=judge_fingerprint(judge), judge_model=model, criterion="q",
                          dataset=Dataset(name="hand", kind="pairwise", sha256="0", rows=n, labelled=n, evaluated=n),
                          labels="preference", agreement_metric="cohen_kappa", n_labels=n, headline=headline)
