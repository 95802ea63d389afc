"""What judges return: a Judgement, or a JudgeFailure that keeps the raw text. Never a silent number."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from judges.types import Completion, ProbabilitySource


@dataclass
class CallAccount:
    """Model calls made for one judgement (cache hits are not calls)."""

    model_calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, completion: Completion) -> None:
        if completion.cached:
            self.cache_hits += 1
        else:
            self.model_calls += 1
            self.prompt_tokens += completion.usage.prompt_tokens
            self.completion_tokens += completion.usage.completion_tokens

    def merge(self, other: CallAccount) -> None:
        self.model_calls += other.model_calls
        self.cache_hits += other.cache_hits
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens


@dataclass(frozen=True)
class Judgement:
    """A judge's verdict on one case.

    ``score`` is on the judge's scale (probability-weighted when label probabilities exist);
    pairwise judgements score 1 (A wins), 0.5 (tie) or 0 (B wins). ``prob_source`` says where the
    label probabilities came from: "exact" (local model), "top_logprobs" (API) or "sampling".
    """

    judge: str
    judge_model: str
    score: float
    label: str | None = None
    reasoning: str | None = None
    label_probs: dict[str, float] | None = None
    prob_source: ProbabilitySource | None = None
    entropy: float | None = None
    flags: tuple[str, ...] = ()
    raw: str = ""
    calls: CallAccount = field(default_factory=CallAccount)
    details: dict[str, Any] = field(default_factory=dict)
    ok: bool = True


@dataclass(frozen=True)
class JudgeFailure:
    """A judge could not produce a verdict (unparseable reply after bounded retries, provider error).

    Aggregates skip failures and count them; the raw reply is kept for a human to read.
    """

    judge: str
    judge_model: str
    reason: str
    raw: str = ""
    attempts: int = 1
    flags: tuple[str, ...] = ("judge_failure",)
    calls: CallAccount = field(default_factory=CallAccount)
    ok: bool = False
    score: None = None


Result = Judgement | JudgeFailure
