"""Review page: claim the next item, read it and the judges' verdicts, answer the rubric, submit/skip/flag.

Model- and dataset-written strings (input, output, context, reasoning, criterion, categories, why the item is
here) are shown as plain text or escaped with ``_ui.md``: never as Markdown a browser would act on.
"""

import time

import streamlit as st

from dashboard import _ui
from dashboard.errors import InvalidLabel, LeaseLost
from dashboard.fill import PAIRWISE_SCORES
from dashboard.models import QUEUES, Item, Lease

user = _ui.require_user()
store = _ui.store()
st.title("Review")

for kind, message in st.session_state.pop("review_flash", []):
    getattr(st, kind)(_ui.md(message))


def _say(kind: str, message: str) -> None:
    # Messages for the next run (actions end in st.rerun()); several can pile up, e.g. saved + queue empty.
    st.session_state.setdefault("review_flash", []).append((kind, message))


def _drop_lease(message: str) -> None:
    st.session_state["lease"] = None
    _say("warning", message)


lease: Lease | None = st.session_state.get("lease")
if lease is None:
    # A refreshed page has a new session: find the claim this reviewer already holds in the store.
    lease = store.active_lease(user.name)
if lease is not None:
    try:
        lease = store.heartbeat(lease)
    except LeaseLost as exc:
        lease = None
        _drop_lease(str(exc))
st.session_state["lease"] = lease

queue_choice = st.selectbox("Queue", ["any", *QUEUES], key="queue_choice")
queue = None if queue_choice == "any" else queue_choice


def _claim() -> None:
    got = store.claim_next(user.name, queue=queue)
    st.session_state["lease"] = got
    if got is None:
        _say("info", f"Nothing left to review in queue {queue_choice!r}.")


if lease is None:
    st.write("You hold no item.")
    if st.button("Claim next item", key="claim", type="primary", shortcut="N"):
        _claim()
        st.rerun()
    st.stop()

held: Lease = lease  # narrowed for the callbacks below
item: Item = store.get_item(held.item_id)
st.subheader(f"Item {item.id} · {_ui.md(item.queue)} · {_ui.md(item.criterion)}")
if item.reason:
    st.caption("Why it is here: " + _ui.md(item.reason))

left, right = st.columns([3, 2])
with left:
    st.markdown("**Input**")
    st.text(item.input)
    if item.context:
        with st.expander("Context", expanded=False):
            st.text(item.context)
    if item.expected:
        with st.expander("Expected", expanded=False):
            st.text(item.expected)
    st.markdown("**Output**")
    st.text(item.output)
with right:
    st.markdown("**Judges**")
    if not item.judges:
        st.caption("No judge verdicts (audit sample).")
    for n, judge in enumerate(item.judges):
        with st.container(border=True):
            score = "—" if judge.score is None else f"{judge.score:.2f}"
            st.text(f"{judge.judge_model} · score {score}")
            if judge.label_probs:
                import pandas as pd

                probs = pd.DataFrame({"p": judge.label_probs})
                st.bar_chart(probs, height=140, y_label="probability")
            if judge.reasoning:
                with st.expander("Reasoning", expanded=n == 0):
                    st.text(judge.reasoning)

key = f"{lease.slot_id}_{lease.version}"
levels: list[int] = []
if item.scale is not None:
    lo, hi = item.scale
    if float(lo).is_integer() and float(hi).is_integer() and 0 < hi - lo <= 10:
        levels = list(range(int(lo), int(hi) + 1))

st.divider()
st.markdown(f"**Your answer: {_ui.md(item.criterion)}**")
score_value: float | None
if levels:
    score_value = st.radio("Score", levels, index=None, horizontal=True, key=f"score_{key}")
elif item.scale is not None:
    score_value = st.number_input(
        "Score", min_value=item.scale[0], max_value=item.scale[1], value=None, key=f"score_{key}"
    )
else:
    score_value = None
category = None
if item.categories:
    category = st.radio(
        "Category", list(item.categories), index=None, horizontal=True, format_func=_ui.md, key=f"cat_{key}"
    )
note = st.text_area("Note (your reasoning; it becomes the few-shot explanation)", key=f"note_{key}")


def _act(kind: str, score: float | None = None, chosen: str | None = None) -> None:
    chosen = chosen if chosen is not None else category
    if score is None and chosen is not None and item.meta.get("kind") == "pairwise":
        score = PAIRWISE_SCORES[chosen]  # a preference on the judge's 0..1 scale, so agreement can use it
    try:
        if kind == "submit":
            store.submit(held, score=score, category=chosen, note=note)
        elif kind == "flag":
            store.flag(held, note)
        else:
            store.skip(held, note)
    except InvalidLabel as exc:
        _say("error", str(exc))
        return
    except LeaseLost as exc:
        _drop_lease(str(exc))
        return
    done = {"submit": "Saved", "flag": "Flagged", "skip": "Skipped"}[kind]
    _say("success", f"{done} item {item.id}.")
    _claim()


cols = st.columns(3)
if cols[0].button("Submit", key="submit", type="primary", shortcut="Ctrl+Enter"):
    _act("submit", score_value)
    st.rerun()
if cols[1].button("Skip", key="skip", shortcut="S"):
    _act("skip")
    st.rerun()
if cols[2].button("Flag", key="flag", shortcut="F", help="Needs a note saying what is wrong"):
    _act("flag")
    st.rerun()

if levels and all(0 <= v <= 9 for v in levels):
    st.caption("Quick labels: press a digit to submit that score (with your note, if any).")
    quick = st.columns(len(levels))
    for col, v in zip(quick, levels):
        if col.button(str(v), key=f"quick_{v}", shortcut=str(v)):
            _act("submit", float(v))
            st.rerun()

# One-key answers for categories: the first letter, when it is free (C and R are Streamlit's own).
taken = {"C", "R", "N", "S", "F"}
quick_cats = []
for cat in item.categories:
    letter = cat[:1].upper()
    if letter.isalpha() and letter not in taken:
        taken.add(letter)
        quick_cats.append((cat, letter))
if quick_cats:
    st.caption("Quick answers: " + ", ".join(f"{letter} = {_ui.md(cat)}" for cat, letter in quick_cats))
    cat_cols = st.columns(len(quick_cats))
    for col, (cat, letter) in zip(cat_cols, quick_cats):
        if col.button(_ui.md(cat), key=f"quickcat_{cat}", shortcut=letter):
            _act("submit", None, cat)
            st.rerun()


@st.fragment(run_every=max(5.0, store.lease_seconds / 3))
def _keepalive() -> None:
    # Extends the lease while the page is open, so a slow read does not lose the item.
    held = st.session_state.get("lease")
    if held is None:
        return
    try:
        held = store.heartbeat(held)
    except LeaseLost:
        st.warning("Your claim on this item was lost; claim the next item.")
        return
    st.session_state["lease"] = held
    st.caption(f"Claim held until {time.strftime('%H:%M:%S', time.localtime(held.expires))}.")


_keepalive()
