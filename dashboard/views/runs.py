"""Runs page: compare a candidate eval run with a baseline run, suite by suite and case by case.

Every string a model or a dataset wrote (inputs, outputs, reasoning, case ids, file names) is shown as
plain text or in a table cell, never as Markdown: an output could carry a Markdown image whose URL leaks data.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import _ui
from dashboard._transcript_view import show_payload
from experiments.record import CaseRecord, RunRecord, Score, SuiteRecord, load_run
from experiments.report import gating_scorer
from review.run_diff import (
    TRACE_ID,
    CaseDiff,
    RunFile,
    SuiteDiff,
    case_diffs,
    diff_runs,
    list_runs,
    regression_item,
)
from review.transcript import case_payload

MAX_CASES = 100
STATUSES = ["all", "regressed", "improved", "unchanged", "not scored"]

_ui.require_user()
cfg = _ui.config()
st.title("Runs")
st.caption(
    "Δ is the paired mean difference of a scorer's scores, new run minus baseline, over the cases both runs "
    "scored, with its 95% bootstrap confidence interval. p is one-sided: the evidence that the new run is "
    "worse than the baseline by more than the allowed drop (the suite gate's max drop; 0 without one). "
    "A small p means a real regression, a large p means the drop may be noise. A case counts as improved "
    "or regressed when its score moved by more than the margin (5% of the scale)."
)


@st.cache_resource(show_spinner=False, max_entries=256)
def _load_cached(path: str, mtime_ns: int, size: int) -> RunRecord:
    # Keyed by the file's stat, so a rewritten file is read again; a run record is frozen, safe to share.
    return load_run(path)


def _load(path: Path) -> RunRecord:
    try:
        stat = path.stat()
    except OSError:
        return load_run(path)  # gone since the folder was listed: load_run says so as a ResultsError
    return _load_cached(str(path), stat.st_mtime_ns, stat.st_size)


@st.cache_resource(show_spinner=False, max_entries=16)
def _diff(base: str, base_stamp: tuple[int, int], new: str, new_stamp: tuple[int, int]) -> list[SuiteDiff]:
    # The bootstrap and permutation test take a moment per scorer; every click reruns the page.
    return diff_runs(_load(Path(base)), _load(Path(new)), source=base)


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


folder = Path(cfg.results_dir)
runs, problems = list_runs(folder, load=_load)
if problems:
    st.warning(f"{len(problems)} file(s) in the results folder could not be read; they are not listed.")
    _ui.show_text("\n".join(problems))
if len(runs) < 2:
    st.info("Two runs are needed to compare. Run `pytest evals/` to write one into the results folder:")
    _ui.show_text(str(folder.resolve()))
    st.stop()

by_path = {str(r.path): r for r in runs}
options = list(by_path)
left, right = st.columns(2)
base_choice = left.selectbox(
    "Baseline run", options, index=1, format_func=lambda p: by_path[p].label, key="runs_base"
)
new_choice = right.selectbox(
    "New run", options, index=0, format_func=lambda p: by_path[p].label, key="runs_new"
)
if base_choice is None or new_choice is None or base_choice == new_choice:
    st.info("Pick two different runs.")
    st.stop()
base: RunFile = by_path[base_choice]
new: RunFile = by_path[new_choice]

with st.spinner("Comparing…"):
    try:
        suites = _diff(str(base.path), _stamp(base.path), str(new.path), _stamp(new.path))
    except OSError:
        st.warning("A run file changed while it was read; reload the page.")
        st.stop()

base_only = [s.suite for s in base.run.suites if new.run.suite(s.suite) is None]
new_only = [s.suite for s in new.run.suites if base.run.suite(s.suite) is None]
if base_only or new_only:
    st.caption("Suites in only one of the runs (not compared):")
    _ui.show_text(f"only in baseline: {', '.join(base_only) or '-'}\nonly in new run: {', '.join(new_only) or '-'}")
if not suites:
    st.info("The two runs have no suite in common.")
    st.stop()

st.subheader("Scorers")
st.caption("gate: the scorer the suite's gate decides on. Moved: improved / regressed / unchanged cases.")


def _ci(low: float | None, high: float | None) -> str:
    return "-" if low is None or high is None else f"[{low:+.3f}, {high:+.3f}]"


table = pd.DataFrame(
    [
        {
            "suite": s.suite,
            "scorer": c.scorer,
            "gate": "gates" if c.scorer == gating_scorer(s.new) else "",
            "paired": c.n_paired,
            "baseline": c.baseline_mean,
            "new": c.mean,
            "Δ": c.mean_diff,
            "Δ 95% CI": _ci(c.low, c.high),
            "p (drop)": c.pvalue,
            "moved": f"{c.improved} / {c.regressed} / {c.unchanged}",
            "added / removed": f"{len(c.added)} / {len(c.removed)}",
        }
        for s in suites
        for c in s.comparisons
    ]
)
number = st.column_config.NumberColumn
st.dataframe(
    table,
    hide_index=True,
    key="runs_table",
    width="stretch",
    column_config={
        "suite": st.column_config.TextColumn(width="small"),
        "scorer": st.column_config.TextColumn(width="medium"),
        "baseline": number("baseline mean", format="%.3f"),
        "new": number("new mean", format="%.3f"),
        "Δ": number(format="%+.3f", help="new − baseline, paired by case"),
        "p (drop)": number(format="%.3g", help="one-sided: evidence of a drop larger than the allowed one"),
        "moved": st.column_config.TextColumn(help="improved / regressed / unchanged (moved more than the margin)"),
    },
)
for s in suites:
    if s.warnings:
        st.warning("This comparison may mislead: the runs differ in more than the code under test.")
        _ui.show_text("\n".join(f"{s.suite}: {w}" for w in s.warnings))
    first = s.comparisons[0] if s.comparisons else None
    if first is not None and (first.added or first.removed):
        _ui.show_text(
            f"{s.suite}: cases added: {', '.join(first.added) or '-'}; removed: {', '.join(first.removed) or '-'}"
        )

st.subheader("Cases")
f1, f2, f3 = st.columns(3)
suite_name = f1.selectbox("Suite", [s.suite for s in suites], key="runs_suite")
suite = next(s for s in suites if s.suite == suite_name)
scorers = [c.scorer for c in suite.comparisons]
if not scorers:
    st.info("The two runs share no scorer in this suite.")
    st.stop()
gates = gating_scorer(suite.new)
scorer = f2.selectbox(
    "Scorer", scorers, key="runs_scorer", format_func=lambda name: f"{name} (gates)" if name == gates else name
)
status = f3.radio("Show", STATUSES, horizontal=True, key="runs_status")
margin = suite.comparison(scorer).margin

rows = [d for d in case_diffs(suite, scorer) if status == "all" or d.status == status]
st.caption(
    f"{len(rows)} cases, regressions first (by Δ); moved by more than {margin:g} counts as improved or regressed"
    + (f"; showing the first {MAX_CASES}" if len(rows) > MAX_CASES else "")
)


def _verdict(score: Score | None) -> str:
    """A score as a reviewer reads it: the score, the label and its probabilities, flags, the reasoning, and a
    panel's members."""
    if score is None:
        return "not scored by this scorer"
    head = "failed: " + (score.failure or "no score") if score.score is None else f"score {score.score:.2f}"
    lines = [head + (f" ({score.judge_model})" if score.judge_model else "")]
    if score.threshold is not None and score.passed is not None:
        lines[0] += f" · {'passed' if score.passed else 'below'} threshold {score.threshold:g}"
    if score.label is not None:
        lines.append(f"label: {score.label}")
    if score.label_probs:
        probs = ", ".join(f"{k.strip()}: {v:.2f}" for k, v in score.label_probs.items())
        lines.append(f"label probabilities{f' ({score.prob_source})' if score.prob_source else ''}: {probs}")
    if score.flags:
        lines.append("flags: " + ", ".join(score.flags))
    if score.reasoning:
        lines.append(score.reasoning)
    lines += [
        f"{m.judge_model}: {'-' if m.score is None else f'{m.score:.2f}'}"
        + (f" {m.reasoning}" if m.reasoning else "")
        for m in score.members
    ]
    return "\n".join(lines)


def _trace(trace_id: str | None, key: str) -> None:
    if not trace_id:  # an untraced run: nothing to link
        return
    _ui.show_text(f"trace: {trace_id}")
    if TRACE_ID.fullmatch(trace_id):
        phoenix = cfg.phoenix_endpoint.rstrip("/").removesuffix("/v1/traces")
        st.link_button("Open trace in Phoenix", f"{phoenix}/redirects/traces/{trace_id}", key=key)


def _steps(case: CaseRecord, score: Score | None, record: SuiteRecord) -> None:
    # A conversation turn by turn (per-turn scores, the scorer's failing turns highlighted), an agent's steps.
    payload = case_payload(case, score, kind=record.kind)
    if not payload:
        return
    conv = "turns" in payload
    steps = "trajectory" in payload or "trajectory_error" in payload
    title = "Conversation and trajectory" if conv and steps else "Conversation, turn by turn" if conv else "Trajectory"
    with st.expander(title):
        show_payload(payload, None, criterion=score.criterion if score is not None else None)


def _send(d: CaseDiff) -> None:
    item = regression_item(suite, d, scorer, base_run_id=base.run.run_id, new_run_id=new.run.run_id)
    added, _ = _ui.store().add_items([item])
    if added:
        st.success("queued for review (escalation)")
    else:
        st.info("already queued")


for d in rows[:MAX_CASES]:
    with st.container(border=True):
        change = "" if d.diff is None else f" · Δ {d.diff:+.2f}"
        _ui.show_text(f"case {d.case_id} · {d.status}{change}")
        st.markdown("**Input**")
        _ui.show_text(d.new.input)
        if d.new.expected is not None:
            st.markdown("**Reference**")
            _ui.show_text(d.new.expected)
        old_col, new_col = st.columns(2)
        for col, side, case, score, record in (
            (old_col, "Baseline", d.base, d.base_score, suite.base),
            (new_col, "New", d.new, d.new_score, suite.new),
        ):
            with col:
                st.markdown(f"**{side} output**")
                _ui.show_text(case.shown_output)
                _ui.show_text(_verdict(score))
                _steps(case, score, record)
                _trace(case.trace_id, key=f"runs_trace:{side}:{suite.suite}:{d.case_id}")
        if d.status == "regressed":
            key = f"runs_send:{suite.suite}:{scorer}:{d.case_id}"
            if st.button("Send to review", key=key, help="Adds the new output to the escalation queue"):
                _send(d)
