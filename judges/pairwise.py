"""Pairwise A/B judge, always run in both orders to cancel position bias.

Order 1 shows (A, B); order 2 shows (B, A). If the two orders prefer different candidates the case is
a tie and counts as position-inconsistent; the consistency rate is reported with the win rates.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from judges._judge import low_confidence_flags
from judges._labels import LabelQuery, ask_label
from judges.case import Case
from judges.client import ModelClient
from judges.results import CallAccount, JudgeFailure, Judgement, Result


@dataclass(frozen=True)
class PairwiseJudge:
    """Which of two responses better meets ``criterion``. Score: 1 = A wins, 0.5 = tie, 0 = B wins."""

    criterion: str
    allow_tie: bool = False
    explain: bool = False
    max_parse_retries: int = 2
    max_entropy_bits: float | None = 0.95

    uses_model = True
    scale = (0.0, 1.0)

    @property
    def judge_name(self) -> str:
        return f"pairwise:{self.criterion[:40]}"

    @property
    def metric_name(self) -> str:
        return self.criterion

    def labels(self) -> tuple[str, ...]:
        return ("A", "B", "tie") if self.allow_tie else ("A", "B")

    def prompt(self, case: Case, first: str, second: str) -> str:
        tie = " or 'tie' if they are equally good" if self.allow_tie else ""
        return (
            f"Compare two responses to the same instruction. Criterion: {self.criterion}\n\n"
            f"Instruction:\n{case.input}\n\nResponse A:\n{first}\n\nResponse B:\n{second}\n\n"
            f"Which response is better? Answer A or B{tie}."
        )

    async def judge(self, client: ModelClient, case: Case) -> Result:
        if case.output_a is None or case.output_b is None:
            raise ValueError(f"pairwise case {case.id!r} needs output_a and output_b")
        labels = self.labels()
        q1 = LabelQuery(self.prompt(case, case.output_a, case.output_b), "Better response:", labels, explain=self.explain)
        q2 = LabelQuery(self.prompt(case, case.output_b, case.output_a), "Better response:", labels, explain=self.explain)
        a1, a2 = await asyncio.gather(
            ask_label(client, q1, max_parse_retries=self.max_parse_retries),
            ask_label(client, q2, max_parse_retries=self.max_parse_retries),
        )
        calls = CallAccount()
        calls.merge(a1.calls)
        calls.merge(a2.calls)
        model = client.info.model
        for a in (a1, a2):
            if a.label is None or a.probs is None:
                raw = f"order 1:\n{a1.raw}\n\norder 2:\n{a2.raw}"
                return JudgeFailure(self.judge_name, model, a.error or "no verdict", raw, a1.attempts + a2.attempts, calls=calls)
        assert a1.probs is not None and a2.probs is not None
        # map order 2 back to the candidates: its "A" slot held candidate B
        p_a = (a1.probs["A"] + a2.probs["B"]) / 2
        p_b = (a1.probs["B"] + a2.probs["A"]) / 2
        v1 = {"A": "a", "B": "b", "tie": "tie"}[a1.label or ""]
        v2 = {"A": "b", "B": "a", "tie": "tie"}[a2.label or ""]
        consistent = v1 == v2
        outcome = {"a": 1.0, "b": 0.0, "tie": 0.5}[v1] if consistent else 0.5
        flags: tuple[str, ...] = ()
        if not consistent:
            flags += ("order_inconsistent",)
        flags += low_confidence_flags(a1, self.max_entropy_bits) or low_confidence_flags(a2, self.max_entropy_bits)
        label = {1.0: "A", 0.0: "B", 0.5: "tie"}[outcome]
        return Judgement(
            judge=self.judge_name,
            judge_model=model,
            score=outcome,
            label=label,
            reasoning=" | ".join(r for r in (a1.reasoning, a2.reasoning) if r) or None,
            label_probs={"A": p_a, "B": p_b, **({"tie": 1 - p_a - p_b} if self.allow_tie else {})},
            prob_source=a1.source,
            entropy=max(a1.entropy or 0.0, a2.entropy or 0.0),
            flags=flags,
            raw=f"order 1: {a1.raw}\norder 2: {a2.raw}",
            calls=calls,
            details={
                "consistent": consistent,
                "order1": a1.label,
                "order2": a2.label,
                "length_diff": len(case.output_a) - len(case.output_b),
            },
        )
