"""Fixtures for the safety tests: fake judge clients, and the network blocked for every test here."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from judges import Completion, ModelClient
from judges.providers import FakeFunctionProvider
from safety.offline import block_network


@pytest.fixture(autouse=True)
def _offline() -> Iterator[None]:
    with block_network():
        yield


@pytest.fixture
def label_client() -> Callable[[Callable[[str], str]], ModelClient]:
    """A factory of fake judge clients (see _label_client)."""
    return _label_client


def _label_client(score_of: Callable[[str], str]) -> ModelClient:
    """A judge client whose label answer is ``score_of(prompt)`` with probability 0.9."""

    def reply(req):
        if req.labels is None:
            return Completion(text="because", provider="fake", model="fake-judge", texts=("because",))
        best = score_of(req.messages[-2].content if len(req.messages) > 1 else req.messages[-1].content)
        probs = {lab: (0.9 if lab.strip() == best else 0.1 / (len(req.labels) - 1)) for lab in req.labels}
        return Completion(text=best, provider="fake", model="fake-judge", label_probs=probs)

    return ModelClient(FakeFunctionProvider(reply, model="fake-judge", exact_label_probs=True), cache=None,
                       trace=False)
