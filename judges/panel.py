"""Judge panels: several judge models on the same case, with agreement and disagreement flags."""

from __future__ import annotations

import asyncio
import logging
import re
import statistics
from dataclasses import dataclass, field

from judges._judge import Judge
from judges.case import Case
from judges.client import ModelClient
from judges.results import CallAccount, JudgeFailure, Judgement, Result

log = logging.getLogger(__name__)

_FAMILIES = ("gemma", "llama", "gpt", "claude", "qwen", "mistral", "mixtral", "phi", "deepseek", "gemini", "command")


def model_family(model: str) -> str | None:
    """The model family named in a model id ("gpt-4o-mini" -> "gpt"), or None when unknown."""
    low = model.lower()
    for fam in _FAMILIES:
        if re.search(rf"(?<![a-z]){fam}", low):
            return "llama" if fam == "mixtral" else fam
    return None


@dataclass(frozen=True)
class JudgePanel:
    """Runs ``member_judge`` on each client (one per judge model) and combines the scores.

    ``disagree_tolerance``: a case is flagged ``judges_disagree`` when the member scores spread
    more than this. ``model_under_test``: when a judge shares its family, the case is flagged
    ``self_enhancement_risk`` (judges tend to favour their own family's outputs).
    """

    member_judge: Judge
    clients: tuple[ModelClient, ...]
    disagree_tolerance: float = 1.0
    model_under_test: str | None = None
    _warned: set[str] = field(default_factory=set, compare=False, repr=False)

    @property
    def judge_name(self) -> str:
        return f"panel:{self.member_judge.judge_name}"

    @property
    def metric_name(self) -> str:
        # the panel measures what its member measures: labels land under the same criterion
        return self.member_judge.metric_name

    @property
    def scale(self) -> tuple[float, float]:
        return self.member_judge.scale

    uses_model = True

    def self_enhancement_models(self) -> list[str]:
        fam = model_family(self.model_under_test) if self.model_under_test else None
        return [c.info.model for c in self.clients if fam and model_family(c.info.model) == fam]

    async def judge(self, client: ModelClient | None, case: Case) -> Result:
        """Judge ``case`` on every panel client; ``client`` is ignored (the panel brings its own)."""
        if not self.clients:
            raise ValueError("JudgePanel needs at least one client")
        results = await asyncio.gather(*(self.member_judge.judge(c, case) for c in self.clients))
        calls = CallAccount()
        for r in results:
            calls.merge(r.calls)
        ok = [r for r in results if isinstance(r, Judgement)]
        members = [
            {"judge_model": r.judge_model, "score": r.score, "label_probs": r.label_probs, "reasoning": r.reasoning,
             "failure": None}
            if isinstance(r, Judgement)
            else {"judge_model": r.judge_model, "score": None, "label_probs": None, "reasoning": None, "failure": r.reason}
            for r in results
        ]
        if not ok:
            return JudgeFailure(self.judge_name, "+".join(c.info.model for c in self.clients),
                                "every panel member failed", "\n".join(getattr(r, "raw", "") for r in results), calls=calls)
        scores = [r.score for r in ok]
        spread = max(scores) - min(scores)
        flags: list[str] = []
        if spread > self.disagree_tolerance:
            flags.append("judges_disagree")
        if any("low_confidence" in r.flags for r in ok):
            flags.append("low_confidence")
        if len(ok) < len(results):
            flags.append("judge_failure")
        risky = self.self_enhancement_models()
        if risky:
            flags.append("self_enhancement_risk")
            key = ",".join(risky)
            if key not in self._warned:
                self._warned.add(key)
                log.warning("judge model(s) %s share a family with the model under test %s: expect self-enhancement bias",
                            key, self.model_under_test)
        return Judgement(
            judge=self.judge_name,
            judge_model="+".join(c.info.model for c in self.clients),
            score=statistics.fmean(scores),
            flags=tuple(flags),
            calls=calls,
            details={"members": members, "spread": spread, "agree": spread <= self.disagree_tolerance},
        )
