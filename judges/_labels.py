"""Asking a model for one label out of a closed set, by the best means its provider offers.

Shared by the pointwise, G-Eval and pairwise judges so that the probability source, the parse
retries and the failure records behave the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from judges.client import ModelClient
from judges.errors import JudgeConfigError, ProviderError
from judges.results import CallAccount
from judges.scoring import (
    parse_label,
    probs_from_samples,
    probs_from_top_logprobs,
    renormalise,
    token_index_at,
)
from judges.stats import entropy
from judges.types import Message, ModelRequest, ProbabilitySource


@dataclass(frozen=True)
class LabelQuery:
    """A prompt whose answer is one of ``labels``, written after ``marker`` (e.g. "Score:")."""

    prompt: str
    marker: str
    labels: tuple[str, ...]
    system: str | None = None
    explain: bool = True  # also ask for a one-sentence reason
    explain_tokens: int = 48


@dataclass
class LabelAnswer:
    label: str | None
    probs: dict[str, float] | None
    source: ProbabilitySource | None
    raw: str
    reasoning: str | None
    attempts: int
    calls: CallAccount = field(default_factory=CallAccount)
    error: str | None = None

    @cached_property
    def entropy(self) -> float | None:
        return entropy(self.probs) if self.probs else None


def _messages(q: LabelQuery, user: str, prefill: str | None = None) -> list[Message]:
    msgs = [Message("system", q.system)] if q.system else []
    msgs.append(Message("user", user))
    if prefill is not None:
        msgs.append(Message("assistant", prefill))
    return msgs


async def ask_label(client: ModelClient, q: LabelQuery, *, max_parse_retries: int = 2, samples: int = 5) -> LabelAnswer:
    """The label distribution for ``q``; ``error`` is set (and ``label`` None) when no verdict could be had."""
    calls = CallAccount()
    try:
        if client.info.exact_label_probs:
            answer = await _exact(client, q, calls)
            # a server provider learns on its first label call whether it can score labels; if not, parse text
            if answer.probs is not None or client.info.exact_label_probs:
                return answer
        return await _from_text(client, q, calls, max_parse_retries, samples)
    except JudgeConfigError:
        raise
    except ProviderError as exc:
        return LabelAnswer(None, None, None, "", None, 1, calls, error=f"provider error: {exc}")


async def _exact(client: ModelClient, q: LabelQuery, calls: CallAccount) -> LabelAnswer:
    # the prefill puts the model right before the label; " 5" after "Score:" is what a chat model writes
    req = ModelRequest(_messages(q, q.prompt, q.marker), max_tokens=1, labels=tuple(" " + lab for lab in q.labels))
    out = await client.complete(req)
    calls.add(out)
    probs = renormalise({lab: out.label_probs.get(" " + lab, 0.0) for lab in q.labels}) if out.label_probs else None
    if not probs:
        return LabelAnswer(None, None, None, out.text, None, 1, calls, error="provider returned no label probabilities")
    best = max(probs, key=lambda k: probs[k])
    reasoning = None
    if q.explain:
        why = await client.complete(
            ModelRequest(
                _messages(q, q.prompt, f"{q.marker} {best}\nReason:"),
                max_tokens=q.explain_tokens,
                temperature=0.0,
                stop=("\n",),  # one sentence: small models otherwise repeat themselves
            )
        )
        calls.add(why)
        reasoning = why.text.strip() or None
    return LabelAnswer(best, probs, client.info.label_source, f"{q.marker} {best}", reasoning, 1, calls)


async def _from_text(
    client: ModelClient, q: LabelQuery, calls: CallAccount, max_parse_retries: int, samples: int
) -> LabelAnswer:
    instruction = (
        f"{q.prompt}\n\nReply with '{q.marker} <answer>' on the first line, where <answer> is one of: "
        f"{', '.join(q.labels)}. Then give one sentence of reasoning."
    )
    raws: list[str] = []
    use_logprobs = client.info.top_logprobs
    for attempt in range(max_parse_retries + 1):
        user = instruction if attempt == 0 else (
            instruction + f"\n\nYour previous reply could not be read. Start with exactly '{q.marker} ' and one of: "
            f"{', '.join(q.labels)}."
        )
        if use_logprobs:
            req = ModelRequest(_messages(q, user), max_tokens=128, temperature=0.0, top_logprobs=20, seed=attempt)
        else:
            req = ModelRequest(_messages(q, user), max_tokens=128, temperature=1.0, n=samples, seed=attempt)
        out = await client.complete(req)
        calls.add(out)
        raws.append(out.text)
        found = parse_label(out.text, q.labels, marker=q.marker)
        if use_logprobs and found is not None and out.logprobs:
            idx = token_index_at(out.logprobs, found[1])
            probs = probs_from_top_logprobs(out.logprobs, q.labels, idx) if idx is not None else None
            if probs:
                return LabelAnswer(found[0], probs, "top_logprobs", out.text, _reason(out.text, found[1]), attempt + 1, calls)
        if found is not None and use_logprobs and not out.logprobs:
            use_logprobs = False  # the server ignored logprobs: fall back to sampling on the next try
            continue
        if not use_logprobs:
            probs = probs_from_samples(out.texts or (out.text,), q.labels, marker=q.marker)
            if probs:
                best = max(probs, key=lambda k: probs[k])
                return LabelAnswer(best, probs, "sampling", out.text, None, attempt + 1, calls)
    return LabelAnswer(
        None, None, None, "\n---\n".join(raws), None, max_parse_retries + 1, calls,
        error=f"no valid label ({', '.join(q.labels)}) after '{q.marker}' in {len(raws)} replies",
    )


def _reason(text: str, offset: int) -> str | None:
    rest = text[offset:].split("\n", 1)
    return rest[1].strip() if len(rest) > 1 and rest[1].strip() else None
