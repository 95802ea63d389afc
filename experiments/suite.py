"""Eval suites: a dataset, the task under test, scorers and judges, a per-case threshold and a gate.

``run_case`` runs the task on one case and scores what it produced; ``summarize`` aggregates a suite's
records and decides its gate. Pass/fail of a case is decided in ``to_score`` and nowhere else; the
suite's verdict in ``decide_gate`` and nowhere else.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Literal

import numpy as np

from experiments.errors import TaskError
from experiments.record import (
    Alignment,
    Calls,
    CaseRecord,
    Comparison,
    Gate,
    GateResult,
    Interval,
    MemberScore,
    PairwiseRates,
    Score,
    ScorerInfo,
    ScorerSummary,
    SuiteSummary,
    TaskInfo,
    TaskRun,
)
from experiments.task import PromptTask, TaskLike, TaskOutput, as_task, execute
from judges._judge import Judge, judge_fingerprint
from judges.case import Case
from judges.client import ModelClient
from judges.datasets import dataset_path, load_cases
from judges.pairwise import PairwiseJudge
from judges.results import JudgeFailure, Judgement, Result
from judges.stats import Estimate as _Est
from judges.stats import mean_ci, win_rates


@dataclass(frozen=True)
class VersusBaseline:
    """Pairwise-vs-baseline: ``pairwise_judge`` compares this run's output (A) with the baseline run's output for the
    same case (B), in both orders. Gate on it with ``Gate(min=..., metric="win_rate", scorer=<its name>)``:
    a win rate of 0.5 means "as good as the baseline". Without a baseline run it scores nothing.
    """

    pairwise_judge: PairwiseJudge
    uses_model = True
    scale = (0.0, 1.0)

    @property
    def judge_name(self) -> str:
        return f"vs_baseline:{self.pairwise_judge.metric_name[:40]}"

    @property
    def metric_name(self) -> str:
        return self.pairwise_judge.metric_name

    @property
    def fingerprint(self) -> str:
        """The inner pairwise judge's: its meta-evaluation is this scorer's evidence."""
        return judge_fingerprint(self.pairwise_judge)

    async def judge(self, client: ModelClient, case: Case) -> Result:
        base = case.metadata.get("baseline_output")
        if not isinstance(base, str) or case.output is None:
            return JudgeFailure(self.judge_name, client.info.model,
                                f"case {case.id!r} has no {'output' if case.output is None else 'baseline output'} to compare")
        pair = Case(case.id, case.input, context=case.context, expected=case.expected, output_a=case.output,
                    output_b=base, metadata=case.metadata)
        result = await self.pairwise_judge.judge(client, pair)
        return replace(result, judge=self.judge_name)


@dataclass(frozen=True)
class EvalSuite:
    """A named suite: cases from ``dataset`` (JSONL of ``kind`` in ``datasets/``), run through ``task``,
    scored by ``judge`` and ``scorers``.

    ``task``: the feature under test, a callable ``case -> str | TaskOutput`` (sync or async), a ``Task``
    or a ``PromptTask``; without one the suite judges the outputs written in the dataset. ``task_b``
    (pairwise suites): a second variant; each case is judged A (task) against B (task_b) in both orders.
    ``threshold``: a case passes when the primary scorer's score reaches it. The primary scorer is
    ``judge`` when given, else the first of ``scorers``. ``cache_task``: serve the task's model calls
    from the call cache (off by default: a suite must see what the application does now).
    """

    name: str
    dataset: str
    kind: str
    judge: Judge | None = None
    scorers: tuple[Judge, ...] = ()
    task: Any = None
    task_b: Any = None
    threshold: float | None = None
    gate: Gate | None = None
    cache_task: bool = False
    task_timeout_s: float = 300.0
    task_concurrency: int = 4

    def __post_init__(self) -> None:
        if self.judge is None and not self.scorers:
            raise ValueError(f"suite {self.name!r} needs a judge=... or scorers=(...)")
        if self.task_b is not None and self.kind != "pairwise":
            raise ValueError(f"suite {self.name!r}: task_b compares two variants head to head; use kind='pairwise'")
        names = [s.judge_name for s in self.all_scorers]
        if len(set(names)) != len(names):
            raise ValueError(f"suite {self.name!r} has two scorers named alike: {names}; give them distinct names")
        if self.task_concurrency < 1:
            raise ValueError(f"suite {self.name!r}: task_concurrency must be >= 1, got {self.task_concurrency}")

    @property
    def all_scorers(self) -> tuple[Judge, ...]:
        return ((self.judge,) if self.judge is not None else ()) + tuple(self.scorers)

    @cached_property
    def tasks(self) -> tuple[TaskLike | None, TaskLike | None]:
        """The task and task_b, wrapped; a PromptTask learns the suite's cache_task setting."""
        def wrap(t: Any) -> TaskLike | None:
            if t is None:
                return None
            if isinstance(t, PromptTask) and t.cache != self.cache_task:
                t = replace(t, cache=self.cache_task)  # a copy: the same task may serve suites that differ here
            return as_task(t)
        return wrap(self.task), wrap(self.task_b)

    @cached_property
    def _cases(self) -> tuple[Case, ...]:
        cases = tuple(load_cases(self.dataset, self.kind))
        if self.task is None:
            missing = [c.id for c in cases if (c.output is None if self.kind != "pairwise"
                                               else c.output_a is None or c.output_b is None)]
            if missing:
                what = "output_a/output_b" if self.kind == "pairwise" else "an output"
                raise TaskError(f"suite {self.name!r} has no task, so every row must carry {what} to judge; "
                                f"rows without: {missing[:5]}{'...' if len(missing) > 5 else ''}. "
                                "Give the suite a task=... or fill those rows")
        return cases

    def cases(self) -> list[Case]:
        """The suite's cases, validated (a bad row raises DatasetError naming file, line and field)."""
        return list(self._cases)

    @cached_property
    def dataset_hash(self) -> str:
        return hashlib.sha256(dataset_path(self.dataset).read_bytes()).hexdigest()[:16]

    def scorer_infos(self) -> list[ScorerInfo]:
        return [ScorerInfo(scorer=s.judge_name, criterion=s.metric_name, kind=_kind(s),
                           scale=_scale(s), threshold=self.threshold if i == 0 else None,
                           pairwise=isinstance(s, (PairwiseJudge, VersusBaseline)),
                           fingerprint=judge_fingerprint(s) if _kind(s) == "judge" else None,
                           needs_baseline=isinstance(s, VersusBaseline))
                for i, s in enumerate(self.all_scorers)]

    def task_infos(self) -> tuple[TaskInfo | None, TaskInfo | None]:
        return tuple(None if t is None else TaskInfo(name=t.name, version=t.version, fingerprint=t.fingerprint,
                                                     cached=self.cache_task)
                     for t in self.tasks)  # type: ignore[return-value]


def _kind(scorer: Judge) -> Literal["judge", "scorer"]:
    return "judge" if getattr(scorer, "uses_model", True) else "scorer"


def _scale(scorer: Judge) -> tuple[float, float] | None:
    scale = getattr(scorer, "scale", None)
    return (float(scale[0]), float(scale[1])) if scale else None


def to_score(scorer: Judge, result: Result, *, threshold: float | None, trace_id: str | None = None,
             span_id: str | None = None) -> Score:
    """The record of one verdict. The only place a case's pass/fail is decided."""
    calls = Calls(model_calls=result.calls.model_calls, cache_hits=result.calls.cache_hits,
                  tokens=result.calls.prompt_tokens + result.calls.completion_tokens)
    common: dict[str, Any] = {"scorer": scorer.judge_name, "criterion": scorer.metric_name, "kind": _kind(scorer),
                              "scale": _scale(scorer), "threshold": threshold, "judge_model": result.judge_model,
                              "raw": result.raw, "flags": list(result.flags), "calls": calls, "trace_id": trace_id,
                              "span_id": span_id}
    if not isinstance(result, Judgement):
        return Score(**common, failure=result.reason)
    members = [MemberScore(**m) for m in result.details.get("members", [])]
    details = {k: v for k, v in result.details.items() if k != "members"}
    abstained = "abstained" in result.flags  # the case goes to review: neither passed nor failed
    return Score(**common, score=result.score,
                 passed=None if threshold is None or abstained else bool(result.score >= threshold),
                 label=result.label, label_probs=result.label_probs, prob_source=result.prob_source,
                 entropy=result.entropy, reasoning=result.reasoning, members=members, details=details)


def _task_run(out: TaskOutput | None, error: str | None, latency_s: float, ids: tuple[str, str] | None) -> TaskRun:
    return TaskRun(output=out.text if out else None, contexts=list(out.contexts) if out else [],
                   tool_calls=[dict(t) for t in out.tool_calls] if out else [], error=error,
                   latency_s=round(latency_s, 6), prompt_tokens=out.prompt_tokens if out else 0,
                   completion_tokens=out.completion_tokens if out else 0,
                   trace_id=ids[0] if ids else None, span_id=ids[1] if ids else None,
                   turns=[dict(t) for t in out.turns] if out else [], spans=[dict(s) for s in out.spans] if out else [])


async def _run_task(task: TaskLike, case: Case, suite: EvalSuite, label: str) -> TaskRun:
    import tracing

    # eval.task names the task (its name, as in the span's name); eval.task_slot says which candidate of a
    # pairwise suite it is ("a" or "b")
    attributes = {"eval.suite": suite.name, "eval.case_id": case.id, "eval.task": task.name}
    if suite.tasks[1] is not None:
        attributes["eval.task_slot"] = label
    with tracing.chain_span(f"task:{task.name}", input=case.input, attributes=attributes) as span:
        res = await execute(task, case, timeout_s=suite.task_timeout_s)
        ids = span.ids
        if res.output is not None:
            span.set_output(res.output.text)
        elif span.recording:
            from opentelemetry.trace import Status, StatusCode

            span.span.set_status(Status(StatusCode.ERROR, res.error))
    return _task_run(res.output, res.error, res.latency_s, ids)


def _judged_case(case: Case, suite: EvalSuite, a: TaskRun | None, b: TaskRun | None) -> Case:
    """The case as the judges see it: the task's output (and retrieved contexts) in place of the file's."""
    if a is None:
        return case
    context = case.context
    if a.contexts:
        context = "\n\n".join(f"[{i}] {c}" for i, c in enumerate(a.contexts, 1))
    if suite.kind == "pairwise":
        return Case(case.id, case.input, context=context, expected=case.expected, output_a=a.output,
                    output_b=b.output if b else case.output_b, metadata=case.metadata)
    metadata = case.metadata
    if a.turns or a.spans:  # conversation and trajectory judges read the transcript and the spans from here
        metadata = {**metadata, **({"turns": a.turns} if a.turns else {}), **({"spans": a.spans} if a.spans else {})}
    return Case(case.id, case.input, output=a.output, context=context, expected=case.expected,
                metadata=metadata)


async def _score(scorer: Judge, client: ModelClient, case: Case, suite: EvalSuite, threshold: float | None) -> Score:
    import tracing

    with tracing.evaluator_span(scorer.judge_name, suite=suite.name, case_id=case.id,
                                input=case.output if case.output is not None else case.input) as ev:
        result = await scorer.judge(client, case)
        if isinstance(result, Judgement):
            ev.set_result(score=result.score, label=result.label, explanation=result.reasoning)
        else:
            ev.set_result(score=None, label="judge_failure", explanation=result.reason)
            ev.set_failure(result.reason)
        ids = ev.ids
    return to_score(scorer, result, threshold=threshold, trace_id=ids[0] if ids else None,
                    span_id=ids[1] if ids else None)


async def run_case(suite: EvalSuite, case: Case, client: ModelClient, *, run_id: str = "",
                   semaphore: asyncio.Semaphore | None = None, baseline_output: str | None = None) -> CaseRecord:
    """Run the task on ``case`` (bounded by ``semaphore``), then every scorer, all under one root span.

    ``baseline_output``: the baseline run's output for this case, for ``VersusBaseline`` scorers (which are
    skipped without one).
    """
    import tracing

    with tracing.chain_span(f"eval:{suite.name}", input=case.input, attributes={
            "eval.run_id": run_id, "eval.suite": suite.name, "eval.case_id": case.id}) as root:
        task, task_b = suite.tasks
        a = b = None
        if task is not None:
            async with semaphore or _NO_LIMIT:
                a, b = await asyncio.gather(_run_task(task, case, suite, "a"),
                                            _run_task(task_b, case, suite, "b") if task_b else _none())
        failed = any(t is not None and t.error is not None for t in (a, b))
        judged = _judged_case(case, suite, a, b)
        scores: list[Score] = []
        if not failed:  # a task that failed produced nothing to judge: its case is a task error, not a score
            if baseline_output is not None:
                judged = replace(judged, metadata={**judged.metadata, "baseline_output": baseline_output})
            scores = list(await asyncio.gather(*(
                _score(s, client, judged, suite, suite.threshold if i == 0 else None)
                for i, s in enumerate(suite.all_scorers)
                if baseline_output is not None or not isinstance(s, VersusBaseline))))
        root.set_output(judged.output if judged.output is not None else None)
        ids = root.ids
    return CaseRecord(case_id=case.id, input=case.input, context=judged.context, expected=case.expected,
                      output=judged.output, output_a=judged.output_a, output_b=judged.output_b,
                      metadata=case.metadata, task=a, task_b=b, scores=scores, trace_id=ids[0] if ids else None)


async def _none() -> None:
    return None


class _NoLimit:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_NO_LIMIT = _NoLimit()


# --- summaries and the gate ---------------------------------------------------------------------------------


def estimate(e: _Est | None) -> Interval | None:
    return None if e is None else Interval.of(e)


def summarize_scorer(info: ScorerInfo, records: Sequence[CaseRecord], *, pairwise: bool) -> ScorerSummary:
    scores = [r.score_of(info.scorer) for r in records]
    given = [s for s in scores if s is not None]
    abstained = [s for s in given if s.score is not None and s.abstained]  # sent to review, not counted
    scored = [s for s in given if s.score is not None and not s.abstained]
    values = np.array([s.score for s in scored], dtype=float)
    verdicts = [s.passed for s in scored if s.passed is not None]
    rates = None
    if pairwise and scored:
        wr = win_rates(values, length_diff=[s.details.get("length_diff", 0) for s in scored],
                       consistent=[bool(s.details.get("consistent", True)) for s in scored])
        distinct = [s for s in scored if not s.details.get("identical", False)]
        rates = PairwiseRates(win=estimate(wr.win), tie=estimate(wr.tie), loss=estimate(wr.loss),  # type: ignore[arg-type]
                              win_rate=estimate(wr.win_rate), length_controlled=estimate(wr.length_controlled),  # type: ignore[arg-type]
                              consistency=estimate(wr.consistency),  # type: ignore[arg-type]
                              distinct=len(distinct), distinct_ties=sum(1 for s in distinct if s.score == 0.5))
    return ScorerSummary(scorer=info.scorer, criterion=info.criterion, kind=info.kind, n_scored=len(scored),
                         failures=len(given) - len(scored) - len(abstained), mean=estimate(mean_ci(values)),  # type: ignore[arg-type]
                         pass_rate=estimate(mean_ci(np.array(verdicts, dtype=float))) if verdicts else None,
                         below_threshold=sum(1 for v in verdicts if not v), pairwise=rates,
                         needs_baseline=info.needs_baseline, abstained=len(abstained))


def summarize(scorers: Sequence[ScorerInfo], records: Sequence[CaseRecord], *, kind: str, gate: Gate | None,
              comparisons: Sequence[Comparison] = (), baseline_note: str | None = None,
              baseline_refused: bool = False, alignment: Alignment | None = None) -> SuiteSummary:
    """Aggregate a suite's records (every mean and rate with a bootstrap 95% CI) and decide its gate.

    ``alignment``: the gating judge's evidence of agreement with humans (``experiments.alignment``); the
    gate of an LLM judge without it is advisory (or fails, in strict mode).
    """
    all_scores = [s for r in records for s in r.scores]
    latencies = [t.latency_s for r in records for t in (r.task, r.task_b) if t is not None and t.error is None]
    summary = SuiteSummary(
        n=len(records),
        task_errors=sum(1 for r in records if any(t is not None and t.error for t in (r.task, r.task_b))),
        judge_failures=sum(1 for s in all_scores if s.failure is not None),
        flagged=sum(1 for r in records if any(s.flags for s in r.scores)),
        cache_hits=sum(s.calls.cache_hits for s in all_scores),
        model_calls=sum(s.calls.model_calls for s in all_scores),
        tokens=sum(s.calls.tokens for s in all_scores),
        task_latency_s=estimate(mean_ci(latencies)) if latencies else None,
        scorers=[summarize_scorer(i, records, pairwise=i.pairwise) for i in scorers],
        comparisons=list(comparisons),
        baseline_note=baseline_note,
        alignment=alignment,
    )
    if gate is None:
        return summary
    return summary.model_copy(update={"gate": decide_gate(gate, summary, baseline_refused=baseline_refused)})


def decide_gate(gate: Gate, summary: SuiteSummary, *, baseline_refused: bool = False) -> GateResult:
    """The suite's verdict: every configured check must hold. The only place a suite passes or fails."""
    s = summary.scorer(gate.scorer)
    if s is None:
        return GateResult(passed=False, reason=f"gate names scorer {gate.scorer!r}, which the suite does not have")
    checks: list[str] = []
    failed: list[str] = []
    n = summary.n or 1
    if s.needs_baseline and s.n_scored == 0 and s.failures == 0 and s.abstained == 0:
        return GateResult(passed=True, reason=f"{s.scorer} not tested: {summary.baseline_note}")
    pw = s.pairwise
    if pw is not None and s.n_scored:
        distinct = pw.distinct if pw.distinct is not None else s.n_scored
        ties = pw.distinct_ties if pw.distinct_ties is not None else round((pw.tie.value or 0.0) * s.n_scored)
        if distinct and ties == distinct:
            failed.append(f"every one of the {distinct} verdicts on differing candidates is a tie: the judge told "
                          "no pair apart, so its win rate of 0.5 says nothing")
    if gate.min is not None:
        est = {"mean": s.mean, "pass_rate": s.pass_rate,
               "win_rate": s.pairwise.win_rate if s.pairwise else None}[gate.metric]
        value = None if est is None else (est.low if gate.on == "ci_low" else est.value)
        what = f"{gate.metric} {'95% CI low' if gate.on == 'ci_low' else 'estimate'}"
        if value is None:
            failed.append(f"no {gate.metric} to gate on (no scored cases{', no threshold' if gate.metric == 'pass_rate' else ''})")
        elif value >= gate.min:
            checks.append(f"{what} {value:.3f} >= {gate.min}")
        else:
            failed.append(f"{what} {value:.3f} < {gate.min}")
    fail_rate = s.failures / n
    if fail_rate > gate.max_judge_failure_rate:
        failed.append(f"judge failures {fail_rate:.0%} > {gate.max_judge_failure_rate:.0%}")
    task_rate = summary.task_errors / n
    binding: list[str] = []  # checks that do not depend on the judge: they bind even when the judge is unproven
    if task_rate > gate.max_task_error_rate:
        binding.append(f"task errors {task_rate:.0%} > {gate.max_task_error_rate:.0%}")
    if gate.max_drop is not None:
        c = summary.comparison(s.scorer)
        if baseline_refused:
            failed.append(f"baseline refused: {summary.baseline_note}")
        elif c is None:
            checks.append(f"regression not tested: {summary.baseline_note or 'no baseline'}")
        elif c.pvalue is None or c.mean_diff is None:
            failed.append(f"regression not testable: only {c.n_paired} cases shared with the baseline")
        else:
            text = (f"Δ {c.mean_diff:+.3f} [{c.low:+.3f}, {c.high:+.3f}] vs baseline, p {c.pvalue:.3g} "
                    f"for a drop > {gate.max_drop:g}")
            (failed if c.pvalue < gate.alpha else checks).append(
                text + (f" < α {gate.alpha:g}: significant regression" if c.pvalue < gate.alpha
                        else f" ≥ α {gate.alpha:g}"))
    unproven = _unproven(gate, s, summary.alignment) if s.kind == "judge" else None
    if unproven is not None and gate.alignment == "strict":
        binding.append(f"judge not qualified ({unproven}); strict alignment fails the gate")
        unproven = None
    evidence = _evidence_text(summary.alignment) if s.kind == "judge" else ""
    if unproven is not None:
        would = "would fail: " + "; ".join(failed) if failed else "would pass: " + "; ".join(checks)
        reason = "; ".join([*binding, f"judge not qualified ({unproven}); {would}"]) + evidence
        return GateResult(passed=False if binding else None, reason=reason, checks=checks + failed + binding,
                          advisory=unproven)
    failed = binding + failed
    reason = "; ".join(failed + checks) + evidence
    return GateResult(passed=not failed, reason=reason, checks=checks + failed)


def _unproven(gate: Gate, s: ScorerSummary, a: Alignment | None) -> str | None:
    """Why the gating judge is not qualified to bind the gate (None when it is)."""
    if a is None or a.source is None or a.agreement is None:
        why = a.note if a is not None and a.note else f"no meta-evaluation of {s.scorer} found"
        return f"no evidence: {why}; qualify it with `python -m judges meta-eval`"
    if a.n_labels < gate.min_human_labels:
        return f"too few labels: {a.n_labels} human labels < {gate.min_human_labels}"
    low = a.agreement.low
    if low is None or low < gate.min_agreement:
        shown = "undefined" if low is None else f"{low:.3f}"
        return f"agreement too low: {a.metric} 95% CI low {shown} < {gate.min_agreement:g}"
    return None


def _evidence_text(a: Alignment | None) -> str:
    """The judge's measured agreement and error rate, so the verdict states how often the judge is wrong."""
    if a is None or a.agreement is None or a.agreement.value is None:
        return ""
    e = a.error_rate
    err = "" if e is None or e.value is None else (
        f", disagrees with humans on {e.value:.0%} [{e.low or 0.0:.0%}, {e.high or 0.0:.0%}]")
    return (f" [judge evidence: {a.metric} {a.agreement.value:.2f} [{a.agreement.low or 0.0:.2f}, "
            f"{a.agreement.high or 0.0:.2f}] on {a.n_labels} human labels{err}; {a.source}]")

