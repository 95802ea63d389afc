"""Requests and completions: the data that crosses the provider seam."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NamedTuple

Role = Literal["system", "user", "assistant"]

# Where a probability distribution over labels came from; recorded on every judgement that has one.
# constrained_logprobs: a server's chat reply held to the labels (grammar, guided choice or JSON schema), read from
# the label position's logprobs; completion_logprobs: its completions endpoint, the prompt ending at the label slot
ProbabilitySource = Literal["exact", "top_logprobs", "sampling", "constrained_logprobs", "completion_logprobs"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class ModelRequest:
    """One model call. Everything that can change the reply is a field, so the cache key is the whole request.

    ``labels``: a closed label set ("1".."5", "A"/"B"/"tie"). Providers that can score continuations
    (llama.cpp) return exact probabilities for each label; others return top-logprobs that the
    judges renormalise, or sample ``n`` completions.
    """

    messages: tuple[Message, ...]
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = 0
    stop: tuple[str, ...] = ()
    top_logprobs: int = 0
    n: int = 1
    labels: tuple[str, ...] | None = None
    # a JSON schema (compact JSON text) the reply must follow: llama.cpp constrains decoding with a grammar
    json_schema: str | None = None

    def __init__(
        self,
        messages: Any,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = 0,
        stop: Any = (),
        top_logprobs: int = 0,
        n: int = 1,
        labels: Any = None,
        json_schema: str | dict[str, Any] | None = None,
    ) -> None:
        msgs = tuple(m if isinstance(m, Message) else Message(m["role"], m["content"]) for m in messages)
        if not msgs:
            raise ValueError("ModelRequest needs at least one message")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if json_schema is not None:  # one text per schema, so equal schemas share a cache key
            json_schema = json.dumps(json.loads(json_schema) if isinstance(json_schema, str) else json_schema,
                                     separators=(",", ":"))
        # the fields in one write to the instance dict (frozen: object.__setattr__ per field cost a judged case 5 µs)
        self.__dict__.update(
            messages=msgs, max_tokens=int(max_tokens), temperature=float(temperature), top_p=float(top_p), seed=seed,
            stop=tuple(stop), top_logprobs=int(top_logprobs), n=int(n),
            labels=tuple(labels) if labels is not None else None, json_schema=json_schema,
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["messages"] = [{"role": m.role, "content": m.content} for m in self.messages]
        if d["json_schema"] is None:
            del d["json_schema"]  # unconstrained requests keep the cache keys they had before the field existed
        return d

    def cache_key(self, provider: str, model: str) -> str:
        """A stable hash of the provider, the model and every field of the request."""
        payload = json.dumps({"provider": provider, "model": model, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


# named tuples, not frozen dataclasses: a reply's alternatives are built per call, tens of them (a third of the
# time to parse a chat reply went into dataclass __init__s)
class TopLogprob(NamedTuple):
    token: str
    logprob: float


class TokenLogprob(NamedTuple):
    token: str
    logprob: float
    top: tuple[TopLogprob, ...] = ()


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    """A provider's answer: text(s), token logprobs with top alternatives, usage, and label probabilities.

    ``label_probs`` is set only by providers that score the closed label set exactly.
    ``texts`` holds every sample when ``n > 1``; ``text`` is the first.
    """

    text: str
    provider: str
    model: str
    logprobs: tuple[TokenLogprob, ...] = ()
    usage: Usage = field(default_factory=Usage)
    label_probs: dict[str, float] | None = None
    # raw probability mass the model put on the label set before renormalising: how on-format it was
    label_mass: float | None = None
    texts: tuple[str, ...] = ()
    cached: bool = False
    latency_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "provider": self.provider,
            "model": self.model,
            "logprobs": [
                {"token": t.token, "logprob": t.logprob, "top": [[a.token, a.logprob] for a in t.top]}
                for t in self.logprobs
            ],
            "usage": [self.usage.prompt_tokens, self.usage.completion_tokens],
            "label_probs": self.label_probs,
            "label_mass": self.label_mass,
            "texts": list(self.texts),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, cached: bool = False) -> Completion:
        return cls(
            text=d["text"],
            provider=d["provider"],
            model=d["model"],
            logprobs=tuple(
                TokenLogprob(t["token"], t["logprob"], tuple(TopLogprob(a, lp) for a, lp in t["top"]))
                for t in d["logprobs"]
            ),
            usage=Usage(*d["usage"]),
            label_probs=d["label_probs"],
            label_mass=d.get("label_mass"),
            texts=tuple(d["texts"]),
            cached=cached,
        )
