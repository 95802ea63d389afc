"""Export page (admins): golden JSONL into datasets/, few-shot examples for the judges, HUMAN annotations to Phoenix.

The datasets folder and the Phoenix endpoint come from the configuration only (``EVALHARNESS_DATASETS`` or
``--datasets``; ``EVALHARNESS_PHOENIX_ENDPOINT``, else where ``tracing.annotate_spans`` would send): the page
offers no field to type another one, so the Phoenix API key goes to the configured Phoenix and nowhere else,
and files are written under the configured folder only.
"""

import streamlit as st

from dashboard import _ui
from review.export import export_to_phoenix, golden_rows, span_annotations, write_fewshot, write_golden
from tracing.errors import TracingError

_ui.require_user(admin=True)
store = _ui.store()
cfg = _ui.config()
st.title("Export")

records = store.labels()
rows = golden_rows(records)
n_labels = sum(g.row["provenance"]["n_reviewers"] for g in rows)
st.write(f"{len(rows)} labelled cases, {n_labels} labels (one per reviewer and case).")

folder = cfg.datasets
st.caption(_ui.md(f"Datasets folder (configured): {folder}"))
k = st.number_input("Few-shot examples per criterion", min_value=1, max_value=50, value=6, key="export_k")

if st.button("Write golden JSONL", key="export_golden"):
    golden = write_golden(records, folder)
    st.success(
        _ui.md("\n".join(f"{kind}/{c}: {p}" for (kind, c), p in golden.items()) or "Nothing to write.")
    )
if st.button("Write few-shot examples", key="export_fewshot"):
    written = write_fewshot(records, folder, k=int(k))
    st.success(
        _ui.md(
            "\n".join(f"{c}: {p}" for c, p in written.items())
            or "No item qualifies yet (needs agreeing reviewers and a note)."
        )
    )

st.divider()
try:
    annotations = span_annotations(records)
except TracingError as exc:  # a stored span id that is not one (AnnotationError names it)
    st.error(_ui.md(exc))
    annotations = []
st.write(f"{len(annotations)} labelled items came from traced spans.")
# Where annotate_spans would send them: the environment, else the running Phoenix's port. Configuration
# only: a typed URL would receive the Phoenix API key (and could reach internal addresses).
endpoint = cfg.phoenix_endpoint
st.caption(_ui.md(f"Phoenix endpoint (configured): {endpoint}"))
if st.button("Send HUMAN annotations to Phoenix", key="export_phoenix", disabled=not annotations):
    try:
        n = export_to_phoenix(records, endpoint)
    except TracingError as exc:
        st.error(_ui.md(exc))
    else:
        st.success(_ui.md(f"Sent {n} annotations to {endpoint}."))
