"""Topics page: what production traffic is about, topic by topic, from the newest topics report.

It reads one file, the report ``python -m monitor topics report`` writes (``topics.json``), named by
``EVALHARNESS_TOPICS_REPORT`` (``--topics-report``; the file or the folder holding it). The path is the
server's configuration, never typed on the page; a missing, unreadable or malformed file is named with the
command that writes it, and its content is never shown in the message. Every string the report carries
(topic names, keywords, evaluator names, prompts, responses) came from production traffic: it is shown as
plain text, in a table cell, escaped with ``_ui.md``, or drawn as text in a chart, never as Markdown or HTML.

Admins send a topic's failing traces to the escalation queue: one production item per trace, built by
:func:`review.fill.production_item` (``prod:<trace id>``, the audit sample's identity), so sending twice, or a
trace the audit sample already queued under the same criterion in that queue, adds nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import _ui
from review.fill import production_item
from review.models import NewItem

COMMAND = "python -m monitor topics report --config monitor.toml --out reports/monitor/topics"
MAX_BYTES = 64 * 1024 * 1024  # a report of 200 failing traces per topic is a few MB
QUEUE = "escalation"
OUTLIER = -1


class BadReport(ValueError):
    """The file is not a topics report; the message names the field, never the file's content."""


# ---------------------------------------------------------------- the report, read and checked


@dataclass(frozen=True)
class Quality:
    n: int
    mean: float | None
    mean_low: float | None
    mean_high: float | None
    fail_rate: float | None
    fail_low: float | None
    fail_high: float | None


@dataclass(frozen=True)
class Failing:
    key: str
    trace_id: str | None
    span_id: str | None
    prompt: str
    response: str
    failed_by: tuple[str, ...]
    scores: Mapping[str, float] = field(default_factory=dict)  # {evaluator: its score}


@dataclass(frozen=True)
class Topic:
    id: int
    name: str
    keywords: tuple[str, ...]
    n: int
    share: float
    reference_share: float
    share_change: float
    share_pvalue: float | None
    status: str
    quality: dict[str, Quality]
    errors: int
    latency_p50_ms: float | None
    reviewed: int
    disagreed: int
    examples: tuple[str, ...]
    daily: dict[str, int]
    failing: tuple[Failing, ...] = field(repr=False)

    @property
    def label(self) -> str:
        """The topic as a chart's axis names it: unique even when two topics share a name."""
        return "outliers" if self.id == OUTLIER else f"{self.name} (#{self.id})"


@dataclass(frozen=True)
class Candidate:
    name: str
    size: int
    share: float
    keywords: tuple[str, ...]
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Report:
    start: str
    end: str
    model_version: int
    n: int
    alpha: float | None
    outlier_share: float
    topics: tuple[Topic, ...]
    candidates: tuple[Candidate, ...]
    worst: tuple[int, ...]
    changed: tuple[int, ...]
    #: {evaluator: {"criterion", "scale", "pass_at"}} (reports of a monitor config; none from a bare log)
    evaluators: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _need(d: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(d, dict) or name not in d:
        raise BadReport(f"{where} has no {name!r}")
    value = d[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        raise BadReport(f"{where}: {name!r} is not {_kind_name(kind)}")
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    return " or ".join(k.__name__ for k in _kinds(kind))


def _num(d: Any, name: str, where: str, *, optional: bool = False) -> float | None:
    value = d.get(name) if isinstance(d, dict) else None
    if value is None and optional:
        return None
    number = _need(d, name, (int, float), where)
    if not math.isfinite(number):
        raise BadReport(f"{where}: {name!r} is not a finite number")
    return float(number)


def _int(d: Any, name: str, where: str) -> int:
    return int(_need(d, name, int, where))


def _count(d: Any, name: str, where: str) -> int:
    """An optional count (0 when absent or null)."""
    return 0 if not isinstance(d, dict) or d.get(name) is None else _int(d, name, where)


def _texts(d: Any, name: str, where: str) -> tuple[str, ...]:
    values = d.get(name, []) if isinstance(d, dict) else []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadReport(f"{where}: {name!r} is not a list of texts")
    return tuple(values)


def _quality(d: Any, where: str) -> Quality:
    return Quality(
        n=_int(d, "n", where),
        **{k: _num(d, k, where, optional=True)
           for k in ("mean", "mean_low", "mean_high", "fail_rate", "fail_low", "fail_high")},
    )


def _failing(d: Any, where: str) -> Failing:
    ids = {k: d.get(k) if isinstance(d, dict) else None for k in ("trace_id", "span_id")}
    if not all(v is None or isinstance(v, str) for v in ids.values()):
        raise BadReport(f"{where}: trace_id and span_id must be texts")
    return Failing(
        key=str(_need(d, "key", str, where)),
        trace_id=ids["trace_id"],
        span_id=ids["span_id"],
        prompt=_need(d, "prompt", str, where),
        response=_need(d, "response", str, where),
        failed_by=_texts(d, "failed_by", where),
        scores={str(k): float(v) for k, v in (d.get("scores") or {}).items()
                if isinstance(v, int | float) and not isinstance(v, bool)},
    )


def _topic(d: Any, i: int) -> Topic:
    where = f"topics[{i}]"
    tid = _int(d, "id", where)
    quality = d.get("quality") or {}
    daily = d.get("daily") or {}
    failing = d.get("failing") or []
    if not isinstance(quality, dict):
        raise BadReport(f"{where}: 'quality' is not a mapping of evaluators")
    if not isinstance(daily, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in daily.values()
    ):
        raise BadReport(f"{where}: 'daily' is not a mapping of days to counts")
    if not isinstance(failing, list):
        raise BadReport(f"{where}: 'failing' is not a list")
    status = _need(d, "status", str, where)
    return Topic(
        id=tid,
        name=_need(d, "name", str, where),
        keywords=_texts(d, "keywords", where),
        n=_int(d, "n", where),
        share=_num(d, "share", where) or 0.0,
        reference_share=_num(d, "reference_share", where) or 0.0,
        share_change=_num(d, "share_change", where) or 0.0,
        share_pvalue=_num(d, "share_pvalue", where, optional=True),
        status=status,
        quality={str(k): _quality(v, f"{where}.quality") for k, v in quality.items()},
        errors=_count(d, "errors", where),
        latency_p50_ms=_num(d, "latency_p50_ms", where, optional=True),
        reviewed=_count(d, "reviewed", where),
        disagreed=_count(d, "disagreed", where),
        examples=_texts(d, "examples", where),
        daily={str(k): int(v) for k, v in sorted(daily.items())},
        failing=tuple(_failing(f, f"{where}.failing[{j}]") for j, f in enumerate(failing)),
    )


def _candidate(d: Any, i: int) -> Candidate:
    where = f"candidates[{i}]"
    keywords = _texts(d, "keywords", where)
    name = d.get("name") if isinstance(d, dict) else None
    return Candidate(
        # the model's own rule (monitor.topics.Candidate.name): the report may leave the name out
        name=name if isinstance(name, str) and name else (" / ".join(keywords[:3]) or "new topic"),
        size=_int(d, "size", where),
        share=_num(d, "share", where) or 0.0,
        keywords=keywords,
        examples=_texts(d, "examples", where),
    )


def parse_report(data: Any) -> Report:
    """The report, checked field by field (:class:`BadReport` names the first field that is wrong)."""
    if not isinstance(data, dict):
        raise BadReport("the file is not a JSON object")
    topics = _need(data, "topics", list, "the report")
    candidates = data.get("candidates") or []
    if not isinstance(candidates, list):
        raise BadReport("the report: 'candidates' is not a list")
    parsed = tuple(_topic(t, i) for i, t in enumerate(topics))
    outliers = next((t.share for t in parsed if t.id == OUTLIER), 0.0)
    return Report(
        start=str(data.get("start") or ""),
        end=str(data.get("end") or ""),
        model_version=_count(data, "model_version", "the report"),
        n=_int(data, "n", "the report"),
        alpha=_num(data, "alpha", "the report", optional=True),
        outlier_share=_num(data, "outlier_share", "the report", optional=True) or outliers,
        topics=parsed,
        candidates=tuple(_candidate(c, i) for i, c in enumerate(candidates)),
        worst=_ids(data, "worst"),
        changed=_ids(data, "changed"),
        evaluators=data["evaluators"] if isinstance(data.get("evaluators"), dict) else {},
    )


def _ids(data: dict[str, Any], name: str) -> tuple[int, ...]:
    values = data.get(name) or []
    if not isinstance(values, list):
        raise BadReport(f"the report: {name!r} is not a list of topic ids")
    return tuple(x for x in values if isinstance(x, int) and not isinstance(x, bool))


@st.cache_data(show_spinner=False, max_entries=8)
def _read(path: str, mtime_ns: int, size: int) -> Any:
    # Keyed by the file's stat: a rewritten report is read again.
    with open(path, "rb") as fh:
        return json.loads(fh.read(MAX_BYTES + 1).decode("utf-8"))


def report_file(configured: Path) -> Path:
    """The configured report: the file itself, or ``topics.json`` in the configured folder."""
    return configured / "topics.json" if configured.is_dir() else configured


def load(configured: Path) -> Report | str:
    """The report, or why there is none: a sentence naming the path (never quoting the file)."""
    path = report_file(configured)
    try:
        stat = path.stat()
    except OSError:
        return f"No topics report at {path}."
    if not path.is_file():
        return f"The topics report {path} is not a file."
    if stat.st_size > MAX_BYTES:
        return f"The topics report {path} is larger than {MAX_BYTES // 2**20} MiB; it was not read."
    try:
        data = _read(str(path), stat.st_mtime_ns, stat.st_size)
    except (OSError, UnicodeDecodeError):
        return f"The topics report {path} could not be read."
    except json.JSONDecodeError as exc:  # the position only: the message quotes nothing of the file
        return f"The topics report {path} is not valid JSON (line {exc.lineno}, column {exc.colno})."
    try:
        return parse_report(data)
    except BadReport as exc:
        return f"{path} is not a topics report: {exc}."


# ---------------------------------------------------------------- the review items


def review_item(topic: Topic, failing: Failing, report: Report, phoenix_url: str | None) -> NewItem:
    """One escalation item of a topic's failing trace: the audit sample's production item (``prod:<trace id>``)."""
    # A log without tracing names a call by a hash of the row ("row-..."): no trace to link or annotate.
    trace = failing.trace_id if failing.trace_id and not failing.trace_id.startswith("row-") else None
    row = {"prompt": failing.prompt, "response": failing.response, "trace_id": trace, "span_id": failing.span_id}
    # judged on the criterion of the evaluator that scored it lowest, with that verdict as the judge's score, so the
    # human label counts in that evaluator's judge-human agreement (and the topic's review disagreement)
    worst = min(failing.scores, key=lambda ev: failing.scores[ev]) if failing.scores else None
    spec = report.evaluators.get(worst or "", {})
    scale = spec.get("scale")
    extra = {"evaluator": worst} if worst is not None and spec else {}
    item = production_item(
        row,
        queue=QUEUE,
        key=failing.key,
        criterion=str(spec.get("criterion") or "overall"),
        scale=(float(scale[0]), float(scale[1])) if isinstance(scale, list) and len(scale) == 2 else (1, 5),
        reason=f"topic {topic.name} (#{topic.id}): failed by {', '.join(failing.failed_by) or 'an evaluator'}",
        priority=float(len(failing.failed_by)),
        meta={
            "source": "topics",
            "topic_id": topic.id,
            "topic_name": topic.name,
            "failed_by": list(failing.failed_by),
            "key": failing.key,
            "window": [report.start, report.end],
            "model_version": report.model_version,
            **extra,
        },
        phoenix_url=phoenix_url,
    )
    return replace(item, judge_score=failing.scores[worst]) if worst is not None and spec else item


# ---------------------------------------------------------------- formatting


def _pct(x: float | None, signed: bool = False) -> str:
    return "-" if x is None else (f"{x:+.1%}" if signed else f"{x:.1%}")


def _ci(value: float | None, low: float | None, high: float | None, pct: bool = False) -> str:
    if value is None:
        return "-"
    f = (lambda v: f"{v:.0%}") if pct else (lambda v: f"{v:.2f}")
    return f(value) + ("" if low is None or high is None else f" [{f(low)}, {f(high)}]")


def _status(t: Topic) -> str:
    return {"grew": "↑ grew", "shrank": "↓ shrank"}.get(t.status, _ui.plain(t.status))


def _day(stamp: str) -> str:
    return stamp[:10]


def _window(r: Report) -> str:
    days = sorted({d for t in r.topics for d in t.daily})
    seen = f"traffic from {days[0]} to {days[-1]}" if days else "no dated traffic"
    # A whole log is reported over [1970, 9999): say what the data covers instead of those bounds.
    if r.start.startswith("1970-01-01") or r.end.startswith("9999-"):
        return f"the whole source ({seen})"
    return f"[{_day(r.start)}, {_day(r.end)}) ({seen})"


def _chart_text(value: object) -> str:
    # Vega-Lite draws strings as SVG or canvas text and HTML-escapes its tooltips: never HTML, never Markdown.
    # Traffic's words go in as plain text, bidi controls neutralised.
    return _ui.plain(value)


# ---------------------------------------------------------------- the page

user = _ui.require_user()
cfg = _ui.config()
st.title("Topics")

loaded = load(cfg.topics_report)
if isinstance(loaded, str):
    st.warning(_ui.md(loaded))
    st.markdown("The monitor writes the report (`topics.json`, beside `topics.html`) with:")
    st.code(COMMAND, language="bash")
    st.caption("The page reads the file (or folder) EVALHARNESS_TOPICS_REPORT names, or python -m dashboard "
               "serve --topics-report; default reports/monitor/topics/topics.json.")
    st.stop()
report: Report = loaded

known = [t for t in report.topics if t.id != OUTLIER]
m = st.columns(5)
m[0].metric("Inputs", f"{report.n:,}")
m[1].metric("Topics", len(known))
m[2].metric("Outliers", _pct(report.outlier_share), help="inputs near no known topic")
m[3].metric("Moved", sum(1 for t in report.topics if t.status != "ok"),
            help="topics whose share changed significantly against the model's reference (Holm-adjusted)")
m[4].metric("Candidate new topics", len(report.candidates), help="dense groups among the outliers")
alpha = f" at α={report.alpha:g}" if report.alpha is not None else ""
st.caption(
    f"Topic model v{report.model_version}; window: {_ui.md(_window(report))}. Share changes are tested against "
    f"the model's reference shares (two-proportion z-test, Holm-adjusted over topics{alpha}). Quality: the "
    "online judges' verdicts on the topic's traces, mean with its 95% bootstrap CI and fail rate with its "
    "Wilson CI."
)

ordered = sorted(report.topics, key=lambda t: (t.id == OUTLIER, -t.n, t.id))
evaluators = sorted({ev for t in report.topics for ev in t.quality})


def _row(t: Topic) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": "" if t.id == OUTLIER else str(t.id),
        "topic": _ui.plain(t.name),
        "keywords": _ui.plain(", ".join(t.keywords)),
        "n": t.n,
        "share": t.share,
        "reference": t.reference_share,
        "Δ (pts)": 100 * t.share_change,
        "status": _status(t),
        "p (Holm)": t.share_pvalue,
    }
    for ev in evaluators:
        q = t.quality.get(ev)
        row[f"{_ui.plain(ev)} mean"] = "-" if q is None or not q.n else _ci(q.mean, q.mean_low, q.mean_high)
        row[f"{_ui.plain(ev)} fail"] = "-" if q is None or not q.n else _ci(
            q.fail_rate, q.fail_low, q.fail_high, pct=True)
    row["errors"] = t.errors
    row["latency p50 ms"] = t.latency_p50_ms
    row["review disagreed"] = f"{t.disagreed}/{t.reviewed} ({t.disagreed / t.reviewed:.0%})" if t.reviewed else "-"
    return row


number = st.column_config.NumberColumn
st.dataframe(
    pd.DataFrame([_row(t) for t in ordered]),
    hide_index=True,
    key="topics_table",
    width="stretch",
    column_config={
        "share": number(format="percent", help="this window's share of inputs"),
        "reference": number(format="percent", help="the share when the topic model was fitted"),
        "Δ (pts)": number(format="%+.1f", help="share − reference share, in percentage points"),
        "p (Holm)": number(format="%.3g"),
        "latency p50 ms": number(format="%.0f"),
        "review disagreed": st.column_config.TextColumn(
            help="human labels whose pass/fail differs from the judge's, of the labels on this topic's traces"),
    },
)

st.subheader("Share of traffic: this window against the reference")
charted = sorted((t for t in report.topics if t.share or t.reference_share), key=lambda t: (t.share, t.id))
arrows = {"grew": " ↑", "shrank": " ↓"}
labels = [_chart_text(t.label) + arrows.get(t.status, "") for t in charted]
shares = pd.DataFrame(
    [{"topic": label, "series": series, "share": share, "status": _chart_text(_status(t))}
     for t, label in zip(charted, labels)
     for series, share in (("reference", t.reference_share), ("this window", t.share))],
    columns=["topic", "series", "share", "status"],
)
bars = alt.Chart(shares).mark_bar().encode(
    # the largest share on top, as the table reads; the reference's bar above this window's in each group
    y=alt.Y("topic:N", sort=labels[::-1], title=None, axis=alt.Axis(labelLimit=360)),
    yOffset=alt.YOffset("series:N", sort=["reference", "this window"]),
    x=alt.X("share:Q", title="share of inputs", axis=alt.Axis(format=".0%")),
    color=alt.Color("series:N", title=None, scale=alt.Scale(domain=["reference", "this window"],
                                                            range=["#c7c7c7", "#4c78a8"]),
                    legend=alt.Legend(orient="top")),
    tooltip=[alt.Tooltip("topic:N"), alt.Tooltip("series:N", title="share of"),
             alt.Tooltip("share:Q", format=".1%"), alt.Tooltip("status:N")],
).properties(height=max(260, 26 * len(charted) + 80))
st.altair_chart(bars, key="topics_share_chart", width="stretch")
st.caption("Blue: this window's share of inputs; grey: the share when the model was fitted. ↑ / ↓: the share "
           "grew or shrank significantly. Topics absent from both are left out.")

st.subheader("One topic")
by_id = {t.id: t for t in report.topics}
first = next((i for i in (*report.worst, *report.changed) if i in by_id), ordered[0].id if ordered else None)
if first is None:
    st.info("The report has no topics.")
    st.stop()
pick = st.selectbox(
    "Topic",
    [t.id for t in ordered],
    index=[t.id for t in ordered].index(first),
    # Options are drawn as text here (Markdown escapes would show): bidi controls neutralised only.
    format_func=lambda i: _ui.plain(f"{by_id[i].label} · {by_id[i].n} inputs"),
    key="topics_pick",
)
topic = by_id[pick if pick is not None else first]
_ui.show_text(
    f"{topic.label}: {topic.n} inputs, share {_pct(topic.share)} (reference {_pct(topic.reference_share)}, "
    f"{_pct(topic.share_change, signed=True)}, {topic.status})\nkeywords: {', '.join(topic.keywords) or '-'}"
)

left, right = st.columns(2)
with left:
    st.markdown("**Examples**")
    if not topic.examples:
        st.caption("No input of this topic in the window.")
    for example in topic.examples:
        _ui.show_text(example)
with right:
    st.markdown("**Inputs per day**")
    if topic.daily:
        days = pd.DataFrame({"day": list(topic.daily), "inputs": list(topic.daily.values())})
        trend = alt.Chart(days).mark_bar(color="#4c78a8").encode(
            x=alt.X("day:O", sort=list(topic.daily), title=None),  # one bar per day, in the report's order
            y=alt.Y("inputs:Q", title="inputs"),
            tooltip=[alt.Tooltip("day:O"), alt.Tooltip("inputs:Q")],
        ).properties(height=260)
        st.altair_chart(trend, key="topics_daily_chart", width="stretch")
    else:
        st.caption("No dated input of this topic in the window.")

st.markdown(f"**Failing traces** ({len(topic.failing)})")
if topic.failing:
    st.dataframe(
        pd.DataFrame([
            {"trace": _ui.plain(f.trace_id or f.key), "failed by": _ui.plain(", ".join(f.failed_by)),
             "prompt": _ui.plain(f.prompt), "response": _ui.plain(f.response)}
            for f in topic.failing
        ]),
        hide_index=True,
        key="topics_failing",
        width="stretch",
    )
    if user.is_admin:
        n = len(topic.failing)
        label = f"Send {n} failing trace{'s' if n != 1 else ''} to the review queue"
        if st.button(label, key="topics_send",
                     help=f"One {QUEUE} item per trace; traces already queued are not added again"):
            items = [review_item(topic, f, report, cfg.phoenix_endpoint) for f in topic.failing]
            added, present = _ui.store().add_items(items)
            st.success(f"Queued {added} failing traces of topic {pick} for review ({QUEUE} queue); "
                       f"{present} were already queued.")
    else:
        st.caption("An admin can send these traces to the review queue.")
else:
    st.caption("No trace of this topic failed an online evaluator in the window (or the report has no verdicts).")

st.subheader("Candidate new topics")
if not report.candidates:
    st.caption("None: the outliers form no dense group.")
for c in report.candidates:
    with st.container(border=True):
        _ui.show_text(f"{c.name}: {c.size} inputs ({_pct(c.share)} of the window)\nkeywords: {', '.join(c.keywords)}")
        for example in c.examples[:5]:
            _ui.show_text("e.g. " + example)
