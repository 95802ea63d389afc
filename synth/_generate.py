"""One candidate row: a seed question from a context, its evolution, and an expected output grounded in the context.

Three structured calls, each through the model client (so each is cached and a rerun is replayed):
the seed question (skipped for golden and production inputs, which bring theirs), the evolved
question (in the persona's voice), and the expected output from the context alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from judges import ModelClient
from synth._evolutions import EVOLUTIONS, WriterPersona
from synth._sources import Chunk
from synth._structured import ParseFailure, Structured, ask_json


class QuestionReply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=8, max_length=160)


class AnswerReply(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: str = Field(min_length=1, max_length=200)


@dataclass
class Candidate:
    """A generated question (and expected output) before the filters; ``failures`` are unparsed replies."""

    chunk: Chunk
    evolution: str
    persona: str
    contexts: tuple[str, ...]
    context_sources: tuple[str, ...]
    seed_question: str | None = None
    question: str | None = None
    reference: str | None = None
    replies: int = 0  # structured replies received
    parsed: int = 0  # of which parsed and validated
    model_calls: int = 0
    cache_hits: int = 0
    failures: list[ParseFailure] = field(default_factory=list)
    rejected: tuple[str, str] | None = None  # (step, reason) when the screen rejected the question

    def _take(self, reply: Structured[Any]) -> None:
        # a provider error is a failure without a reply; it does not count against the parse rate
        self.replies += reply.attempts - sum(1 for f in reply.failures if f.reason.startswith("provider error"))
        self.parsed += reply.value is not None
        self.model_calls += reply.model_calls
        self.cache_hits += reply.cache_hits
        self.failures += reply.failures


def _context_block(contexts: tuple[str, ...]) -> str:
    if len(contexts) == 1:
        return f"Context:\n{contexts[0]}"
    return "\n\n".join(f"Context {i}:\n{c}" for i, c in enumerate(contexts, 1))


def seed_prompt(context: str) -> str:
    return (f"Context:\n{context}\n\nWrite one question that a user could ask and that the context above "
            "answers. The question must make sense without seeing the context.")


def evolve_prompt(seed_question: str, evolution: str, persona: WriterPersona, contexts: tuple[str, ...]) -> str:
    ev = EVOLUTIONS[evolution]
    ctx = f"{_context_block(contexts)}\n\n" if contexts else ""
    return (f"{ctx}Original question: {seed_question}\n\nTask: {ev.instruction} Write it as {persona.description} "
            "would ask it. The new question must differ from the original, make sense on its own and must not "
            "mention 'the context'.")


def answer_prompt(question: str, contexts: tuple[str, ...]) -> str:
    return (f"{_context_block(contexts)}\n\nQuestion: {question}\n\nAnswer the question using only facts stated "
            "in the context above, in one or two sentences.")


async def generate_candidate(
    client: ModelClient,
    chunk: Chunk,
    *,
    evolution: str,
    persona: WriterPersona,
    partner: Chunk | None,
    seed: int,
    temperature: float = 0.0,
    max_parse_retries: int = 2,
    screen: Callable[[Candidate], tuple[str, str] | None] | None = None,
) -> Candidate:
    """Generate one candidate; ``question`` stays None when a step gave no valid reply (see ``failures``).

    ``screen`` sees the candidate once its question exists and may reject it (``(step, reason)``, kept in
    ``rejected``) before the expected output is generated, so a duplicate costs no answer call.
    """
    contexts: tuple[str, ...]
    sources: tuple[str, ...]
    if chunk.kind == "golden":
        contexts, sources = chunk.contexts, (chunk.source,)
    else:
        contexts, sources = ((chunk.text,), (chunk.source,)) if chunk.text else ((), ())
    if partner is not None and EVOLUTIONS[evolution].needs_two:
        contexts, sources = (*contexts, partner.text), (*sources, partner.source)
    cand = Candidate(chunk, evolution, persona.name, contexts, sources)
    if chunk.seed_question is not None:
        cand.seed_question = chunk.seed_question
    else:
        # the seed depends on the chunk only (temperature 0, seed fixed), so evolutions of one chunk share it
        got = await ask_json(client, seed_prompt(chunk.text), QuestionReply, seed=0,
                             max_parse_retries=max_parse_retries)
        cand._take(got)
        if got.value is None:
            return cand
        cand.seed_question = got.value.question.strip()
    evolved = await ask_json(client, evolve_prompt(cand.seed_question, evolution, persona, contexts), QuestionReply,
                             seed=seed, temperature=temperature, max_parse_retries=max_parse_retries)
    cand._take(evolved)
    if evolved.value is None:
        return cand
    cand.question = evolved.value.question.strip()
    cand.rejected = screen(cand) if screen is not None else None
    if cand.rejected is not None:
        return cand
    if contexts:
        answer = await ask_json(client, answer_prompt(cand.question, contexts), AnswerReply, seed=seed,
                                max_parse_retries=max_parse_retries)
        cand._take(answer)
        if answer.value is None:
            cand.question = None
            return cand
        cand.reference = answer.value.answer.strip()
    return cand
