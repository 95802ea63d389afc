"""Calibration page: judge–human agreement per criterion, inter-annotator agreement, disagreements to read.

Blind for reviewers: every figure and disagreement is computed over the items the viewer has labelled
themselves, so nobody sees another reviewer's name or score on an item they may still claim and label.
Admins see everything.
"""

import streamlit as st

from dashboard import _ui
from review.agreement import criteria, criterion_agreement, disagreements

user = _ui.require_user()
store = _ui.store()
st.title("Calibration")
if not user.is_admin:
    st.caption("Figures over the items you have labelled; others' labels appear once yours is in.")

queue_choice = st.selectbox(
    "Labels from queue", ["all", "calibration", "escalation", "audit"], key="cal_queue"
)
records = store.labels(
    queue=None if queue_choice == "all" else queue_choice, visible_to=None if user.is_admin else user.name
)
names = criteria(records)
if not names:
    st.info("No scored human labels yet: review some items first.")
    st.stop()
criterion = st.selectbox("Criterion", names, key="cal_criterion")


_fmt = _ui.fmt  # never "-0.000": a CI bound that rounds to zero reads 0.000


report = criterion_agreement(records, criterion)
st.subheader("Judge vs humans")
c1, c2, c3 = st.columns(3)
c1.metric(
    "Quadratic-weighted κ", _fmt(report.kappa_qw), help="Cohen's kappa, judge vs reviewers' mean, rounded"
)
c1.caption(f"95% CI {_fmt(report.kappa_ci[0])} … {_fmt(report.kappa_ci[1])}")
c2.metric("Spearman ρ", _fmt(report.spearman_rho))
c2.caption(f"p = {_fmt(report.spearman_p)}")
c3.metric("Items with judge and human scores", report.n_items)

if report.n_items:
    import altair as alt
    import pandas as pd

    labels = [str(v) for v in report.labels]
    cells = pd.DataFrame(
        [
            {"judge": judge, "human": human, "count": int(report.confusion[i][j])}
            for i, human in enumerate(labels)
            for j, judge in enumerate(labels)
        ]
    )
    cells["tip"] = [f"human {h}, judge {j}: {c}" for h, j, c in zip(cells["human"], cells["judge"], cells["count"])]
    dark = max(1, int(cells["count"].max())) / 2
    # Category axes (ordinal, the labels in score order): one tick per score label, not numeric ticks.
    base = alt.Chart(cells).encode(
        x=alt.X("judge:O", sort=labels, title="judge", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("human:O", sort=labels, title="human (mean, rounded)"),
        tooltip=alt.Tooltip("tip:N"),
    )
    fig = alt.layer(
        base.mark_rect().encode(color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), title="count")),
        base.mark_text().encode(
            text="count:Q",
            color=alt.condition(alt.datum.count > dark, alt.value("white"), alt.value("black")),
        ),
    ).properties(height=380, title="Confusion matrix")
    st.altair_chart(fig, key="confusion", width="stretch")

st.subheader("Reviewers among themselves")
d1, d2, d3 = st.columns(3)
d1.metric("Krippendorff's α (interval)", _fmt(report.alpha))
d2.metric("Mean pairwise κ (quadratic)", _fmt(report.pairwise_kappa))
d3.metric("Items with 2+ reviewers", report.n_multi)

st.subheader("Disagreements")
min_gap = st.slider("Show gaps of at least", 0.5, 4.0, 1.0, 0.5, key="cal_gap")
rows = disagreements(records, criterion, min_gap=min_gap)
st.caption(f"{len(rows)} items")
for d in rows[:100]:
    judge = "—" if d.judge_score is None else f"{d.judge_score:g}"
    humans = ", ".join(f"{who} {s:g}" for who, s in d.human_scores.items())
    with st.expander(_ui.md(f"Item {d.item_id}: gap {d.gap:g} ({d.why}) · judge {judge} · {humans}")):
        st.markdown("**Input**")
        _ui.show_text(d.input)
        st.markdown("**Output**")
        _ui.show_text(d.output)
