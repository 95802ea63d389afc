"""The provider seam: one async method from request to completion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from judges.types import Completion, ModelRequest, ProbabilitySource


@dataclass(frozen=True)
class ProviderInfo:
    """What a provider can do; judges pick their probability source from this."""

    name: str  # e.g. "llama.cpp", "openai-compatible", "fake"
    model: str
    exact_label_probs: bool = False  # scores each candidate label continuation exactly
    top_logprobs: bool = False  # returns per-token top alternatives
    # the prob_source of the label probabilities it returns (llama.cpp in process: exact; a server: how it got them)
    label_source: ProbabilitySource = "exact"


@runtime_checkable
class Provider(Protocol):
    """A model provider. Retries, caching, rate limits, concurrency and spans live in the client, not here."""

    info: ProviderInfo

    async def generate(self, request: ModelRequest) -> Completion:
        """Return the model's completion for ``request``; raise ProviderError (retryable or not) on failure."""
        ...

    async def check(self) -> None:
        """Raise ModelUnavailableError if the model cannot be loaded or reached. Called once before a run."""
        ...
