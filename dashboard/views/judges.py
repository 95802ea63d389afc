"""Judges page: each judge's meta-evaluation against human labels, and whether it may gate a suite.

Reads the results files of ``python -m judges meta-eval`` from the judge-evidence folder (what suite gates
read: ``EVALHARNESS_JUDGE_EVIDENCE``, default ``evals/judge_evidence``) and ``<results>/meta-eval``. Every
string a model, a dataset or a user wrote (inputs, outputs, criteria, file and dataset names) is shown
as plain text or in a table cell, never as Markdown.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import _ui
from judges.errors import JudgeError
from judges.meta_eval import MetaEvalRecord, load_meta_eval, qualifies
from judges.meta_eval._record import Interval, Variant

MAX_CASES = 200

_ui.require_user()
cfg = _ui.config()
st.title("Judges")
st.caption(
    "How far each judge agrees with human labels, measured by `python -m judges meta-eval`. Every figure "
    "carries its 95% bootstrap confidence interval over cases. Agreement is Cohen's kappa for preferences and "
    "quadratic-weighted kappa for scores (0 = chance, 1 = perfect). A suite's gate on an LLM judge binds only "
    "when such a file shows at least 50 human labels and an agreement whose interval's low end reaches 0.4; "
    "otherwise the gate is advisory."
)


def _folders() -> list[Path]:
    evidence = Path(os.environ.get("EVALHARNESS_JUDGE_EVIDENCE", "evals/judge_evidence"))
    return [evidence, cfg.results_dir / "meta-eval"]


@st.cache_resource(show_spinner=False, max_entries=64)
def _load_cached(path: str, mtime_ns: int, size: int) -> MetaEvalRecord:
    # keyed by the file's stat, so a rewritten file is read again; the record is frozen, safe to share
    return load_meta_eval(path)


files = sorted({p.resolve() for d in _folders() if d.is_dir() for p in d.glob("*.json")})
if not files:
    st.info("No meta-evaluations yet. Measure a judge with `python -m judges meta-eval` (see docs/judges.md) "
            "and keep the results file in the judge-evidence folder.")
    st.stop()

records: dict[str, MetaEvalRecord] = {}
for f in files:
    try:
        stat = f.stat()
        records[str(f)] = _load_cached(str(f), stat.st_mtime_ns, stat.st_size)
    except (JudgeError, OSError) as exc:
        _ui.show_text(f"skipped {f.name}: {exc}")
if not records:
    st.stop()


def _ci(e: Interval | None, pct: bool = False) -> str:
    if e is None or e.value is None:
        return "-"
    scale, unit = (100, "%") if pct else (1, "")
    lo = "?" if e.low is None else f"{scale * e.low:.{0 if pct else 2}f}"
    hi = "?" if e.high is None else f"{scale * e.high:.{0 if pct else 2}f}"
    return f"{scale * e.value:.{0 if pct else 2}f}{unit} [{lo}, {hi}]"


overview = pd.DataFrame([
    {"file": Path(p).name, "judge": r.judge, "model": r.judge_model, "labels": r.n_labels,
     "data": r.dataset.name, "agreement": _ci(r.headline.agreement), "accuracy": _ci(r.headline.accuracy, True),
     "may gate": "yes" if qualifies(r) is None else "no"}
    for p, r in records.items()
])
st.dataframe(overview, hide_index=True, key="judges_overview")

choice = st.selectbox("Meta-evaluation", list(records), format_func=lambda p: _ui.plain(Path(p).name), key="judges_file")
rec = records[choice]

st.subheader("Judge")
_ui.show_text(f"{rec.judge} on {rec.judge_model}\nconfigured as: {rec.headline.description}\n"
        f"human labels: {rec.dataset.name} ({rec.dataset.kind}, sha256 {rec.dataset.sha256}), "
        f"{rec.n_labels} judged, {rec.failures} judge failures\nmeasured on {rec.machine}, {rec.created}")
why = qualifies(rec)
if why is None:
    st.success("Qualified to gate: at least 50 labels and an agreement CI low of at least 0.4.")
else:
    st.warning("Not qualified to gate; suite gates on this judge are advisory.")
    _ui.show_text(why)

c1, c2, c3 = st.columns(3)
c1.metric("Agreement (kappa)", _ci(rec.headline.agreement))
c2.metric("Accuracy", _ci(rec.headline.accuracy, True))
c3.metric("Error rate", _ci(rec.error_rate, True))
if rec.majority_rate is not None:
    _ui.show_text(f"A judge that always answers the commonest human label is right on {_ci(rec.majority_rate, True)}.")

st.subheader("Variants")
pref = rec.labels == "preference"


def _row(v: Variant) -> dict[str, object]:
    row: dict[str, object] = {"variant": v.name, "n": v.n, "accuracy": _ci(v.accuracy, True),
                              "agreement": _ci(v.agreement)}
    if pref:
        row |= {"ties": _ci(v.tie_rate, True), "position consistency": _ci(v.consistency, True)}
    else:
        row |= {"Spearman": _ci(v.spearman), "Kendall": _ci(v.kendall), "MAE": _ci(v.mae)}
    row["calibration error"] = "-" if v.calibration_error is None else f"{v.calibration_error:.3f}"
    row["what"] = v.description
    return row


st.dataframe(pd.DataFrame([_row(v) for v in [*rec.variants, rec.headline]]), hide_index=True, key="judges_variants")

import altair as alt

left, right = st.columns(2)
conf = rec.headline.confusion
# Vega-Lite draws the file's labels and names as SVG or canvas text and its tooltips HTML-escaped, never as
# HTML or Markdown: they go in as plain text (bidi controls neutralised).
axis = [_ui.plain(label) for label in conf.labels]
cells = pd.DataFrame([{"judge": judge, "human": human, "count": conf.counts[i][j]}
                      for i, human in enumerate(axis) for j, judge in enumerate(axis)],
                     columns=["judge", "human", "count"])
cells["tip"] = [f"human {h}, judge {j}: {c}" for h, j, c in zip(cells["human"], cells["judge"], cells["count"])]
dark = max([1, *cells["count"]]) / 2
# Category axes (the labels in the file's order): one tick per label.
base = alt.Chart(cells).encode(x=alt.X("judge:O", sort=axis, title="judge", axis=alt.Axis(labelAngle=0)),
                               y=alt.Y("human:O", sort=axis, title="human"), tooltip=alt.Tooltip("tip:N"))
heat = alt.layer(
    base.mark_rect().encode(color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), title="count")),
    base.mark_text().encode(text="count:Q",
                            color=alt.condition(alt.datum.count > dark, alt.value("white"), alt.value("black"))),
).properties(height=360, title="Confusion matrix")
left.altair_chart(heat, key="judges_confusion", width="stretch")

points: list[dict[str, object]] = []
names: list[str] = []
for v in [next((x for x in rec.variants if x.name.startswith(("mean_prob", "expected score"))), rec.headline),
          next((x for x in rec.variants if "isotonic" in x.name), None)]:
    if v is not None and v.reliability:
        name = _ui.plain(f"{v.name} (ECE {v.calibration_error:.3f})")
        names.append(name)
        points += [{"series": name, "predicted": b.predicted, "observed": b.observed, "cases": f"{b.n} cases"}
                   for b in v.reliability]
lo, hi = (0.0, 1.0) if pref else (float(conf.labels[0]), float(conf.labels[-1]))
x_title = "judge: P(A)" if pref else "judge score"
y_title = "humans: share preferring A" if pref else "humans: mean score"
series = list(dict.fromkeys([*names, "perfect"]))
color = alt.Color("series:N", title=None, scale=alt.Scale(domain=series),
                  legend=alt.Legend(orient="bottom", direction="vertical", labelLimit=0))
x = alt.X("predicted:Q", title=x_title, scale=alt.Scale(zero=False))
y = alt.Y("observed:Q", title=y_title, scale=alt.Scale(zero=False))
diagonal = alt.Chart(pd.DataFrame({"series": "perfect", "predicted": [lo, hi], "observed": [lo, hi]})).mark_line(
    strokeDash=[2, 3]).encode(x=x, y=y, color=color)
layers: list[alt.Chart] = [diagonal]
if points:
    tooltip = [alt.Tooltip("series:N", title="variant"), alt.Tooltip("predicted:Q", format=".3f"),
               alt.Tooltip("observed:Q", format=".3f"), alt.Tooltip("cases:N")]
    layers.insert(0, alt.Chart(pd.DataFrame(points)).mark_line(point=True).encode(x=x, y=y, color=color,
                                                                                  tooltip=tooltip))
rel = alt.layer(*layers).properties(height=360, title="Reliability diagram, before and after isotonic calibration")
right.altair_chart(rel, key="judges_reliability", width="stretch")

st.subheader("Bias probes")
b = rec.bias
probes = []
if b.slot_a_rate is not None:
    probes.append({"probe": "slot A chosen (single-order answers; 50% = none)", "value": _ci(b.slot_a_rate, True)})
    probes.append({"probe": "position consistency", "value": _ci(b.position_consistency, True)})
if b.length_correlation is not None:
    probes.append({"probe": "length correlation, judge (Spearman)", "value": _ci(b.length_correlation)})
    probes.append({"probe": "length correlation, humans (Spearman)", "value": _ci(b.human_length_correlation)})
if b.self_preference is not None:
    s = b.self_preference
    probes.append({"probe": f"self-preference ({s.n} cases), judge - humans", "value": _ci(s.gap)})
if probes:
    st.dataframe(pd.DataFrame(probes), hide_index=True, key="judges_bias")
for note in b.notes:
    _ui.show_text(note)

if rec.abstention is not None:
    a = rec.abstention
    st.subheader("Abstention")
    _ui.show_text(f"Disagreement with humans at {100 * a.coverage:.0f}% coverage: {_ci(a.risk, True)}, against "
            f"{_ci(a.full, True)} without abstaining (change {_ci(a.change)}). Abstain band: "
            f"AbstainBand(min_margin={a.threshold:.4f}). Confidence: {a.confidence}.")
    points_cr = pd.DataFrame([{"coverage": p.coverage, "risk": p.risk, "threshold": f"margin >= {p.threshold:.4f}"}
                              for p in a.curve])
    curve = alt.Chart(points_cr).mark_line(point=True).encode(
        x=alt.X("coverage:Q", title="coverage (share of cases the judge decides)", scale=alt.Scale(zero=False)),
        y=alt.Y("risk:Q", title="disagreement", axis=alt.Axis(format=".1~%")),
        tooltip=[alt.Tooltip("coverage:Q", format=".3f"), alt.Tooltip("risk:Q", format=".1%"),
                 alt.Tooltip("threshold:N")],
    ).properties(height=320, title="Coverage–risk curve")
    st.altair_chart(curve, key="judges_coverage_risk", width="stretch")

if rec.few_shot is not None:
    shots = rec.few_shot
    st.subheader("Few-shot examples from corrections")
    _ui.show_text(f"{shots.k} examples ({shots.source}); {shots.n_test} held-out cases.\n"
            f"accuracy {_ci(shots.before, True)} -> {_ci(shots.after, True)}, change {_ci(shots.change)}, "
            f"McNemar p {shots.pvalue if shots.pvalue is not None else float('nan'):.3g}\n"
            f"agreement {_ci(shots.agreement_before)} -> {_ci(shots.agreement_after)}\n"
            f"examples: {', '.join(shots.examples)}")

st.subheader("Cases")
only_wrong = st.checkbox("Only cases where the judge and the humans disagree", key="judges_wrong")
shown = [c for c in rec.cases if not only_wrong or c.failure or str(c.verdict) != str(c.human)
         and not (isinstance(c.verdict, float) and round(c.verdict) == c.human)]
st.caption(f"{len(shown)} cases" + (f", the first {MAX_CASES} shown" if len(shown) > MAX_CASES else ""))
for i, c in enumerate(shown[:MAX_CASES], 1):
    verdict = "failure" if c.failure else (f"{c.verdict:.2f}" if isinstance(c.verdict, float) else str(c.verdict))
    human = f"{c.human:g}" if isinstance(c.human, float) else str(c.human)
    # the label is Markdown: the file's human label and verdict go in escaped; the case id is shown as text inside
    with st.expander(f"Case {i}: human {_ui.md(human)}, judge {_ui.md(verdict)}"):
        _ui.show_text(f"id: {c.case_id}" + (f"\njudge failure: {c.failure}" if c.failure else ""))
        _ui.show_text("Input")
        _ui.show_text(c.input)
        if c.output is not None:
            _ui.show_text("Output")
            _ui.show_text(c.output)
        if c.output_a is not None:
            _ui.show_text("Output A")
            _ui.show_text(c.output_a)
            _ui.show_text("Output B")
            _ui.show_text(c.output_b or "")
        probs = c.probs or {}
        if c.order1_probs is not None:
            probs = {f"order 1 {k}": v for k, v in c.order1_probs.items()}
            probs |= {f"order 2 {k}": v for k, v in (c.order2_probs or {}).items()}
        if probs:
            _ui.show_text("raw label probabilities: " + ", ".join(f"{k} {v:.3f}" for k, v in probs.items()))
