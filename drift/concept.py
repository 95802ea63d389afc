"""Concept drift from labels: pass rate (and judge accuracy/precision/recall against human labels)
per window, with Wilson confidence intervals and a two-proportion z-test against the reference."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import ConfigError


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927); ``(nan, nan)`` when ``n == 0``."""
    from scipy.stats import norm

    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1), got {confidence!r}")
    if n == 0:
        return float("nan"), float("nan")
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


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


def concept_drift(reference: Any, windows: list[Any], *, label_col: str = "label", score_col: str = "judge_score",
                  pass_threshold: float = 0.5, alpha: float = 0.05, confidence: float = 0.95) -> list[ConceptWindow]:
    """Per window: human pass rate, and judge accuracy/precision/recall when judge scores exist,
    each with a Wilson CI and a two-proportion z-test against the same metric on ``reference``.
    Rows without a label are ignored; ``windows`` are :class:`drift.windows.Window` objects."""
    y_ref, j_ref = _labels(reference, label_col, score_col, pass_threshold)
    ref = _metrics(y_ref, j_ref)
    out = []
    for w in windows:
        y, j = _labels(w.frame, label_col, score_col, pass_threshold)
        cur = _metrics(y, j)
        props: dict[str, Proportion | None] = {}
        for name in ("pass_rate", "accuracy", "precision", "recall"):
            if name in cur and name in ref and ref[name][1] > 0 and cur[name][1] > 0:
                props[name] = _prop(*cur[name], *ref[name], alpha, confidence)
            else:
                props[name] = None
        out.append(ConceptWindow(w.label, int(y.size), props["pass_rate"], props["accuracy"],
                                 props["precision"], props["recall"]))
    return out
