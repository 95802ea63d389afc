"""Assembling a run: suite headers, suite records with their baseline comparison, and run metadata."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from experiments.alignment import alignment_of
from experiments.baseline import compare, incompatibilities
from experiments.errors import BaselineError
from experiments.record import CaseRecord, GitInfo, RunRecord, ScorerInfo, SuiteRecord, SuiteSummary, TaskInfo
from experiments.suite import EvalSuite, Gate, summarize
from judges.meta_eval import MetaEvalRecord


def suite_header(suite: EvalSuite) -> dict[str, Any]:
    """What the controller needs to know of a suite besides its records (travels across xdist workers)."""
    task, task_b = suite.task_infos()
    return {
        "suite": suite.name, "kind": suite.kind, "dataset": suite.dataset, "dataset_hash": suite.dataset_hash,
        "task": task.model_dump() if task else None, "task_b": task_b.model_dump() if task_b else None,
        "scorers": [s.model_dump() for s in suite.scorer_infos()],
        "gate": suite.gate.to_dict() if suite.gate else None,
    }


@dataclass
class Baseline:
    """The baseline run this run is compared with, and whether differences are forced through."""

    run: RunRecord
    source: str
    force: bool = False
    warnings: list[str] = field(default_factory=list)


def _versions(scorers: Sequence[ScorerInfo], records: Sequence[CaseRecord]) -> list[ScorerInfo]:
    """Scorer infos with the version each scorer reported (G-Eval's steps hash) filled in."""
    out = []
    for info in scorers:
        version = next((s.details.get("steps_version") for r in records for s in r.scores
                        if s.scorer == info.scorer and s.details.get("steps_version")), None)
        out.append(info.model_copy(update={"version": version}) if version else info)
    return out


def suite_record(header: dict[str, Any], records: Sequence[CaseRecord], *, baseline: Baseline | None,
                 judge_model: str, evidence: Sequence[tuple[MetaEvalRecord, str]] = ()) -> SuiteRecord:
    """A suite's record: its cases in dataset order, its summary, its comparisons and its gate verdict.

    ``evidence``: meta-evaluations of judges (``experiments.alignment.load_evidence``); the gate of an LLM
    judge without a qualifying one is advisory. Raises BaselineError when the baseline differs in a way
    that makes the comparison meaningless and the comparison is not forced.
    """
    scorers = _versions([ScorerInfo(**s) for s in header["scorers"]], records)
    gate = Gate(**header["gate"]) if header["gate"] else None
    kind = header["kind"]
    partial = SuiteRecord(suite=header["suite"], kind=kind, dataset=header["dataset"],
                          dataset_hash=header["dataset_hash"],
                          task=TaskInfo(**header["task"]) if header["task"] else None,
                          task_b=TaskInfo(**header["task_b"]) if header["task_b"] else None,
                          scorers=scorers, gate=header["gate"], summary=SuiteSummary(n=len(records)),
                          cases=list(records))
    comparisons = []
    note: str | None = None
    refused = False
    if baseline is None:
        note = "no baseline"
    else:
        base = baseline.run.suite(partial.suite)
        if base is None:
            note = f"suite not in baseline run {baseline.run.run_id}"
        else:
            problems = incompatibilities(partial, base, judge_model=judge_model, base_judge_model=baseline.run.judge_model)
            if problems and not baseline.force:
                note, refused = "; ".join(problems) + " (pass --eval-baseline-force to compare anyway)", True
            else:
                warnings = [f"forced comparison: {p}" for p in problems]
                baseline.warnings.extend(f"{partial.suite}: {w}" for w in warnings)
                base_scorers = {s.scorer for s in base.scorers}
                for info in scorers:
                    if info.scorer in base_scorers:
                        comparisons.append(compare(
                            records, base, info, run_id=baseline.run.run_id, source=baseline.source,
                            max_drop=gate.max_drop if gate and gate.max_drop is not None else 0.0,
                            alpha=gate.alpha if gate else 0.05, warnings=warnings))
    gating = next((i for i in scorers if i.scorer == gate.scorer), None) if gate and gate.scorer else (
        scorers[0] if scorers else None)
    alignment = (alignment_of(evidence, gating, judge_model) if gate is not None and gating is not None
                 and gating.kind == "judge" else None)
    summary = summarize(scorers, records, kind=kind, gate=gate, comparisons=comparisons, baseline_note=note,
                        baseline_refused=refused, alignment=alignment)
    return partial.model_copy(update={"summary": summary})


def _git(cwd: str | Path, *args: str) -> str | None:
    """``git args`` in ``cwd``: its output, or None when git is missing or fails."""
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_info(cwd: str | Path = ".") -> GitInfo:
    """Commit, branch and dirty flag of the checkout (CI variables name the branch on detached heads)."""
    import os

    def git(*args: str) -> str | None:
        return _git(cwd, *args)

    commit = git("rev-parse", "HEAD")
    branch = os.environ.get("GITHUB_HEAD_REF") or os.environ.get("GITHUB_REF_NAME") or git("rev-parse", "--abbrev-ref", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return GitInfo(commit=commit, branch=None if branch == "HEAD" else branch,
                   dirty=None if status is None else bool(status))


def default_branches(cwd: str | Path = ".") -> list[str]:
    """The branches whose run a baseline folder gives, in order of preference: ``[tool.evalharness]
    default_branch`` when set; else the remote's default branch (``git symbolic-ref refs/remotes/origin/HEAD``),
    then the branch checked out now (CI variables first). ``experiments.baseline.load_baseline`` then falls
    back to the only branch with a run."""
    from tracing.project import project_root, settings

    if chosen := settings(project_root(Path(cwd))).get("default_branch"):
        return [chosen]
    out: list[str] = []
    remote_head = _git(cwd, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
    if remote_head:
        out.append(remote_head.removeprefix("origin/"))
    current = git_info(cwd).branch
    if current and current not in out:
        out.append(current)
    return out


def harness_version() -> str:
    try:
        return metadata.version("evalharness")
    except metadata.PackageNotFoundError:
        return "unknown"


def check_baseline_usable(baseline: Baseline) -> None:
    """Refuse a baseline without suites: it could only ever say "no comparison"."""
    if not baseline.run.suites:
        raise BaselineError(f"baseline {baseline.source} holds no suites; pass another run")
