"""Baselines: find the run to compare with, check that the comparison means something, and compare.

A baseline is a results file, or a folder of them (the newest run of the baseline branch is taken).
Cases are paired by id; cases added or removed are listed. A baseline whose shared cases have other
inputs or references, another judge model or another score scale is refused with what differs, unless
the caller forces the comparison (then every difference becomes a printed warning).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from experiments.errors import BaselineError, ResultsError
from experiments.record import CaseDelta, CaseRecord, Comparison, RunRecord, ScorerInfo, SuiteRecord, load_run
from judges.stats import regression_test
from tracing.redaction import Redactor


def load_baseline(source: str | os.PathLike[str], *, branch: str | None = None,
                  prefer: Sequence[str] | None = None) -> tuple[RunRecord, Path]:
    """The baseline run: ``source`` itself when a file, else the newest run in the folder of ``branch`` when
    given; else of the first branch of ``prefer`` (default: ``experiments.run.default_branches`` of the
    folder's checkout, i.e. the remote's default branch, then the current one) that has a run there; else of
    the only branch that has one."""
    p = Path(source)
    if p.is_file():
        return load_run(p), p
    if not p.exists():
        raise BaselineError(f"baseline {p} does not exist; pass a results JSON or a folder of them "
                            "(main's run, kept as a CI artifact), or refresh it: see docs/experiments.md")
    runs: list[tuple[RunRecord, Path]] = []
    skipped: list[str] = []
    for f in sorted(p.glob("*.json")):
        if f.name == "latest.json":
            continue  # a copy of the newest run file
        try:
            runs.append((load_run(f), f))
        except ResultsError as exc:
            skipped.append(f"{f.name}: {exc}")
    if not runs:
        why = ("; ".join(skipped[:3])) if skipped else "no *.json files"
        raise BaselineError(f"no usable results file in baseline folder {p} ({why})")
    seen = sorted({str(r.git.branch) for r, _ in runs})
    if branch is None:
        if prefer is None:
            from experiments.run import default_branches

            prefer = default_branches(p)
        branch = next((b for b in prefer if b in seen), seen[0] if len(seen) == 1 else None)
        if branch is None:
            raise BaselineError(f"which branch's run is the baseline in {p}? branches found: {seen}, none of them "
                                f"the default branch (looked for {list(prefer) or 'none known to git'}); pass "
                                "--eval-baseline-branch, or set default_branch in [tool.evalharness] of pyproject.toml")
    on_branch = [(r, f) for r, f in runs if r.git.branch == branch]
    if not on_branch:
        raise BaselineError(f"no run of branch {branch!r} in {p} (branches found: {seen}); "
                            "pass --eval-baseline-branch or name a file")
    return max(on_branch, key=lambda rf: rf[0].started)


def incompatibilities(current: SuiteRecord, base: SuiteRecord, *, judge_model: str, base_judge_model: str) -> list[str]:
    """Why comparing ``current`` with ``base`` would mislead (empty when it would not)."""
    out: list[str] = []
    if judge_model and base_judge_model and judge_model != base_judge_model:
        out.append(f"judge model differs: baseline {base_judge_model!r}, this run {judge_model!r}")
    b_scorers = {s.scorer: s for s in base.scorers}
    for s in current.scorers:
        old = b_scorers.get(s.scorer)
        if old is not None and old.scale != s.scale:
            out.append(f"scorer {s.scorer} scale differs: baseline {old.scale}, this run {s.scale}")
        if old is not None and old.version and s.version and old.version != s.version:
            out.append(f"scorer {s.scorer} version differs (G-Eval steps): baseline {old.version}, this run {s.version}")
    base_cases = {c.case_id: c for c in base.cases}
    changed = [c.case_id for c in current.cases if c.case_id in base_cases
               and not _same_case(base_cases[c.case_id], c)]
    if changed:
        out.append(f"dataset changed: {len(changed)} shared case(s) have another input or reference "
                   f"(e.g. {changed[:3]}); baseline dataset {base.dataset_hash}, this run {current.dataset_hash}")
    return out


def _same_case(base: CaseRecord, current: CaseRecord) -> bool:
    """The same input and reference, also when the baseline was written redacted (``--eval-redact``)."""
    if (base.input, base.expected) == (current.input, current.expected):
        return True
    red = _redactor()
    return (base.input, base.expected) == (red.redact(current.input),
                                           None if current.expected is None else red.redact(current.expected))


@functools.cache
def _redactor() -> Redactor:
    return Redactor()


def compare(current: Sequence[CaseRecord], base: SuiteRecord, scorer: ScorerInfo, *, run_id: str, source: str,
            max_drop: float = 0.0, alpha: float = 0.05, margin: float | None = None, worst: int | None = None,
            warnings: Sequence[str] = ()) -> Comparison:
    """Paired comparison of ``scorer``'s scores in this run against the baseline suite ``base``.

    ``margin``: how far a case's score must move to count as improved or regressed (default 5% of the
    scorer's scale width). ``worst``: how many regressed cases to keep, worst first (None: every one, so a
    report can list them all).
    """
    base_by_id = {c.case_id: c for c in base.cases}
    cur_ids = [c.case_id for c in current]
    added = [i for i in cur_ids if i not in base_by_id]
    removed = [i for i in base_by_id if i not in set(cur_ids)]
    if margin is None:
        lo, hi = scorer.scale or (0.0, 1.0)
        margin = 0.05 * (hi - lo)
    pairs: list[tuple[CaseRecord, CaseRecord, float, float]] = []
    for c in current:
        b = base_by_id.get(c.case_id)
        if b is None:
            continue
        new, old = c.score_of(scorer.scorer), b.score_of(scorer.scorer)
        if (new is not None and old is not None and new.score is not None and old.score is not None
                and not new.abstained and not old.abstained):  # an abstained verdict was not counted
            pairs.append((c, b, new.score, old.score))
    new_v = np.array([p[2] for p in pairs], dtype=float)
    old_v = np.array([p[3] for p in pairs], dtype=float)
    diffs = new_v - old_v
    test = regression_test(new_v, old_v, max_drop=max_drop, alpha=alpha) if len(pairs) >= 2 else None
    deltas = sorted((CaseDelta(case_id=c.case_id, old=o, new=n, diff=n - o, old_output=b.shown_output,
                               new_output=c.shown_output, trace_id=c.trace_id, baseline_trace_id=b.trace_id)
                     for c, b, n, o in pairs), key=lambda d: d.diff)
    return Comparison(
        baseline_run_id=run_id, baseline_source=source, scorer=scorer.scorer, n_paired=len(pairs),
        baseline_mean=float(old_v.mean()) if len(pairs) else None, mean=float(new_v.mean()) if len(pairs) else None,
        mean_diff=test.mean_diff if test else None, low=test.low if test else None,
        high=test.high if test else None, pvalue=test.pvalue if test else None, max_drop=max_drop, alpha=alpha,
        margin=margin, improved=int(np.sum(diffs > margin)), regressed=int(np.sum(diffs < -margin)),
        unchanged=int(np.sum(np.abs(diffs) <= margin)), added=added, removed=removed,
        worst=[d for d in deltas if d.diff < -margin][:worst], warnings=list(warnings),
    )
