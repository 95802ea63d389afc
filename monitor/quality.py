"""Quality over time from the scores table: the judge-score series, its tests, and the alerts.

Per evaluator and per time bucket (hour or day): the mean score with a bootstrap 95% CI
(``judges.stats.mean_ci``), the fail rate (score below the evaluator's pass threshold) and the
judge-failure rate (no verdict), each with a Wilson CI (``stats.wilson_interval``).

The current window is tested against the reference window before it, per evaluator and per slice
(``model``, ``topic``, ``language`` by default): mean score (Welch's t-test, ``stats.welch_pvalue``), fail rate (pooled
two-proportion z-test, ``drift.two_proportion_ztest``) and the score distribution (KS and PSI,
``drift.ks`` / ``drift.psi``). An evaluator alerts when its mean fell or its fail rate rose
significantly at ``alpha / number of evaluators`` (Bonferroni), or when its current CI lies wholly past
a configured bound; slices are reported as moved at Holm-adjusted ``alpha`` within their evaluator.
Fewer than ``min_n`` verdicts on either side is its own state, "too little data", never an alert.

An evaluator's status (``alert``, ``ok`` or ``too little data``) is decided once, in :func:`decide`; the
summary line, the ``all`` row of the comparison table and ``alerting`` all read that one status.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from monitor.config import EvaluatorConfig, QualityConfig
from stats import holm, welch_pvalue, wilson_interval

__all__ = ["Bucket", "EvaluatorQuality", "QualityComparison", "QualityReport", "quality_report", "write_quality"]


@dataclass(frozen=True)
class Bucket:
    """One hour or day of one evaluator's verdicts."""

    start: str
    n: int
    mean: float | None
    mean_low: float | None
    mean_high: float | None
    fail_rate: float | None
    fail_low: float | None
    fail_high: float | None
    judge_failures: int
    judge_failure_rate: float | None


@dataclass(frozen=True)
class QualityComparison:
    """Current window against the reference window, for an evaluator or one slice of it."""

    slice: str  # "all" or "topic=coding"
    n_reference: int
    n_current: int
    mean_reference: float | None
    mean_current: float | None
    mean_pvalue: float | None
    fail_reference: float | None
    fail_current: float | None
    fail_pvalue: float | None
    ks_pvalue: float | None
    psi: float | None
    status: str  # "ok", "too little data"; the evaluator's "all" row also "alert" (decide), a slice "moved"
    adjusted_pvalue: float | None = None


@dataclass(frozen=True)
class EvaluatorQuality:
    """Everything the report says about one evaluator."""

    evaluator: str
    criterion: str
    current: Bucket
    series: tuple[Bucket, ...]
    overall: QualityComparison
    slices: tuple[QualityComparison, ...]
    alerts: tuple[str, ...]
    agreement: dict[str, Any] | None = None

    @property
    def status(self) -> str:
        """``"alert"``, ``"ok"`` or ``"too little data"``: the one status :func:`decide` gave (the ``all`` row's)."""
        return self.overall.status

    @property
    def moved_slices(self) -> list[str]:
        return [c.slice for c in self.slices if c.status == "moved"]


@dataclass(frozen=True)
class QualityReport:
    """The judge-score report of one run; ``alerting`` is True when any evaluator alerts."""

    current_start: str
    until: str
    reference_start: str
    bucket: str
    evaluators: tuple[EvaluatorQuality, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def alerting(self) -> bool:
        return any(e.status == "alert" for e in self.evaluators)

    def line(self) -> str:
        """The one summary line of the quality step."""
        parts = []
        for e in self.evaluators:
            c = e.current
            mean = "n/a" if c.mean is None else f"{c.mean:.2f} [{c.mean_low:.2f}, {c.mean_high:.2f}]"
            fail = "n/a" if c.fail_rate is None else f"{c.fail_rate:.0%}"
            head = f"{e.evaluator} n={c.n} mean {mean} fail {fail} ({e.status})"
            if e.alerts:
                head += " ALERT: " + "; ".join(e.alerts)
            if e.moved_slices:
                head += " moved: " + ", ".join(e.moved_slices)
            parts.append(head)
        status = "ALERT" if self.alerting else "ok"
        return f"quality: {status} " + " | ".join(parts)


def _mean_ci(values: np.ndarray) -> tuple[float | None, float | None, float | None]:
    from judges.stats import mean_ci

    if values.size == 0:
        return None, None, None
    est = mean_ci(values, n_resamples=1000)
    return est.value, est.low, est.high


def _rate(x: int, n: int) -> tuple[float | None, float | None, float | None]:
    if n == 0:
        return None, None, None
    low, high = wilson_interval(x, n)
    return x / n, low, high


def _bucket(start: str, frame: Any, pass_at: float) -> Bucket:
    scores = frame["score"].dropna().to_numpy(dtype=np.float64)
    failures = int(frame["failure"].notna().sum())
    mean, lo, hi = _mean_ci(scores)
    fails = int((scores < pass_at).sum())
    fail, f_lo, f_hi = _rate(fails, scores.size)
    jf = failures / len(frame) if len(frame) else None
    return Bucket(start, int(scores.size), mean, lo, hi, fail, f_lo, f_hi, failures, jf)


def compare(name: str, ref: Any, cur: Any, pass_at: float, min_n: int) -> QualityComparison:
    """Current verdicts against reference verdicts (frames with a ``score`` column): the change tests."""
    from drift import LowPowerWarning, ks, psi, two_proportion_ztest

    r = ref["score"].dropna().to_numpy(dtype=np.float64)
    c = cur["score"].dropna().to_numpy(dtype=np.float64)
    mean_r = float(r.mean()) if r.size else None
    mean_c = float(c.mean()) if c.size else None
    fail_r = float((r < pass_at).mean()) if r.size else None
    fail_c = float((c < pass_at).mean()) if c.size else None
    if r.size < min_n or c.size < min_n:
        return QualityComparison(name, int(r.size), int(c.size), mean_r, mean_c, None, fail_r, fail_c, None, None, None,
                          "too little data")
    p_mean = welch_pvalue(r, c)
    _, p_fail = two_proportion_ztest(int((r < pass_at).sum()), r.size, int((c < pass_at).sum()), c.size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowPowerWarning)  # min_n decides power here, and says so
        p_ks = ks(r, c).pvalue
        psi_value = psi(r, c).statistic
    return QualityComparison(name, int(r.size), int(c.size), mean_r, mean_c, _finite(p_mean), fail_r, fail_c,
                      _finite(p_fail), _finite(p_ks), _finite(psi_value), "ok")


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def worse(c: QualityComparison, alpha: float) -> list[str]:
    """The significant changes for the worse in ``c`` at level ``alpha``."""
    out = []
    if c.mean_pvalue is not None and c.mean_pvalue < alpha and (c.mean_current or 0) < (c.mean_reference or 0):
        out.append(f"mean fell {c.mean_reference:.2f} -> {c.mean_current:.2f} (p={c.mean_pvalue:.2g})")
    if c.fail_pvalue is not None and c.fail_pvalue < alpha and (c.fail_current or 0) > (c.fail_reference or 0):
        out.append(f"fail rate rose {c.fail_reference:.0%} -> {c.fail_current:.0%} (p={c.fail_pvalue:.2g})")
    return out


def _slices(ev: EvaluatorConfig, ref: Any, cur: Any, q: QualityConfig) -> tuple[QualityComparison, ...]:
    found: list[QualityComparison] = []
    for column in q.slice_by:
        if column not in cur.columns or cur[column].nunique() < 2:
            continue  # one value: the slice is the whole evaluator
        for value in sorted(cur[column].dropna().unique(), key=str):
            found.append(compare(f"{column}={value}", ref[ref[column] == value], cur[cur[column] == value],
                                  ev.pass_at, q.min_n))
    tested = [i for i, c in enumerate(found) if c.status != "too little data"]
    # one p-value per slice: the smaller of its mean and fail-rate tests, doubled (Bonferroni over the two)
    raw = [min(1.0, 2 * min(found[i].mean_pvalue or 1.0, found[i].fail_pvalue or 1.0)) for i in tested]
    for i, adj in zip(tested, holm(raw).tolist() if raw else [], strict=True):
        moved = adj < q.alpha and bool(worse(found[i], 1.0))
        found[i] = dataclasses.replace(found[i], adjusted_pvalue=adj, status="moved" if moved else "ok")
    return tuple(found)


def decide(ev: EvaluatorConfig, overall: QualityComparison, current: Bucket, q: QualityConfig,
           alpha: float) -> tuple[QualityComparison, tuple[str, ...]]:
    """The evaluator's one status and its reasons: ``"alert"`` when the mean fell or the fail rate rose
    significantly at ``alpha`` (``on_change``), or the current CI lies wholly past a configured bound; else the
    change tests' ``"ok"`` / ``"too little data"``. Returns the ``all`` comparison carrying that status, and the
    alerts; the summary line, the table and ``QualityReport.alerting`` all read it from there."""
    alerts = []
    if ev.alert.on_change:
        alerts += worse(overall, alpha)
    if ev.alert.min_mean_score is not None and current.mean_high is not None \
            and current.n >= q.min_n and current.mean_high < ev.alert.min_mean_score:
        alerts.append(f"mean {current.mean:.2f} [CI high {current.mean_high:.2f}] < {ev.alert.min_mean_score:g}")
    if ev.alert.max_fail_rate is not None and current.fail_low is not None \
            and current.n >= q.min_n and current.fail_low > ev.alert.max_fail_rate:
        alerts.append(f"fail rate {current.fail_rate:.0%} [CI low {current.fail_low:.0%}] > "
                      f"{ev.alert.max_fail_rate:.0%}")
    status = "alert" if alerts else overall.status
    return dataclasses.replace(overall, status=status), tuple(alerts)


def _agreement(ev: EvaluatorConfig, labels: Sequence[Any] | None) -> dict[str, Any] | None:
    """Judge–human agreement over the review queue's labels of this evaluator's verdicts."""
    if labels is None:
        return None
    from review import criterion_agreement

    mine = [r for r in labels if (r.meta or {}).get("evaluator") == ev.name]
    if not mine:
        return {"n_items": 0}
    a = criterion_agreement(mine, ev.metric, scale=ev.scale, n_resamples=500)
    return {"n_items": a.n_items, "kappa_qw": _finite(a.kappa_qw), "kappa_ci": [_finite(x) for x in a.kappa_ci],
            "spearman_rho": _finite(a.spearman_rho), "spearman_p": _finite(a.spearman_p)}


def quality_report(scores: Any, evaluators: Sequence[EvaluatorConfig], q: QualityConfig, *, until: datetime,
                   labels: Sequence[Any] | None = None) -> QualityReport:
    """The report over a frame of the scores table holding at least ``[until - current - reference, until)``.

    ``labels`` are the review store's ``LabelRecord`` objects (for judge–human agreement), if any.
    """
    import pandas as pd

    cur_start = until - q.current
    ref_start = cur_start - q.reference
    frame = scores[(scores["timestamp"] >= ref_start) & (scores["timestamp"] < until)]
    alpha_ev = q.alpha / max(1, len(evaluators))
    freq = "h" if q.bucket == "1h" else "D"
    edges = pd.date_range(pd.Timestamp(ref_start).floor(freq), pd.Timestamp(until), freq=freq)
    out = []
    for ev in evaluators:
        mine = frame[frame["evaluator"] == ev.name]
        ref = mine[mine["timestamp"] < cur_start]
        cur = mine[mine["timestamp"] >= cur_start]
        floor = mine["timestamp"].dt.floor(freq)
        series = tuple(_bucket(edge.isoformat(), mine[floor == edge], ev.pass_at) for edge in edges)
        overall = compare("all", ref, cur, ev.pass_at, q.min_n)
        current = _bucket(pd.Timestamp(cur_start).isoformat(), cur, ev.pass_at)
        overall, alerts = decide(ev, overall, current, q, alpha_ev)
        out.append(EvaluatorQuality(ev.name, ev.metric, current, series, overall, _slices(ev, ref, cur, q),
                                    alerts, _agreement(ev, labels)))
    return QualityReport(pd.Timestamp(cur_start).isoformat(), pd.Timestamp(until).isoformat(),
                         pd.Timestamp(ref_start).isoformat(), q.bucket, tuple(out))


# ---------------------------------------------------------------------------------- files


def write_quality(report: QualityReport, folder: str | Path) -> dict[str, Path]:
    """``quality.json`` (for machines) and ``quality.html`` (self-contained, inline SVG) in ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = {"alerting": report.alerting, **asdict(report)}
    for ev, e in zip(data["evaluators"], report.evaluators, strict=True):
        ev["status"] = e.status
        ev["moved_slices"] = e.moved_slices
    paths = {"quality_json": folder / "quality.json", "quality_html": folder / "quality.html"}
    paths["quality_json"].write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    paths["quality_html"].write_text(_html(report), encoding="utf-8")
    return paths


def _fmt(x: float | None, pattern: str = "{:.2f}") -> str:
    return "–" if x is None else pattern.format(x)


def when(t: Any) -> str:
    """A time as printed: ISO 8601 to the second (``2026-01-31T14:05:09+00:00``), never microseconds."""
    import pandas as pd

    return pd.Timestamp(t).isoformat(timespec="seconds")


def _svg(series: Sequence[Bucket], width: int = 640, height: int = 120) -> str:
    # (bucket index, mean, CI low, CI high) of the buckets that have a mean; a CI bound missing is the mean
    pts = [(i, b.mean, b.mean if b.mean_low is None else b.mean_low, b.mean if b.mean_high is None else b.mean_high)
           for i, b in enumerate(series) if b.mean is not None]
    if not pts:
        return "<p>no verdicts in this range</p>"
    lo, hi = min(p[2] for p in pts), max(p[3] for p in pts)
    span = (hi - lo) or 1.0

    def xy(i: int, v: float) -> str:
        # one bucket sits in the middle; several spread from edge to edge
        x = width / 2 if len(series) == 1 else 10 + (width - 20) * (i / (len(series) - 1))
        return f"{x:.1f},{height - 10 - (height - 20) * (v - lo) / span:.1f}"

    if len(pts) == 1:  # a line needs two points: the one mean is a dot, its CI a bar
        i, mean, low, high = pts[0]
        (x, top), (_, bottom), (_, y) = (xy(i, v).split(",") for v in (high, low, mean))
        marks = (f'<line x1="{x}" y1="{top}" x2="{x}" y2="{bottom}" stroke="#9cc2e8" stroke-width="6"/>'
                 f'<circle cx="{x}" cy="{y}" r="4" fill="#1f5f99"/>')
    else:
        band = [xy(i, high) for i, _, _, high in pts] + [xy(i, low) for i, _, low, _ in reversed(pts)]
        marks = (f'<polygon points="{" ".join(band)}" fill="#cfe3f7"/><polyline points="'
                 f'{" ".join(xy(i, mean) for i, mean, _, _ in pts)}" fill="none" stroke="#1f5f99" stroke-width="2"/>')
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="mean score with 95% CI">{marks}'
            f'<text x="2" y="12" font-size="10">{hi:.2f}</text>'
            f'<text x="2" y="{height - 2}" font-size="10">{lo:.2f}</text></svg>')


def _agreement_html(a: dict[str, Any]) -> str:
    """Judge–human agreement as a table (quadratic-weighted kappa with its CI, Spearman's rho)."""
    if not a.get("n_items"):
        return "<p>agreement with human labels: no labelled verdicts of this evaluator yet</p>"
    ci = a.get("kappa_ci") or [None, None]
    rows = [("labelled verdicts", str(a["n_items"])),
            ("quadratic-weighted kappa [95% CI]", f"{_fmt(a.get('kappa_qw'))} [{_fmt(ci[0])}, {_fmt(ci[1])}]"),
            ("Spearman's rho (p)", f"{_fmt(a.get('spearman_rho'))} ({_fmt(a.get('spearman_p'), '{:.3g}')})")]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table class='agreement'><caption>agreement with human labels</caption>{body}</table>"


def _html(report: QualityReport) -> str:
    parts = [f"<h1>Online judge quality {'— ALERT' if report.alerting else ''}</h1>",
             (f"<p>current [{when(report.current_start)}, {when(report.until)}) against reference "
              f"[{when(report.reference_start)}, {when(report.current_start)}); buckets of {report.bucket}</p>")]
    for e in report.evaluators:
        parts.append(f"<h2>{escape(e.evaluator)} ({escape(e.criterion)}): {escape(e.status)}</h2>")
        for a in e.alerts:
            parts.append(f'<p class="alert">ALERT: {escape(a)}</p>')
        parts.append(_svg(e.series))
        rows = "".join(
            f"<tr><td>{when(b.start)}</td><td>{b.n}</td><td>{_fmt(b.mean)} [{_fmt(b.mean_low)}, "
            f"{_fmt(b.mean_high)}]</td><td>{_fmt(b.fail_rate, '{:.0%}')} [{_fmt(b.fail_low, '{:.0%}')}, "
            f"{_fmt(b.fail_high, '{:.0%}')}]</td><td>{b.judge_failures}</td></tr>"
            for b in e.series if b.n or b.judge_failures)
        parts.append("<table><tr><th>bucket</th><th>n</th><th>mean [95% CI]</th><th>fail rate [95% CI]</th>"
                     f"<th>judge failures</th></tr>{rows}</table>")
        comps = "".join(
            f"<tr><td>{escape(c.slice)}</td><td>{c.n_reference}/{c.n_current}</td><td>{_fmt(c.mean_reference)} → "
            f"{_fmt(c.mean_current)}</td><td>{_fmt(c.mean_pvalue, '{:.3g}')}</td><td>{_fmt(c.fail_reference, '{:.0%}')}"
            f" → {_fmt(c.fail_current, '{:.0%}')}</td><td>{_fmt(c.fail_pvalue, '{:.3g}')}</td>"
            f"<td>{_fmt(c.ks_pvalue, '{:.3g}')}</td><td>{_fmt(c.psi, '{:.3f}')}</td><td>{escape(c.status)}</td></tr>"
            for c in (e.overall, *e.slices))
        parts.append("<table><tr><th>slice</th><th>n ref/cur</th><th>mean</th><th>p (Welch)</th><th>fail rate</th>"
                     f"<th>p (z)</th><th>KS p</th><th>PSI</th><th>status</th></tr>{comps}</table>")
        if e.agreement:
            parts.append(_agreement_html(e.agreement))
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}.alert{color:#a00;font-weight:bold}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>online judge quality</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
