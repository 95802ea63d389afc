"""The critic: a judge of each generated input and of its expected output, with a pass threshold.

Two pointwise judges on 1..5 (probability-weighted on the local model): the input is self-contained,
unambiguous and answerable from its context; the expected output is supported by the context. A
row's critic score is the lower of the two, kept on the row; it passes at ``threshold`` or above.
"""

from __future__ import annotations

from dataclasses import dataclass

from judges import Case, JudgeFailure, ModelClient, PointwiseJudge

INPUT_RUBRIC = (
    "5: the question is self-contained, unambiguous and fully answerable from the context.\n"
    "3: the question is answerable from the context but vague or needs the context to make sense.\n"
    "1: the question cannot be answered from the context, or is not a question."
)
OUTPUT_RUBRIC = (
    "5: every statement of the response is supported by the context and answers the question.\n"
    "3: partly supported, or only partly answers the question.\n"
    "1: contradicts or is absent from the context."
)


@dataclass(frozen=True)
class CriticVerdict:
    """The scores of one candidate; ``score`` is None when a judge gave no verdict (``reason`` says why)."""

    score: float | None
    input_score: float | None
    output_score: float | None
    passed: bool
    reason: str = ""


@dataclass(frozen=True)
class Critic:
    """Scores candidates; ``threshold`` on 1..5, ``max_retries`` regenerations of a rejected candidate."""

    threshold: float = 3.0
    max_retries: int = 2
    version: str = "1"

    def __post_init__(self) -> None:
        if not 1.0 <= self.threshold <= 5.0:
            raise ValueError(f"critic threshold must be within the 1..5 scale, got {self.threshold}")
        if self.max_retries < 0:
            raise ValueError(f"critic max_retries must be >= 0, got {self.max_retries}")

    async def score(self, client: ModelClient, question: str, contexts: tuple[str, ...], reference: str | None) -> CriticVerdict:
        """Judge the question (and the expected output when there is one) against the contexts."""
        context = "\n\n".join(f"[{i}] {c}" for i, c in enumerate(contexts, 1)) or None
        task = "A question a user asks an assistant" + (" about the context" if context else "")
        judged_in = await PointwiseJudge("question quality", INPUT_RUBRIC, explain=False, version=self.version).judge(
            client, Case("critic", task, output=question, context=context))
        if isinstance(judged_in, JudgeFailure):
            return CriticVerdict(None, None, None, False, f"input critic failed: {judged_in.reason}")
        scores = [judged_in.score]
        out_score: float | None = None
        if reference is not None:
            judged_out = await PointwiseJudge("groundedness", OUTPUT_RUBRIC, explain=False, version=self.version).judge(
                client, Case("critic", question, output=reference, context=context))
            if isinstance(judged_out, JudgeFailure):
                return CriticVerdict(None, judged_in.score, None, False, f"output critic failed: {judged_out.reason}")
            out_score = judged_out.score
            scores.append(out_score)
        score = min(scores)
        passed = score >= self.threshold
        return CriticVerdict(score, judged_in.score, out_score, passed,
                             "" if passed else f"critic score {score:.2f} < threshold {self.threshold:g}")
