"""Synthetic page: review generated rows (accept, edit, reject) before they become golden data.

Admins queue a generated set (``python -m synth ... --out FILE``) and export the accepted rows into
``datasets/synth/<kind>/<name>.jsonl``; every reviewer works through the ``synthetic`` queue here. The
page uses the review store's public API only (``add_items``, ``claim_next``, ``submit``, ``labels``).
Generated text is shown with ``st.text`` or escaped with ``_ui.md``, never rendered as Markdown.

Server paths stay in their configured folders: a generated set is read only from inside
``EVALHARNESS_SYNTH_DIR`` (resolved, links included; an error never shows the file's content and reads the
same for a missing file as for one outside the folder), and the export writes
``<EVALHARNESS_DATASETS>/synth/<kind>/<name>.jsonl`` with a name of letters, digits, ``_``, ``-`` and ``.``
only (no separator, no ``..``).
"""

import re
from pathlib import Path

import streamlit as st

from dashboard import _ui
from review.errors import InvalidLabel, LeaseLost
from review.models import Lease, NewItem
from synth import REVIEW_QUEUE, SynthError, edit_note, read_set, review_fields, reviewed, write_golden

_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _inside(folder: Path, typed: str) -> Path | None:
    """``typed`` (relative to ``folder``, or absolute) resolved, when it is a file inside ``folder``."""
    try:
        root = folder.resolve()
        path = (root / typed).resolve()
        return path if path.is_relative_to(root) and path != root and path.is_file() else None
    except (OSError, ValueError):  # a NUL byte, a loop of links: no such set either
        return None


user = _ui.require_user()
store = _ui.store()
st.title("Synthetic data review")

for kind, message in st.session_state.pop("synth_flash", []):
    getattr(st, kind)(_ui.md(message))


def _say(kind: str, message: str) -> None:
    st.session_state.setdefault("synth_flash", []).append((kind, message))


if user.is_admin:
    with st.expander("Queue a generated set", expanded=False):
        synth_dir = _ui.config().synth_dir
        set_path = st.text_input(
            _ui.md(f"Generated set (JSONL written by python -m synth) in {synth_dir}"), key="synth_set_path"
        )
        if st.button("Queue for review", key="synth_queue", disabled=not set_path):
            path = _inside(synth_dir, set_path)
            queued = None
            if path is None:  # missing, a folder, or outside: one answer, so it reveals nothing about the server
                st.error(_ui.md(f"No generated set named {set_path!r} in {synth_dir}."))
            else:
                try:
                    queued = read_set(path)
                except (OSError, SynthError, UnicodeDecodeError):
                    # The reason would quote the file's lines: name the file only.
                    st.error(_ui.md(f"{set_path!r} is not a generated set (one SyntheticRow per line)."))
            if queued is not None:
                added, present = store.add_items(NewItem(**review_fields(r)) for r in queued)
                st.success(f"Queued {added} rows ({present} were already queued).")

lease: Lease | None = st.session_state.get("synth_lease") or store.active_lease(user.name)
if lease is not None:
    try:
        lease = store.heartbeat(lease)
    except LeaseLost as exc:
        lease = None
        _say("warning", str(exc))
st.session_state["synth_lease"] = lease

if lease is None:
    st.write("You hold no generated row.")
    if st.button("Claim next generated row", key="synth_claim", type="primary"):
        got = store.claim_next(user.name, queue=REVIEW_QUEUE)
        st.session_state["synth_lease"] = got
        if got is None:
            _say("info", "No generated rows left to review.")
        st.rerun()
else:
    held: Lease = lease
    item = store.get_item(held.item_id)
    if item.queue != REVIEW_QUEUE:
        st.info(f"You hold item {item.id} of queue {_ui.md(item.queue)}: finish it on the Review page first.")
    else:
        origin = item.meta.get("synth", {}).get("origin", {})
        st.subheader(f"Row {item.id}")
        st.caption(_ui.md(item.reason))
        _ui.show_text(f"evolution: {origin.get('evolution')} · persona: {origin.get('persona')} · "
                f"critic score: {origin.get('critic_score')} · generator: {origin.get('generator')}")
        if item.context:
            st.markdown("**Context**")
            _ui.show_text(item.context)
        key = f"{held.slot_id}_{held.version}"
        question = st.text_area("Question", item.input, key=f"synth_q_{key}")
        reference = st.text_area("Expected output", item.output, key=f"synth_r_{key}")
        note = st.text_input("Note (optional)", key=f"synth_note_{key}")
        edited = question.strip() != item.input.strip() or reference.strip() != item.output.strip()

        def _answer(decision: str) -> None:
            text = edit_note(question.strip(), reference.strip() or None) if decision == "edit" else note
            try:
                store.submit(held, category=decision, note=text)
            except InvalidLabel as exc:
                _say("error", str(exc))
                return
            except LeaseLost as exc:
                _say("warning", str(exc))
            else:
                _say("success", f"Row {item.id}: {decision}.")
            st.session_state["synth_lease"] = store.claim_next(user.name, queue=REVIEW_QUEUE)

        cols = st.columns(3)
        if cols[0].button("Accept", key="synth_accept", type="primary", disabled=edited):
            _answer("accept")
            st.rerun()
        if cols[1].button("Save edit", key="synth_edit", disabled=not edited):
            _answer("edit")
            st.rerun()
        if cols[2].button("Reject", key="synth_reject"):
            _answer("reject")
            st.rerun()

if user.is_admin:
    st.divider()
    rows, decisions = reviewed(store.labels(queue=REVIEW_QUEUE))
    kept = sum(1 for d in decisions if d.decision != "reject")
    st.write(f"{len(rows)} generated rows reviewed; {kept} accepted or edited.")
    folder = Path(_ui.config().datasets)
    st.caption(_ui.md(f"Datasets folder (configured): {folder}"))
    name = st.text_input("Dataset name", "synthetic", key="synth_export_name")
    if st.button("Export accepted rows", key="synth_export", disabled=not rows):
        if not _DATASET_NAME.match(name) or ".." in name:
            st.error("A dataset name is letters, digits, _ - and . only (no folder separator, no ..).")
        else:
            written = write_golden(rows, decisions, folder, name)
            st.success(
                _ui.md("\n".join(f"{kind}: {n} rows to {p}" for kind, (p, n) in written.items()))
                or "Nothing accepted yet."
            )
