"""Per topic, over a window: volume and share against the model's reference, online judge quality with CIs,
errors, latency, review disagreement; topics ranked by where quality is worst and by what changed most.

Share changes are tested per topic against the topic model's reference shares (two-proportion z-test,
``drift.two_proportion_ztest``) with Holm's adjustment over topics at ``alpha``; quality per topic and
evaluator is the quality report's own bucket (mean with a bootstrap CI, fail rate with a Wilson CI).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from monitor.quality import Bucket, _bucket
from monitor.topics import OUTLIER, Candidate, TopicModel
from stats import holm

__all__ = ["TopicRow", "TopicsReport", "topics_report", "write_topics"]


@dataclass(frozen=True)
class TopicRow:
    """One topic in the window (``id`` -1: the outliers, inputs near no topic)."""

    id: int
    name: str
    keywords: tuple[str, ...]
    n: int
    share: float
    reference_share: float
    share_change: float  # share - reference_share
    share_pvalue: float | None  # Holm-adjusted over topics
    status: str  # "grew", "shrank", "ok", or "too little data" (fewer than 5 inputs seen and expected)
    quality: Mapping[str, Bucket]  # per evaluator, the window's verdicts on this topic's traces
    errors: int  # rows with a non-empty "error" column
    latency_p50_ms: float | None
    reviewed: int  # human labels on this topic's traces
    disagreed: int  # of those, labels whose pass/fail differs from the judge's
    examples: tuple[str, ...] = ()
    daily: Mapping[str, int] = field(default_factory=dict)  # inputs per UTC day of the window
    #: traces an evaluator failed (the first 200 of ``n_failing``): key, trace_id, span_id, prompt (the user's
    #: text), response, failed_by (evaluator names) and scores ({evaluator: score})
    failing: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)
    n_failing: int = 0
    keys: tuple[str, ...] = field(default=(), repr=False)  # the rows' trace keys (for exports and queues)

    @property
    def disagreement(self) -> float | None:
        return self.disagreed / self.reviewed if self.reviewed else None

    def worst_fail_low(self) -> float:
        """The largest lower CI bound of a fail rate over evaluators (how surely this topic fails), -1 if none."""
        lows = [b.fail_low for b in self.quality.values() if b.fail_low is not None]
        return max(lows) if lows else -1.0


@dataclass(frozen=True)
class TopicsReport:
    start: str
    end: str
    model_version: int
    n: int
    topics: tuple[TopicRow, ...]
    candidates: tuple[Candidate, ...]
    alpha: float
    #: per evaluator: its criterion, scale and pass threshold (what a review item of a failing trace needs)
    evaluators: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def outlier_share(self) -> float:
        return next((t.share for t in self.topics if t.id == OUTLIER), 0.0)

    def worst(self, k: int = 5) -> list[TopicRow]:
        """Topics ranked by how surely they fail (lower CI bound of the fail rate), then by volume."""
        rated = [t for t in self.topics if t.worst_fail_low() >= 0]
        return sorted(rated, key=lambda t: (-t.worst_fail_low(), -t.n))[:k]

    def changed(self, k: int = 5) -> list[TopicRow]:
        """Topics whose share moved significantly, largest move first."""
        return sorted((t for t in self.topics if t.status in ("grew", "shrank")),
                      key=lambda t: -abs(t.share_change))[:k]

    def lines(self, width: int = 120) -> list[str]:
        """The terminal table: one line per topic (largest first), then new-topic candidates."""
        head = (f"{'id':>4}  {'topic':<38} {'n':>6} {'share':>6} {'ref':>6} {'Δ':>7}    {'quality':<28} "
                f"{'p50 ms':>7}")
        out = [head[:width]]
        for t in sorted(self.topics, key=lambda t: (t.id == OUTLIER, -t.n)):
            q = "; ".join(_quality_cell(name, b) for name, b in t.quality.items() if b.n) or "-"
            flag = {"grew": "↑", "shrank": "↓"}.get(t.status, " ")
            lat = f"{t.latency_p50_ms:.0f}" if t.latency_p50_ms is not None else "-"
            tid = "-" if t.id == OUTLIER else str(t.id)
            out.append((f"{tid:>4}  {t.name[:38]:<38} {t.n:>6} {t.share:>6.1%} {t.reference_share:>6.1%} "
                        f"{t.share_change:>+7.1%} {flag}  {q[:28]:<28} {lat:>7}")[:width])
        for c in self.candidates:
            out.append(f" new  {c.name[:38]:<38} {c.size:>6} {c.share:>6.1%}  candidate new topic: "
                       f"e.g. {c.examples[0][:40]!r}"[:width])
        return out

    def line(self) -> str:
        """The one summary line (at most 120 columns; the table and the files have the rest)."""
        changed = self.changed(10_000)
        moved = [f"{t.name[:20]} {t.share_change:+.1%}" for t in changed[:2]]
        more = f" and {len(changed) - 2} more" if len(changed) > 2 else ""
        new = f", {len(self.candidates)} new-topic candidate(s)" if self.candidates else ""
        text = (f"topics: {len(self.topics) - (1 if any(t.id == OUTLIER for t in self.topics) else 0)} over "
                f"{self.n} inputs (v{self.model_version}), outliers {self.outlier_share:.1%}{new}"
                + (f"; moved: {', '.join(moved)}{more}" if moved else ""))
        return text if len(text) <= 120 else text[:119] + "…"

    def to_dict(self) -> dict[str, Any]:
        def row(t: TopicRow) -> dict[str, Any]:
            d = asdict(t)
            d.pop("keys")
            d["quality"] = {k: asdict(b) for k, b in t.quality.items()}
            d["disagreement"] = t.disagreement
            return d

        return {"start": self.start, "end": self.end, "model_version": self.model_version, "n": self.n,
                "alpha": self.alpha, "outlier_share": self.outlier_share, "evaluators": dict(self.evaluators), "topics": [row(t) for t in self.topics],
                "candidates": [{**{k: v for k, v in asdict(c).items() if k != "indices"}, "name": c.name}
                               for c in self.candidates],
                "worst": [t.id for t in self.worst()], "changed": [t.id for t in self.changed()]}


def _quality_cell(name: str, b: Bucket) -> str:
    fail = "" if b.fail_rate is None else f" fail {b.fail_rate:.0%}"
    return f"{name} {b.mean:.2f}{fail}" if b.mean is not None else f"{name} n/a"


def topics_report(model: TopicModel, rows: Sequence[Any], assigned: np.ndarray, *, start: str, end: str,
                  scores: Any = None, pass_at: Mapping[str, float] | None = None,
                  labels: Sequence[Any] = (), candidates: Sequence[Candidate] = (), alpha: float = 0.05,
                  evaluators: Sequence[Any] = ()) -> TopicsReport:
    """The report of ``rows`` (``monitor.sources.TraceRow``) assigned to ``model``'s topics.

    ``scores``: the scores table's frame (``key``, ``evaluator``, ``score``, ``failure``) over the window;
    ``pass_at``: each evaluator's pass threshold; ``labels``: the review store's ``LabelRecord`` objects;
    ``evaluators``: the monitor's ``EvaluatorConfig`` objects (their criteria and scales go into the report)."""
    from drift import two_proportion_ztest
    from tracing.production_log import user_text

    n = len(rows)
    by_topic: dict[int, list[int]] = {}
    for i, tid in enumerate(assigned.tolist()):
        by_topic.setdefault(int(tid), []).append(i)
    ids = [t.id for t in model.topics] + ([OUTLIER] if OUTLIER in by_topic or model.outlier_share else [])
    ref_n = max(model.n_fit, 1)
    raw_p: list[float] = []
    for tid in ids:
        ref_share = model.outlier_share if tid == OUTLIER else model.topic(tid).share
        k = len(by_topic.get(tid, ()))
        _, p = two_proportion_ztest(k, n, round(ref_share * ref_n), ref_n) if n else (0.0, 1.0)
        raw_p.append(1.0 if not math.isfinite(p) else p)
    adjusted = holm(raw_p).tolist() if raw_p else []
    key_topic = {rows[i].key: tid for tid, members in by_topic.items() for i in members}
    trace_topic = {rows[i].trace_id: tid for tid, members in by_topic.items() for i in members}
    reviewed: dict[int, int] = {}
    disagreed: dict[int, int] = {}
    for lab in labels:
        tid_or_none = key_topic.get(lab.span_id or "", trace_topic.get(lab.trace_id or ""))
        if tid_or_none is None or lab.score is None or lab.judge_score is None:
            continue
        evaluator = (lab.meta or {}).get("evaluator")
        cut = (pass_at or {}).get(str(evaluator), _middle(lab.scale))
        reviewed[tid_or_none] = reviewed.get(tid_or_none, 0) + 1
        if (lab.score >= cut) != (lab.judge_score >= cut):
            disagreed[tid_or_none] = disagreed.get(tid_or_none, 0) + 1
    out = []
    for tid, adj in zip(ids, adjusted, strict=True):
        members = by_topic.get(tid, [])
        keys = tuple(rows[i].key for i in members)
        share = len(members) / n if n else 0.0
        ref_share = model.outlier_share if tid == OUTLIER else model.topic(tid).share
        status = "ok" if adj >= alpha else ("grew" if share > ref_share else "shrank")
        if len(members) < 5 and ref_share * n < 5:
            status = "too little data"  # the z-test's normal approximation needs a few of each
        quality: dict[str, Bucket] = {}
        failed: dict[str, dict[str, float]] = {}
        if scores is not None and len(scores):
            mine = scores[scores["key"].isin(set(keys))]
            for ev in sorted((pass_at or {}).keys() or set(scores["evaluator"].unique())):
                cut = (pass_at or {}).get(ev, 0.5)
                theirs = mine[mine["evaluator"] == ev]
                quality[ev] = _bucket(start, theirs, cut)
                low = theirs[theirs["score"].notna() & (theirs["score"] < cut)]
                for key, score in zip(low["key"], low["score"], strict=True):
                    failed.setdefault(str(key), {})[ev] = float(score)
        failing_all = [{"key": rows[i].key, "trace_id": rows[i].trace_id, "span_id": rows[i].span_id,
                        "prompt": user_text(rows[i].prompt), "response": rows[i].response,
                        "failed_by": sorted(failed[rows[i].key]), "scores": failed[rows[i].key]}
                       for i in members if rows[i].key in failed]
        daily = Counter(rows[i].timestamp.date().isoformat() for i in members)
        lat = [float(v) for i in members if _finite(v := rows[i].value("latency_ms"))]
        errors = sum(1 for i in members if rows[i].value("error") not in (None, "", False))
        topic = None if tid == OUTLIER else model.topic(tid)
        out.append(TopicRow(
            id=tid, name=model.name_of(tid), keywords=topic.keywords if topic else (), n=len(members), share=share,
            reference_share=ref_share, share_change=share - ref_share, share_pvalue=adj, status=status,
            quality=quality, errors=errors, latency_p50_ms=float(np.median(lat)) if lat else None,
            reviewed=reviewed.get(tid, 0), disagreed=disagreed.get(tid, 0),
            examples=tuple(dict.fromkeys(user_text(rows[i].prompt) for i in members[:5])),
            daily=dict(sorted(daily.items())), failing=tuple(failing_all[:200]), n_failing=len(failing_all),
            keys=keys))
    described = {ev.name: {"criterion": ev.metric, "scale": [float(ev.scale[0]), float(ev.scale[1])],
                           "pass_at": float(ev.pass_at)} for ev in evaluators}
    return TopicsReport(start, end, model.version, n, tuple(out), tuple(candidates), alpha, described)


def _middle(scale: tuple[float, float] | None) -> float:
    return (scale[0] + scale[1]) / 2 if scale else 3.0


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


# -- files ---------------------------------------------------------------------------------------------------------

def write_topics(report: TopicsReport, folder: str | Path) -> dict[str, Path]:
    """``topics.json`` and ``topics.html`` in ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "topics.json", "html": out / "topics.html"}
    paths["json"].write_text(json.dumps(report.to_dict(), indent=1, default=str), encoding="utf-8")
    paths["html"].write_text(_html(report), encoding="utf-8")
    return paths


def _bar(share: float, ref: float, width: int = 160) -> str:
    w, r = round(share * width * 2), round(ref * width * 2)
    return (f'<svg width="{width}" height="14" role="img" aria-label="share {share:.1%}, reference {ref:.1%}">'
            f'<rect width="{min(w, width)}" height="14" fill="#4c78a8"/>'
            f'<line x1="{min(r, width)}" x2="{min(r, width)}" y1="0" y2="14" stroke="#e45756" stroke-width="2"/></svg>')


def _html(report: TopicsReport) -> str:
    rows = []
    for t in sorted(report.topics, key=lambda t: (t.id == OUTLIER, -t.n)):
        q = "<br>".join(escape(_quality_cell(k, b)) + (f" [{b.mean_low:.2f}, {b.mean_high:.2f}]"
                                                       if b.mean_low is not None else "")
                        for k, b in t.quality.items() if b.n) or "–"
        dis = f"{t.disagreed}/{t.reviewed}" if t.reviewed else "–"
        rows.append(
            f"<tr><td>{'' if t.id == OUTLIER else t.id}</td><td><b>{escape(t.name)}</b><br><small>"
            f"{escape(', '.join(t.keywords))}</small></td><td>{t.n}</td><td>{_bar(t.share, t.reference_share)} "
            f"{t.share:.1%} (ref {t.reference_share:.1%}, {escape(t.status)})</td><td>{q}</td><td>{t.errors}</td>"
            f"<td>{'' if t.latency_p50_ms is None else f'{t.latency_p50_ms:.0f}'}</td><td>{dis}</td>"
            f"<td><small>{'<br>'.join(escape(e[:120]) for e in t.examples[:3])}</small></td></tr>")
    cands = "".join(f"<li><b>{escape(c.name)}</b>: {c.size} inputs ({c.share:.1%}), e.g. "
                    f"{escape('; '.join(e[:100] for e in c.examples[:3]))}</li>" for c in report.candidates)
    return (
        "<!doctype html><meta charset='utf-8'><title>Topics</title>"
        "<style>body{font-family:sans-serif;margin:1.5em}td,th{border-bottom:1px solid #ddd;padding:4px;"
        "vertical-align:top;text-align:left}</style>"
        f"<h1>Topics</h1><p>{escape(report.line())}<br>window [{escape(report.start)}, {escape(report.end)}); "
        f"share changes tested against the model's reference (two-proportion z, Holm at α={report.alpha}). "
        "The bar is the window's share; the red line the reference share.</p>"
        + (f"<h2>Candidate new topics</h2><ul>{cands}</ul>" if cands else "")
        + "<table><tr><th>id</th><th>topic</th><th>n</th><th>share</th><th>judge quality</th><th>errors</th>"
          "<th>latency p50 ms</th><th>review disagreed</th><th>examples</th></tr>" + "".join(rows) + "</table>")
