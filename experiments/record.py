"""The one typed record of a run: what the plugin writes, the results file holds, and the dashboard reads.

A run (``RunRecord``) holds suites (``SuiteRecord``); a suite holds its summary and one ``CaseRecord``
per case; a case holds what the task under test produced (``TaskRun``) and one ``Score`` per scorer
or judge. Nobody re-declares this shape: the dashboard, the exports and the baselines import it.

The file is versioned (``schema_version``). A file of another version is refused with a message that
says how to get a current one; see docs/experiments.md for the field reference.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from experiments.errors import ResultsError
from judges.records import Interval, load_record
from tracing.files import write_private_text

SCHEMA_VERSION = 2


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Calls(_Model):
    """Model calls spent on one score (cache hits are not calls)."""

    model_calls: int = 0
    cache_hits: int = 0
    tokens: int = 0


class MemberScore(_Model):
    """One judge model's verdict inside a panel."""

    judge_model: str
    score: float | None = None
    label_probs: dict[str, float] | None = None
    reasoning: str | None = None
    failure: str | None = None


class Score(_Model):
    """One scorer's (or judge's) verdict on one case. ``score`` is None exactly when ``failure`` says why."""

    scorer: str  # the scorer's name, e.g. "geval:Coherence" or "token_f1"
    criterion: str  # what it measures, e.g. "Coherence"; labels in the review store are filed under it
    kind: Literal["judge", "scorer"]  # an LLM judge, or a deterministic scorer
    scale: tuple[float, float] | None = None
    score: float | None = None
    threshold: float | None = None
    passed: bool | None = None
    label: str | None = None
    label_probs: dict[str, float] | None = None
    prob_source: str | None = None
    entropy: float | None = None
    reasoning: str | None = None
    judge_model: str = ""
    members: list[MemberScore] = []
    failure: str | None = None
    raw: str = ""
    flags: list[str] = []
    details: dict[str, Any] = {}
    calls: Calls = Calls()
    trace_id: str | None = None
    span_id: str | None = None

    @property
    def abstained(self) -> bool:
        """The judge was too unsure to count this verdict (its abstain band): a human reviews the case instead."""
        return "abstained" in self.flags

    def annotation(self, span_id: str, *, source: str, metadata: dict[str, Any] | None = None) -> Any:
        """This verdict as the span annotation of ``tracing.annotations`` (the one naming rule: name =
        criterion, identifier = ``source``; CODE for a scorer, LLM for a judge). A failure is labelled
        ``judge_failure`` (``not_evaluable`` when flagged so) with the reason as the explanation, never a score."""
        from tracing.annotations import verdict_annotation

        failed = self.failure is not None
        label = ("not_evaluable" if "not_evaluable" in self.flags else "judge_failure") if failed else self.label
        meta = {"scorer": self.scorer, "judge_model": self.judge_model, "prob_source": self.prob_source,
                "label_probs": self.label_probs, "entropy": self.entropy, "flags": list(self.flags),
                "passed": self.passed, "threshold": self.threshold, **(metadata or {})}
        return verdict_annotation(span_id, criterion=self.criterion, source=source,
                                  kind="LLM" if self.kind == "judge" else "CODE", score=None if failed else self.score,
                                  label=label, explanation=self.failure if failed else self.reasoning, metadata=meta,
                                  trace_id=self.trace_id)


class TaskRun(_Model):
    """What the task under test did for one case. ``error`` is set when it raised or timed out."""

    output: str | None = None
    contexts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    error: str | None = None
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    trace_id: str | None = None
    span_id: str | None = None
    turns: list[dict[str, Any]] = []  # a conversation, turn by turn (simulated suites)
    spans: list[dict[str, Any]] = []  # the task's own spans (agent suites: the trajectory is read from them)


class CaseRecord(_Model):
    """One case: its inputs, what was judged, what the task did, and every score."""

    case_id: str
    input: str
    context: str | None = None
    expected: str | None = None
    output: str | None = None  # the output that was judged (pointwise)
    output_a: str | None = None  # pairwise: the two candidates
    output_b: str | None = None
    metadata: dict[str, Any] = {}
    task: TaskRun | None = None
    task_b: TaskRun | None = None
    scores: list[Score] = []
    trace_id: str | None = None  # the case's root span (task and evaluators beneath it)

    def score_of(self, scorer: str | None = None) -> Score | None:
        """The score by scorer name (the first, the suite's primary scorer, when None)."""
        if scorer is None:
            return self.scores[0] if self.scores else None
        return next((s for s in self.scores if s.scorer == scorer), None)

    @property
    def shown_output(self) -> str:
        """The output as a reviewer reads it (pairwise: both candidates)."""
        if self.output is not None:
            return self.output
        if self.output_a is not None or self.output_b is not None:
            return f"A: {self.output_a}\n\nB: {self.output_b}"
        return ""


class ScorerInfo(_Model):
    """A scorer of a suite, as the run knew it."""

    scorer: str
    criterion: str
    kind: Literal["judge", "scorer"]
    scale: tuple[float, float] | None = None
    threshold: float | None = None
    version: str | None = None  # e.g. the G-Eval steps' content hash
    pairwise: bool = False  # scores are A-wins (1) / tie (0.5) / B-wins (0): summarised as win rates
    needs_baseline: bool = False  # judges this run's output against the baseline run's (VersusBaseline)
    fingerprint: str | None = None  # an LLM judge's configuration hash: matches it with its meta-evaluation


class TaskInfo(_Model):
    """The task under test: its name, the user's version string and a fingerprint of its definition."""

    name: str
    version: str = ""
    fingerprint: str = ""
    cached: bool = False


class PairwiseRates(_Model):
    win: Interval
    tie: Interval
    loss: Interval
    win_rate: Interval
    length_controlled: Interval
    consistency: Interval
    distinct: int | None = None  # verdicts on pairs whose two candidates differ
    distinct_ties: int | None = None  # of those, ties


class ScorerSummary(_Model):
    """Aggregates of one scorer over a suite's cases; every mean and rate carries a bootstrap 95% CI."""

    scorer: str
    criterion: str
    kind: Literal["judge", "scorer"]
    n_scored: int
    failures: int
    mean: Interval
    pass_rate: Interval | None = None
    below_threshold: int = 0
    pairwise: PairwiseRates | None = None
    needs_baseline: bool = False
    abstained: int = 0  # verdicts the judge abstained on (sent to review, left out of the aggregates)


class CaseDelta(_Model):
    """One case's score in the baseline and in this run."""

    case_id: str
    old: float
    new: float
    diff: float
    old_output: str | None = None
    new_output: str | None = None
    trace_id: str | None = None
    baseline_trace_id: str | None = None


class Comparison(_Model):
    """This run against a baseline run on the cases both scored (paired by case id)."""

    baseline_run_id: str
    baseline_source: str
    scorer: str
    n_paired: int
    baseline_mean: float | None
    mean: float | None
    mean_diff: float | None
    low: float | None
    high: float | None
    pvalue: float | None  # one-sided: H0 "the drop is at most max_drop"
    max_drop: float
    alpha: float
    margin: float  # a case counts as improved / regressed when its score moved more than this
    improved: int
    regressed: int
    unchanged: int
    added: list[str] = []
    removed: list[str] = []
    worst: list[CaseDelta] = []
    warnings: list[str] = []


class Gate(_Model):
    """A suite's pass/fail rule. Every check that is set must hold.

    * ``min``: ``metric`` ("mean", "pass_rate" or "win_rate" of the gating scorer) must reach it, on the
      lower bound of its 95% CI (``on="ci_low"``, the default) or on the estimate (``on="point"``).
    * ``max_drop``: a regression test against the baseline run: the suite fails when the paired mean
      difference (new − baseline) shows a drop significantly larger than ``max_drop`` (one-sided test at
      ``alpha``); a change that is noise passes. Without a baseline the check is skipped and says so.
    * ``max_judge_failure_rate`` / ``max_task_error_rate``: more failures than this fail the suite.
    * Alignment: when the gating scorer is an LLM judge, the gate is binding only if a meta-evaluation of
      that judge (same configuration, same model) on at least ``min_human_labels`` human labels has an
      agreement (Cohen's kappa for preferences, quadratic-weighted kappa for scores) whose 95% CI lower
      bound reaches ``min_agreement``. Otherwise, with ``alignment="advisory"``, the verdict is reported
      but binds nothing (``passed`` None, ``advisory`` says why; task errors still fail the suite); with
      ``alignment="strict"`` the suite fails. Deterministic scorers need no evidence.
    * A pairwise gate never passes when every verdict on two differing candidates is a tie.
    * ``scorer``: which scorer gates (default: the suite's first).
    """

    min: float | None = None
    metric: Literal["mean", "pass_rate", "win_rate"] = "mean"
    on: Literal["point", "ci_low"] = "ci_low"
    max_drop: float | None = None
    alpha: float = 0.05
    max_judge_failure_rate: float = 0.2
    max_task_error_rate: float = 0.05
    scorer: str | None = None
    min_human_labels: int = 50
    min_agreement: float = 0.4
    alignment: Literal["advisory", "strict"] = "advisory"

    @model_validator(mode="before")
    @classmethod
    def _choices(cls, data: Any) -> Any:
        # the message names the setting and the choices, in the words of the Gate's docs
        if isinstance(data, dict):
            for key, allowed in (("metric", ("mean", "pass_rate", "win_rate")), ("on", ("point", "ci_low")),
                                 ("alignment", ("advisory", "strict"))):
                if key in data and data[key] not in allowed:
                    raise ValueError(f"Gate {key} {data[key]!r} is not one of {', '.join(map(repr, allowed))}")
        return data

    @model_validator(mode="after")
    def _check(self) -> Gate:
        if self.min is None and self.max_drop is None:
            raise ValueError("Gate needs min=... (an absolute bar) or max_drop=... (a regression test), or both")
        if self.max_drop is not None and self.max_drop < 0:
            raise ValueError(f"Gate max_drop must be >= 0 (a drop is a positive number), got {self.max_drop}")
        if not 0 < self.alpha < 1:
            raise ValueError(f"Gate alpha must be in (0, 1), got {self.alpha}")
        if self.min_human_labels < 1:
            raise ValueError(f"Gate min_human_labels must be >= 1, got {self.min_human_labels}")
        if not -1 <= self.min_agreement <= 1:
            raise ValueError(f"Gate min_agreement is a kappa in [-1, 1], got {self.min_agreement}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


class GateResult(_Model):
    """A suite's verdict. ``passed`` None means the gate had nothing binding to decide on.

    ``advisory`` says why the gate is not binding (its judge lacks evidence of agreement with humans): the
    checks are reported but do not fail the suite.
    """

    passed: bool | None
    reason: str
    checks: list[str] = []
    advisory: str | None = None


class Alignment(_Model):
    """What the gate knew of its judge's agreement with human labels: a meta-evaluation, or why there is none."""

    judge: str
    judge_model: str
    source: str | None = None  # the meta-evaluation file
    n_labels: int = 0
    metric: str | None = None  # "cohen_kappa" or "quadratic_kappa"
    agreement: Interval | None = None
    error_rate: Interval | None = None  # disagreement with the humans (1 - accuracy)
    note: str | None = None  # why no evidence applies (none found, another configuration, another model)


class SuiteSummary(_Model):
    """What a suite's table row and the gate read."""

    n: int
    task_errors: int = 0
    judge_failures: int = 0
    flagged: int = 0
    cache_hits: int = 0
    model_calls: int = 0
    tokens: int = 0
    task_latency_s: Interval | None = None
    scorers: list[ScorerSummary] = []
    comparisons: list[Comparison] = []  # one per scorer the baseline also has
    baseline_note: str | None = None  # why there is no comparison (no baseline, suite not in it, refused)
    gate: GateResult | None = None
    alignment: Alignment | None = None  # the gating judge's evidence of agreement with humans

    def scorer(self, name: str | None = None) -> ScorerSummary | None:
        """The summary of scorer ``name`` (the primary scorer when None)."""
        if name is None:
            return self.scorers[0] if self.scorers else None
        return next((s for s in self.scorers if s.scorer == name), None)

    def comparison(self, scorer: str | None = None) -> Comparison | None:
        """The comparison with the baseline for ``scorer`` (the primary scorer when None)."""
        name = scorer or (self.scorers[0].scorer if self.scorers else None)
        return next((c for c in self.comparisons if c.scorer == name), None)


class SuiteRecord(_Model):
    """One suite of a run."""

    suite: str
    kind: str
    dataset: str
    dataset_hash: str
    task: TaskInfo | None = None
    task_b: TaskInfo | None = None
    scorers: list[ScorerInfo]
    gate: Gate | None = None  # the gate's settings (its verdict is ``summary.gate``); files of any version hold
    # the same keys, and keys added since (alignment, min_agreement, min_human_labels) have their defaults
    summary: SuiteSummary
    cases: list[CaseRecord]

    @property
    def primary(self) -> ScorerInfo | None:
        return self.scorers[0] if self.scorers else None


class GitInfo(_Model):
    commit: str | None = None
    branch: str | None = None
    dirty: bool | None = None


class RunRecord(_Model):
    """A whole run: ``results/<run_id>.json``."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    started: str
    finished: str
    git: GitInfo = GitInfo()
    harness_version: str = ""
    judge_model: str = ""
    baseline: str | None = None
    redacted: bool = False  # written with --eval-redact: personal data and keys in the cases are masked
    suites: list[SuiteRecord] = Field(default_factory=list)

    def suite(self, name: str) -> SuiteRecord | None:
        return next((s for s in self.suites if s.suite == name), None)


def redact_run(run: RunRecord, redactor: Any = None) -> RunRecord:
    """``run`` with e-mails, phone numbers, card numbers and keys masked in every case (inputs, outputs,
    contexts, transcripts, tool calls, reasoning, raw replies, metadata) and in the baseline comparison's
    worst-case outputs, by the tracing redactor's rules; identifiers and numbers are kept, and the record
    says it is ``redacted``. What ``pytest evals/ --eval-redact`` writes."""
    from tracing.redaction import Redactor

    red = redactor or Redactor()
    data = run.model_dump(mode="json")
    for suite in data["suites"]:
        suite["cases"] = red.redact_tree(suite["cases"])
        for comparison in suite["summary"].get("comparisons") or []:
            comparison["worst"] = red.redact_tree(comparison["worst"])
    return RunRecord.model_validate({**data, "redacted": True})


def load_run(path: str | os.PathLike[str]) -> RunRecord:
    """Read and validate a results file; every problem is a ResultsError naming the file and the fix."""
    return load_record(path, RunRecord, version=SCHEMA_VERSION, what="results file", rewrite="rerun `pytest evals/`",
                       error=ResultsError)


def write_run(run: RunRecord, path: str | os.PathLike[str]) -> Path:
    """Write ``run`` to ``path`` atomically (readers never see half a file), 0600 in folders made 0700: it holds
    every case's input and output."""
    return write_private_text(path, run.model_dump_json(indent=1))
