"""Fake providers for tests: a scripted queue that records requests, and a function of the request.

They are fakes, named as such: no model runs. Use them for logic tests and fault injection.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from judges.errors import JudgeError
from judges.providers._base import ProviderInfo
from judges.types import Completion, ModelRequest

Reply = str | Completion | BaseException


def _as_completion(reply: str | Completion, info: ProviderInfo) -> Completion:
    if isinstance(reply, Completion):
        return reply
    return Completion(text=reply, provider=info.name, model=info.model, texts=(reply,))


class FakeScriptedProvider:
    """Replies from a queue in order; an exception in the queue is raised. ``requests`` records every call."""

    def __init__(
        self,
        replies: Iterable[Reply],
        *,
        model: str = "fake-model",
        exact_label_probs: bool = False,
        top_logprobs: bool = False,
        delay_s: float = 0.0,
    ) -> None:
        self.info = ProviderInfo("fake", model, exact_label_probs, top_logprobs)
        self._replies: deque[Reply] = deque(replies)
        self.requests: list[ModelRequest] = []
        self._delay = delay_s

    async def generate(self, request: ModelRequest) -> Completion:
        self.requests.append(request)
        if self._delay:
            await asyncio.sleep(self._delay)
        if not self._replies:
            raise JudgeError(f"FakeScriptedProvider ran out of replies after {len(self.requests) - 1} calls")
        reply = self._replies.popleft()
        if isinstance(reply, BaseException):
            raise reply
        return _as_completion(reply, self.info)

    async def check(self) -> None:
        return None


class FakeFunctionProvider:
    """Replies with ``fn(request)`` (sync or async), which returns text or a Completion, or raises."""

    def __init__(
        self,
        fn: Callable[[ModelRequest], str | Completion | Awaitable[str | Completion]],
        *,
        model: str = "fake-model",
        exact_label_probs: bool = False,
        top_logprobs: bool = False,
    ) -> None:
        self.info = ProviderInfo("fake", model, exact_label_probs, top_logprobs)
        self._fn = fn
        self.requests: list[ModelRequest] = []

    async def generate(self, request: ModelRequest) -> Completion:
        self.requests.append(request)
        out = self._fn(request)
        if inspect.isawaitable(out):
            out = await out
        return _as_completion(out, self.info)  # type: ignore[arg-type]

    async def check(self) -> None:
        return None
