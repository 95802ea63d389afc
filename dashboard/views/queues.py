"""Queues page (admins): sizes and progress, who holds what, releasing stale claims, the audit logs."""

import time

import pandas as pd
import streamlit as st

from dashboard import _ui

admin = _ui.require_user(admin=True)
store = _ui.store()
st.title("Queues")

stats = store.queue_stats()
if not stats:
    st.info("The store is empty. Fill it with `python -m dashboard fill --results ... --prod-log ...`.")
else:
    frame = pd.DataFrame(
        [
            {
                "queue": s.queue,
                "items": s.items,
                "items done": s.items_done,
                "slots": s.slots,
                "open": s.open,
                "claimed": s.leased,
                "labelled": s.done,
                "flagged": s.flagged,
                "progress": s.done / s.slots if s.slots else 0.0,
            }
            for s in stats
        ]
    )
    st.dataframe(
        frame,
        hide_index=True,
        key="queue_table",
        column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0)},
    )

st.subheader("Claims held")
holders = store.holders()
if not holders:
    st.caption("Nobody holds a claim.")
else:
    now = time.time()
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "reviewer": h.reviewer,
                    "item": h.item_id,
                    "queue": h.queue,
                    "expires in (s)": round(h.expires - now),
                    "stale": h.expired,
                }
                for h in holders
            ]
        ),
        hide_index=True,
        key="holders_table",
    )

c1, c2 = st.columns(2)
if c1.button("Release expired claims", key="release_expired"):
    n = store.release_expired(actor=admin.name)
    st.session_state["queues_flash"] = f"Released {n} expired claims."
    st.rerun()
reviewers = sorted({h.reviewer for h in holders})
who = c2.selectbox("Release every claim of", reviewers, index=None, key="release_who")
if c2.button("Release", key="release_reviewer", disabled=who is None) and who is not None:
    n = store.release_reviewer(who, actor=admin.name)
    st.session_state["queues_flash"] = f"Released {n} claims of {who}."
    st.rerun()
if "queues_flash" in st.session_state:
    st.success(_ui.md(st.session_state.pop("queues_flash")))

with st.expander("Audit log (latest 200)"):
    entries = store.audit_log(limit=200)
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "when": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.ts)),
                    "who": e.actor,
                    "action": e.action,
                    "item": e.item_id,
                    "detail": str(e.detail),
                }
                for e in entries
            ]
        ),
        hide_index=True,
    )

st.subheader("Failed logins")
failures = _ui.login_guard().attempts(failed_only=True, limit=100)
if not failures:
    st.caption("No failed or refused login attempts.")
else:
    st.caption(
        "The newest 100 wrong passwords (failed) and attempts the throttle turned away unchecked (refused); "
        "names are as typed, unknown ones included."
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "when": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(a.ts)),
                    "name": a.name,
                    "client": a.client,
                    "outcome": a.outcome,
                }
                for a in failures
            ]
        ),
        hide_index=True,
        key="login_failures",
    )
