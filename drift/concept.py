"""Concept drift from labels: pass rate (and judge accuracy/precision/recall against human labels)
per window, with Wilson confidence intervals and a two-proportion z-test against the reference."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stats import wilson_interval  # the harness's one Wilson interval (re-exported as drift.wilson_interval)

__all__ = ["ConceptWindow", "Proportion", "concept_drift", "concept_metrics", "concept_windows",
           "two_proportion_ztest", "wilson_interval"]


def two_proportion_ztest(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    """Pooled two-sided z-test of ``x1/n1 == x2/n2``; returns ``(z, pvalue)``."""
    from scipy.stats import norm

    if n1 == 0 or n2 == 0:
        return float("nan"), float("nan")
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0  # both samples all-pass or all-fail: no evidence of change
    z = (x2 / n2 - x1 / n1) / se
    return z, float(2 * norm.sf(abs(z)))


@dataclass(frozen=True)
class Proportion:
    """A proportion with its Wilson CI and the test against the reference proportion."""

    successes: int
    n: int
    value: float
    ci_low: float
    ci_high: float
    z: float
    pvalue: float
    changed: bool


@dataclass(frozen=True)
class ConceptWindow:
    """Label-based quality of one window. ``pass_rate`` is the share of human labels equal to 1;
    ``accuracy``/``precision``/``recall`` compare the judge's pass (score >= threshold) with them."""

    label: str
    n_labeled: int
    pass_rate: Proportion | None
    accuracy: Proportion | None
    precision: Proportion | None
    recall: Proportion | None


def _labels(frame: Any, label_col: str, score_col: str,
            pass_threshold: float) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Human pass labels, and (labels, judge verdicts) on the rows that also have a judge score."""
    if label_col not in frame.columns:
        return np.array([], dtype=bool), None
    lab = frame[label_col].to_numpy(dtype=np.float64)
    keep = np.isfinite(lab)
    y = lab[keep] >= 0.5
    if score_col in frame.columns:
        s = frame[score_col].to_numpy(dtype=np.float64)[keep]
        ok = np.isfinite(s)
        if ok.any():
            return y, (y[ok], s[ok] >= pass_threshold)
    return y, None


def _prop(x: int, n: int, x_ref: int, n_ref: int, alpha: float, confidence: float) -> Proportion | None:
    if n == 0:
        return None
    lo, hi = wilson_interval(x, n, confidence)
    z, p = two_proportion_ztest(x_ref, n_ref, x, n)
    return Proportion(x, n, x / n, lo, hi, z, p, bool(p < alpha))


def _metrics(y: np.ndarray, judged: tuple[np.ndarray, np.ndarray] | None) -> dict[str, tuple[int, int]]:
    out = {"pass_rate": (int(y.sum()), int(y.size))}
    if judged is not None:
        yj, j = judged
        out["accuracy"] = (int((yj == j).sum()), int(yj.size))
        out["precision"] = (int((yj & j).sum()), int(j.sum()))
        out["recall"] = (int((yj & j).sum()), int(yj.sum()))
    return out


def concept_metrics(frame: Any, label_col: str, score_col: str, pass_threshold: float) -> dict[str, tuple[int, int]]:
    """Counts behind the label panel of one frame: (successes, n) of pass rate, judge accuracy, precision and
    recall."""
    y, judged = _labels(frame, label_col, score_col, pass_threshold)
    return _metrics(y, judged)


def concept_windows(reference: Mapping[str, tuple[int, int]], windows: Sequence[tuple[str, Mapping[str, tuple[int, int]]]],
                    *, alpha: float = 0.05, confidence: float = 0.95) -> list[ConceptWindow]:
    """:func:`concept_drift` from counts (:func:`concept_metrics`): one :class:`ConceptWindow` per
    ``(label, metrics)``, as a stored profile and the Spark engine have them."""
    out = []
    for label, cur in windows:
        props: dict[str, Proportion | None] = {}
        for name in ("pass_rate", "accuracy", "precision", "recall"):
            if name in cur and name in reference and reference[name][1] > 0 and cur[name][1] > 0:
                props[name] = _prop(*cur[name], *reference[name], alpha, confidence)
            else:
                props[name] = None
        out.append(ConceptWindow(label, int(cur.get("pass_rate", (0, 0))[1]), props["pass_rate"], props["accuracy"],
                                 props["precision"], props["recall"]))
    return out


def concept_drift(reference: Any, windows: list[Any], *, label_col: str = "label", score_col: str = "judge_score",
                  pass_threshold: float = 0.5, alpha: float = 0.05, confidence: float = 0.95) -> list[ConceptWindow]:
    """Per window: human pass rate, and judge accuracy/precision/recall when judge scores exist,
    each with a Wilson CI and a two-proportion z-test against the same metric on ``reference``.
    Rows without a label are ignored; ``windows`` are :class:`drift.windows.Window` objects."""
    ref = concept_metrics(reference, label_col, score_col, pass_threshold)
    return concept_windows(ref, [(w.label, concept_metrics(w.frame, label_col, score_col, pass_threshold))
                                 for w in windows], alpha=alpha, confidence=confidence)
