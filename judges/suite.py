"""Eval suites: a dataset, a judge, a per-case threshold and a suite-level gate, plus their summaries."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

from judges._judge import Judge
from judges.client import ModelClient
from judges.datasets import load_cases
from judges.results import Case, Judgement, Result
from judges.stats import Estimate, WinRates, mean_ci, win_rates


@dataclass(frozen=True)
class Gate:
    """Suite-level pass/fail: ``metric`` ("mean", "pass_rate" or "win_rate") must reach ``min``.

    ``on="ci_low"`` (the default) gates on the lower bound of the 95% CI, so a suite passes only when
    we are confident it is good enough; ``on="point"`` gates on the estimate itself.
    ``max_judge_failure_rate``: more judge failures than this fail the gate too.
    """

    min: float
    metric: Literal["mean", "pass_rate", "win_rate"] = "mean"
    on: Literal["point", "ci_low"] = "ci_low"
    max_judge_failure_rate: float = 0.2


@dataclass(frozen=True)
class SuiteMeta:
    """What a summary needs to know of a suite; travels with every record (also across xdist workers)."""

    name: str
    judge_name: str
    kind: str
    threshold: float | None = None
    gate: Gate | None = None
    scale: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "judge_name": self.judge_name, "kind": self.kind, "threshold": self.threshold,
                "gate": None if self.gate is None else dict(self.gate.__dict__),
                "scale": list(self.scale) if self.scale else None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SuiteMeta:
        return cls(d["name"], d["judge_name"], d["kind"], d["threshold"], Gate(**d["gate"]) if d["gate"] else None,
                   tuple(d["scale"]) if d.get("scale") else None)


@dataclass(frozen=True)
class EvalSuite:
    """A named suite: cases from ``dataset`` (a JSONL in ``datasets/`` of ``kind``), judged by ``judge``.

    ``threshold``: a case passes when its score is at least this (pairwise suites usually leave it None).
    """

    name: str
    dataset: str
    kind: str
    judge: Judge
    threshold: float | None = None
    gate: Gate | None = None
    model_under_test: str | None = None

    @cached_property
    def _cases(self) -> tuple[Case, ...]:
        return tuple(load_cases(self.dataset, self.kind))

    @property
    def meta(self) -> SuiteMeta:
        scale = getattr(self.judge, "scale", None) or (getattr(getattr(self.judge, "member_judge", None), "scale", None))
        if self.kind == "pairwise":
            scale = (0, 1)
        return SuiteMeta(self.name, self.judge.judge_name, self.kind, self.threshold, self.gate, scale)

    def cases(self) -> list[Case]:
        """The suite's cases, validated (a bad row raises DatasetError naming file, line and field)."""
        return list(self._cases)

    async def run(self, client: ModelClient, cases: Sequence[Case] | None = None) -> list[Result]:
        """Judge every case concurrently (the client bounds concurrency)."""
        todo = self.cases() if cases is None else list(cases)
        return list(await asyncio.gather(*(self.judge.judge(client, c) for c in todo)))


def case_record(suite: EvalSuite, case: Case, result: Result, *, trace_id: str | None = None,
                span_id: str | None = None) -> dict[str, Any]:
    """The JSON record of one judged case (the results file and the review queues read this shape)."""
    j = result if isinstance(result, Judgement) else None
    members = j.details.get("members", []) if j else []
    passed = None
    if j is not None and suite.threshold is not None:
        passed = bool(j.score >= suite.threshold)
    return {
        "case_id": case.id,
        "input": case.input,
        "output": case.output if case.output is not None else f"A: {case.output_a}\n\nB: {case.output_b}",
        "context": case.context,
        "expected": case.expected,
        "score": j.score if j else None,
        "passed": passed,
        "threshold": suite.threshold,
        "label": j.label if j else None,
        "label_probs": j.label_probs if j else None,
        "prob_source": j.prob_source if j else None,
        "reasoning": j.reasoning if j else None,
        "judge_model": result.judge_model,
        "judges": members,
        "failure": None if isinstance(result, Judgement) else result.reason,
        "raw": result.raw,
        "flags": list(result.flags),
        "entropy": j.entropy if j else None,
        "details": j.details if j else {},
        "calls": {
            "model_calls": result.calls.model_calls,
            "cache_hits": result.calls.cache_hits,
            "tokens": result.calls.prompt_tokens + result.calls.completion_tokens,
        },
        "metadata": case.metadata,
        "trace_id": trace_id,
        "span_id": span_id,
    }


@dataclass(frozen=True)
class SuiteSummary:
    """Aggregates over a suite's case records; every rate and mean carries a bootstrap 95% CI."""

    suite: str
    judge: str
    n: int
    mean: Estimate
    pass_rate: Estimate | None
    below_threshold: int
    judge_failures: int
    cache_hits: int
    model_calls: int
    tokens: int
    pairwise: WinRates | None = None
    gate: Gate | None = None
    gate_value: float | None = None
    gate_passed: bool | None = None
    gate_reason: str = ""
    flagged: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def est(e: Estimate | None) -> dict[str, float] | None:
            return None if e is None else {"value": e.value, "low": e.low, "high": e.high, "n": e.n}

        out: dict[str, Any] = {
            "suite": self.suite, "judge": self.judge, "n": self.n, "mean": est(self.mean),
            "pass_rate": est(self.pass_rate), "below_threshold": self.below_threshold,
            "judge_failures": self.judge_failures, "cache_hits": self.cache_hits,
            "model_calls": self.model_calls, "tokens": self.tokens, "flagged": self.flagged,
            "gate": None if self.gate is None else {**self.gate.__dict__, "value": self.gate_value,
                                                     "passed": self.gate_passed, "reason": self.gate_reason},
        }
        if self.pairwise is not None:
            pw = self.pairwise
            out["pairwise"] = {"win": est(pw.win), "tie": est(pw.tie), "loss": est(pw.loss), "win_rate": est(pw.win_rate),
                               "length_controlled": est(pw.length_controlled), "consistency": est(pw.consistency)}
        return out


def summarize(suite: SuiteMeta, records: Sequence[dict[str, Any]]) -> SuiteSummary:
    """Aggregate case records into a SuiteSummary and evaluate the suite's gate."""
    scored = [r for r in records if r["score"] is not None]
    scores = np.array([r["score"] for r in scored], dtype=float)
    failures = sum(1 for r in records if r["score"] is None)
    mean = mean_ci(scores)
    passed = [r["passed"] for r in scored if r["passed"] is not None]
    pass_rate = mean_ci(np.array(passed, dtype=float)) if passed else None
    pairwise = None
    if suite.kind == "pairwise" and scored:
        pairwise = win_rates(
            scores,
            length_diff=[r["details"].get("length_diff", 0) for r in scored],
            consistent=[bool(r["details"].get("consistent", True)) for r in scored],
        )
    calls = [r["calls"] for r in records]
    gate_value = gate_passed = None
    reason = ""
    if suite.gate is not None:
        g = suite.gate
        est = {"mean": mean, "pass_rate": pass_rate, "win_rate": pairwise.win_rate if pairwise else None}[g.metric]
        fail_rate = failures / len(records) if records else 1.0
        if est is None or not np.isfinite(est.value):
            gate_passed, reason = False, f"no {g.metric} to gate on (no scored cases or no threshold)"
        else:
            gate_value = est.low if g.on == "ci_low" else est.value
            what = f"{g.metric} {'95% CI low' if g.on == 'ci_low' else 'estimate'}"
            gate_passed = gate_value >= g.min and fail_rate <= g.max_judge_failure_rate
            reason = f"{what} {gate_value:.3f} {'>=' if gate_value >= g.min else '<'} {g.min}"
            if fail_rate > g.max_judge_failure_rate:
                reason += f"; judge failures {fail_rate:.0%} > {g.max_judge_failure_rate:.0%}"
    return SuiteSummary(
        suite=suite.name,
        judge=suite.judge_name,
        n=len(records),
        mean=mean,
        pass_rate=pass_rate,
        below_threshold=sum(1 for p in passed if not p),
        judge_failures=failures,
        cache_hits=sum(c["cache_hits"] for c in calls),
        model_calls=sum(c["model_calls"] for c in calls),
        tokens=sum(c["tokens"] for c in calls),
        pairwise=pairwise,
        gate=suite.gate,
        gate_value=gate_value,
        gate_passed=gate_passed,
        gate_reason=reason,
        flagged=sum(1 for r in records if r["flags"]),
    )
