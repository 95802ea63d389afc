"""Review page: claim the next item, read it and the judges' verdicts, answer the rubric, submit/skip/flag.

Model- and dataset-written strings (input, output, context, reasoning, criterion, categories, why the item is
here) are shown as plain text or escaped with ``_ui.md``: never as Markdown a browser would act on.
"""

import time

import streamlit as st

from dashboard import _ui
from dashboard._transcript_view import show_payload
from review.errors import DuplicateLabel, InvalidLabel, LeaseLost
from review.fill import PAIRWISE_SCORES
from review.models import QUEUES, Item, Lease
from review.transcript import TranscriptError, conversation, turn_indices

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
# A production (audit) item is its prompt and its response: fields a logged row carried (a store filled before
# rows were cut to the log's columns) never turn it into a conversation or a trajectory.
payload = {} if item.queue == "audit" else item.meta
st.subheader(f"Item {item.id} · {_ui.md(item.queue)} · {_ui.md(item.criterion)}")
if item.reason:
    st.caption("Why it is here: " + _ui.md(item.reason))

left, right = st.columns([3, 2])
with left:
    st.markdown("**Input**")
    _ui.show_text(item.input)
    if item.context:
        with st.expander("Context", expanded=False):
            _ui.show_text(item.context)
    if item.expected:
        with st.expander("Expected", expanded=False):
            _ui.show_text(item.expected)
    # a conversation turn by turn with its per-turn scores, an agent's steps; else the output as text
    show_payload(payload, item.output, criterion=item.criterion)
with right:
    st.markdown("**Judges**")
    if not item.judges:
        st.caption("No judge verdicts (audit sample).")
    for n, judge in enumerate(item.judges):
        with st.container(border=True):
            score = "—" if judge.score is None else f"{judge.score:.2f}"
            _ui.show_text(f"{judge.judge_model} · score {score}")
            if judge.label_probs:
                import pandas as pd

                probs = pd.DataFrame({"p": judge.label_probs})
                st.bar_chart(probs, height=140, y_label="probability")
            if judge.reasoning:
                with st.expander("Reasoning", expanded=n == 0):
                    _ui.show_text(judge.reasoning)

key = f"{lease.slot_id}_{lease.version}"
levels: list[int] = []
if item.scale is not None:
    lo, hi = item.scale
    if float(lo).is_integer() and float(hi).is_integer() and 0 < hi - lo <= 10:
        levels = list(range(int(lo), int(hi) + 1))

turn_ids = turn_indices(payload)  # a conversation: its turns can be labelled one by one too


def _score_input(wkey: str) -> float | None:
    if levels:
        return st.radio("Score", levels, index=None, horizontal=True, key=wkey)
    if item.scale is not None:
        return st.number_input("Score", min_value=item.scale[0], max_value=item.scale[1], value=None, key=wkey)
    return None


def _category_input(wkey: str) -> str | None:
    if not item.categories:
        return None
    return st.radio("Category", list(item.categories), index=None, horizontal=True, format_func=_ui.md, key=wkey)


st.divider()
whole = " (the whole conversation)" if turn_ids else ""
st.markdown(f"**Your answer: {_ui.md(item.criterion)}{whole}**")
score_value = _score_input(f"score_{key}")
category = _category_input(f"cat_{key}")
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


if turn_ids:
    st.divider()
    st.markdown(f"**Label one turn: {_ui.md(item.criterion)}**")
    st.caption("A label of one turn is stored with the turn's index, one per turn and reviewer. Finish the item "
               "with Submit (a label of the whole conversation) or, with turn labels only, with Done.")
    try:
        roles = {t.index: t.role for t in conversation(payload) or ()}
    except TranscriptError:
        roles = {}
    mine = {r.turn: r for r in store.labels(item_id=item.id, reviewer=user.name) if r.turn is not None}
    if mine:
        st.caption("Your turn labels: " + "; ".join(
            _ui.md(f"turn {t}: " + ", ".join([f"{r.score:g}"] * (r.score is not None) + [r.category or ""] * bool(r.category))
                   + (f" ({r.note})" if r.note else ""))
            for t, r in sorted(mine.items())))
    open_turns = [t for t in turn_ids if t not in mine]
    tkey = f"{key}_{len(mine)}"  # fresh widgets after each saved turn label
    if open_turns:
        pick = st.radio("Turn", open_turns, index=None, horizontal=True, key=f"turn_pick_{tkey}",
                        format_func=lambda i: f"Turn {i} · {_ui.md(roles.get(i, '?'))}")
        turn_score = _score_input(f"turn_score_{tkey}")
        turn_category = _category_input(f"turn_cat_{tkey}")
        turn_note = st.text_area("Note on this turn", key=f"turn_note_{tkey}")
        if st.button("Save turn label", key="turn_submit"):
            if pick is None:
                _say("error", "Pick the turn you are labelling.")
            else:
                try:
                    store.label_turn(held, pick, score=turn_score, category=turn_category, note=turn_note)
                except (InvalidLabel, DuplicateLabel) as exc:
                    _say("error", str(exc))
                except LeaseLost as exc:
                    _drop_lease(str(exc))
                else:
                    _say("success", f"Saved your label of turn {pick} of item {item.id}.")
            st.rerun()
    if mine and st.button("Done: finish with my turn labels", key="turn_done",
                          help="Finish this item without a label of the whole conversation"):
        try:
            store.finish_turns(held)
        except InvalidLabel as exc:
            _say("error", str(exc))
        except LeaseLost as exc:
            _drop_lease(str(exc))
        else:
            _say("success", f"Finished item {item.id} with {len(mine)} turn label(s).")
            _claim()
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
