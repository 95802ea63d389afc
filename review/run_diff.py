"""Two eval runs side by side: the run files in a results folder, and per suite the paired comparisons.

The statistics are ``experiments.baseline.compare``'s (the same numbers the gate and the terminal table
use); this module only pairs suites and cases and turns a regressed case into a review item.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from experiments.baseline import compare, incompatibilities
from experiments.errors import ResultsError
from experiments.record import CaseRecord, Comparison, RunRecord, Score, ScorerInfo, SuiteRecord, load_run
from experiments.report import suite_verdict

from .fill import PAIRWISE_CHOICES
from .models import JudgeView, NewItem
from .transcript import case_payload

__all__ = ["CaseDiff", "RunFile", "SuiteDiff", "case_diffs", "diff_runs", "list_runs", "regression_item", "run_verdict"]

Status = Literal["regressed", "improved", "unchanged", "not scored"]

#: A W3C trace id (what Phoenix resolves at ``/redirects/traces/<id>``).
TRACE_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class RunFile:
    """A readable results file and the run it holds."""

    path: Path
    run: RunRecord

    @property
    def label(self) -> str:
        """Verdict, start time, branch, short commit and run id: what a person picks a run by (two runs of
        one commit differ in their verdict and time)."""
        git = self.run.git
        return " · ".join(
            [
                run_verdict(self.run),
                self.run.started[:19].replace("T", " "),
                git.branch or "no branch",
                (git.commit or "no commit")[:7],
                self.run.run_id,
            ]
        )


def run_verdict(run: RunRecord) -> str:
    """A run's verdict over its suites' gates: FAIL when one failed, else ADVISORY when one binds nothing,
    else PASS when one passed, else "no gate"."""
    verdicts = {suite_verdict(s) for s in run.suites}
    return next((v for v in ("FAIL", "ADVISORY", "PASS") if v in verdicts), "no gate")


def list_runs(
    folder: str | Path, load: Callable[[Path], RunRecord] = load_run
) -> tuple[list[RunFile], list[str]]:
    """The runs in ``folder``, newest first, and one message per ``*.json`` file that could not be read.

    ``latest.json`` is left out when it is a copy of a run listed under its own name.
    ``load`` (path -> RunRecord) lets a caller cache reads; it defaults to ``load_run``.
    """
    runs: list[RunFile] = []
    problems: list[str] = []
    for path in sorted(Path(folder).glob("*.json")):
        try:
            runs.append(RunFile(path, load(path)))
        except ResultsError as exc:
            problems.append(str(exc))
    named = {r.run.run_id for r in runs if r.path.name != "latest.json"}
    runs = [r for r in runs if not (r.path.name == "latest.json" and r.run.run_id in named)]
    runs.sort(key=lambda r: (r.run.started, r.run.run_id), reverse=True)
    return runs, problems


@dataclass(frozen=True)
class SuiteDiff:
    """One suite present in both runs: its two records and one comparison per scorer both have."""

    suite: str
    base: SuiteRecord
    new: SuiteRecord
    comparisons: tuple[Comparison, ...]
    warnings: tuple[str, ...]  # why the comparison may mislead (dataset, scale or judge model changed)

    def scorer(self, name: str) -> ScorerInfo:
        """The candidate run's description of scorer ``name``."""
        return next(s for s in self.new.scorers if s.scorer == name)

    def comparison(self, name: str) -> Comparison:
        """The comparison of scorer ``name``."""
        return next(c for c in self.comparisons if c.scorer == name)


def diff_runs(base: RunRecord, new: RunRecord, *, source: str = "") -> list[SuiteDiff]:
    """Compare ``new`` with ``base``, suite by suite (suites of ``new`` that ``base`` also has, in order).

    ``max_drop`` and ``alpha`` come from the candidate suite's gate, as in the eval run itself, so the
    p-value here is the one the gate would see (``max_drop`` 0 and ``alpha`` 0.05 without a gate).
    """
    out: list[SuiteDiff] = []
    for suite in new.suites:
        old = base.suite(suite.suite)
        if old is None:
            continue
        gate = suite.gate  # the typed experiments.record.Gate (None: the suite had no gate)
        max_drop = float(gate.max_drop or 0.0) if gate is not None else 0.0
        alpha = float(gate.alpha) if gate is not None else 0.05
        warnings = incompatibilities(
            suite, old, judge_model=new.judge_model, base_judge_model=base.judge_model
        )
        in_base = {s.scorer for s in old.scorers}
        comparisons = tuple(
            compare(
                suite.cases,
                old,
                info,
                run_id=base.run_id,
                source=source or base.run_id,
                max_drop=max_drop,
                alpha=alpha,
                warnings=warnings,
            )
            for info in suite.scorers
            if info.scorer in in_base
        )
        out.append(SuiteDiff(suite.suite, old, suite, comparisons, tuple(warnings)))
    return out


@dataclass(frozen=True)
class CaseDiff:
    """One case of both runs under one scorer. ``diff`` (new − baseline) is None unless both were scored."""

    case_id: str
    status: Status
    base: CaseRecord
    new: CaseRecord
    base_score: Score | None
    new_score: Score | None
    diff: float | None


def case_diffs(suite: SuiteDiff, scorer: str) -> list[CaseDiff]:
    """The cases of both runs under ``scorer``, regressions first (by Δ ascending), unscored pairs last.

    A case is improved or regressed when its score moved by more than the comparison's margin.
    """
    margin = suite.comparison(scorer).margin
    base_cases = {c.case_id: c for c in suite.base.cases}
    out: list[CaseDiff] = []
    for case in suite.new.cases:
        old_case = base_cases.get(case.case_id)
        if old_case is None:
            continue
        old, new = old_case.score_of(scorer), case.score_of(scorer)
        diff: float | None = None
        status: Status = "not scored"
        if old is not None and new is not None and old.score is not None and new.score is not None:
            diff = new.score - old.score
            status = "regressed" if diff < -margin else "improved" if diff > margin else "unchanged"
        out.append(CaseDiff(case.case_id, status, old_case, case, old, new, diff))
    out.sort(key=lambda d: (d.diff is None, d.diff if d.diff is not None else 0.0))
    return out


def _judges(score: Score) -> tuple[JudgeView, ...]:
    if score.members:
        return tuple(JudgeView(m.judge_model, m.score, m.label_probs, m.reasoning) for m in score.members)
    return (JudgeView(score.judge_model or score.scorer, score.score, score.label_probs, score.reasoning),)


def regression_item(
    suite: SuiteDiff, case: CaseDiff, scorer: str, *, base_run_id: str, new_run_id: str
) -> NewItem:
    """An escalation item asking a reviewer to score the candidate's output of a regressed case.

    ``source_id`` names the run, suite, case and scorer, so sending it twice queues it once.
    A pairwise suite's item is answered with a preference (A, B or tie), as the queue fillers do.
    """
    if case.new_score is None or case.base_score is None or case.diff is None:
        raise ValueError(
            f"case {case.case_id!r} has no score in both runs under {scorer!r}; nothing regressed"
        )
    info = suite.scorer(scorer)
    pairwise = suite.new.kind == "pairwise"
    new, old = case.new_score.score, case.base_score.score
    task_span = case.new.task.span_id if case.new.task is not None else None
    return NewItem(
        queue="escalation",
        source_id=f"run:{new_run_id}:{suite.suite}:{case.case_id}:{scorer}",
        input=case.new.input,
        output=case.new.shown_output,
        context=case.new.context,
        expected=case.new.expected,
        criterion=info.criterion,
        suite=suite.suite,
        scale=None if pairwise else info.scale,
        categories=PAIRWISE_CHOICES if pairwise else (),
        judge_score=new,
        judges=_judges(case.new_score),
        reason=f"regressed vs {base_run_id}: {old:.2f} -> {new:.2f}",
        priority=-case.diff,  # the biggest drop is claimed first
        trace_id=case.new.trace_id,
        # The task's span is the one the eval's LLM annotation sits on; the human label goes beside it.
        span_id=task_span,
        meta={
            "case_id": case.case_id,
            "scorer": scorer,
            "kind": suite.new.kind,
            "run_id": new_run_id,
            "baseline_run_id": base_run_id,
            "baseline_score": old,
            "new_score": new,
            "diff": case.diff,
            "baseline_output": case.base.shown_output,
            "baseline_trace_id": case.base.trace_id,
            # a regressed conversation or agent case shows its transcript or trajectory, as filled items do
            **case_payload(case.new, case.new_score, kind=suite.new.kind),
        },
    )
