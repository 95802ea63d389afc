"""The model client: the one wrapper around every provider.

It owns what every call needs once: the on-disk cache, bounded async concurrency, a global
requests-per-minute limit, retries with exponential backoff and full jitter on 429/5xx/timeouts
(honouring Retry-After), token accounting, and an LLM span per call.

Against a server (an OpenAI-compatible provider) the concurrency adapts (``adaptive``, on by default there):
:class:`judges.providers.concurrency.AdaptiveLimit` raises it while latency holds and lowers it when calls queue,
time out or are refused, up to ``max_concurrency``. A retry is sent only after the earlier attempt has ended: a
timed-out attempt is cancelled first (its connection closed, which makes llama.cpp and vLLM drop the request), and
no slot is held while a retry waits out its backoff.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any

from judges.cache import CallCache
from judges.errors import RetryableProviderError
from judges.providers._base import Provider, ProviderInfo
from judges.providers.concurrency import AdaptiveLimit, LimitStats
from judges.types import Completion, ModelRequest

log = logging.getLogger(__name__)


@dataclass
class ClientStats:
    """Counters since the client was made. ``calls`` are real provider calls; cache hits are not calls."""

    calls: int = 0
    cache_hits: int = 0
    retries: int = 0
    errors: int = 0
    timeouts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def snapshot(self) -> ClientStats:
        return replace(self)


_TRACING: Any = None  # (opentelemetry.trace, tracing.llm_span) once imported; False when tracing is missing


def _llm_span(info: ProviderInfo, request: ModelRequest) -> AbstractContextManager[Any]:
    """An OpenInference LLM span when a tracer provider records spans; else nothing is built (the span's
    arguments, a copy of the whole request, were a twelfth of a judged case's CPU on the fake server)."""
    global _TRACING
    if _TRACING is None:
        try:
            from opentelemetry import trace

            from tracing import llm_span
        except ImportError:  # tracing is part of this repo, but judges must not fail without it
            _TRACING = False
        else:
            _TRACING = (trace, llm_span)
    if _TRACING is False:
        return nullcontext()
    trace, llm_span = _TRACING
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return nullcontext()  # no SDK provider installed: every span would be a non-recording no-op
    return llm_span(
        provider=info.name,
        model=info.model,
        messages=[{"role": m.role, "content": m.content} for m in request.messages],
        invocation_parameters={
            # keep temperature=0.0 and the like: only absent values are dropped
            k: v for k, v in request.to_dict().items() if k != "messages" and v is not None and v != () and v != []
        },
    )


class ModelClient:
    """Wraps a provider with cache, concurrency, rate limit, retries, usage and tracing."""

    def __init__(
        self,
        provider: Provider,
        *,
        cache: CallCache | None = None,
        max_concurrency: int = 8,
        requests_per_minute: float | None = None,
        max_retries: int = 5,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        timeout_s: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        trace: bool = True,
        adaptive: bool | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if requests_per_minute is not None and requests_per_minute <= 0:
            raise ValueError(f"requests_per_minute must be > 0, got {requests_per_minute}")
        self.provider = provider
        self.cache = cache
        self.max_concurrency = max_concurrency
        self.requests_per_minute = requests_per_minute
        self.max_retries = max_retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self.stats = ClientStats()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._trace = trace
        self._sem: asyncio.Semaphore | None = None
        self._rate_lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next_slot = 0.0
        self._checked = False
        # None: adaptive against a server, fixed for in-process models and fakes
        self.adaptive = provider.info.name == "openai-compatible" if adaptive is None else adaptive
        self._limit: AdaptiveLimit | None = None

    @property
    def info(self) -> ProviderInfo:
        return self.provider.info

    def _primitives(self) -> tuple[asyncio.Semaphore, asyncio.Lock]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._sem is None or self._rate_lock is None:
            self._loop = loop
            self._sem = asyncio.Semaphore(self.max_concurrency)
            self._rate_lock = asyncio.Lock()
            if self.adaptive:  # what it learnt about the server carries over to the new loop
                start = self._limit.current if self._limit is not None else None
                self._limit = AdaptiveLimit(self.max_concurrency, initial=start)
        return self._sem, self._rate_lock

    def concurrency(self) -> LimitStats | None:
        """Where the adaptive concurrency settled (None when it is fixed at ``max_concurrency``)."""
        return self._limit.stats() if self._limit is not None else None

    async def check(self) -> None:
        """Make sure the model is loadable/reachable; raises ModelUnavailableError with a fix."""
        if not self._checked:
            await self.provider.check()
            self._checked = True

    async def complete(self, request: ModelRequest) -> Completion:
        """The completion for ``request``: from the cache when present, else from the provider (with retries)."""
        key = request.cache_key(self.info.name, self.info.model) if self.cache is not None else ""
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.stats.cache_hits += 1
                if self._trace:  # a cached judge call still shows in the trace, marked as cached
                    with _llm_span(self.info, request) as rec:
                        if rec is not None:
                            rec.set_output(text=hit.text, prompt_tokens=hit.usage.prompt_tokens,
                                           completion_tokens=hit.usage.completion_tokens, cached=True)
                return hit
        sem, rate_lock = self._primitives()
        if self._limit is not None:
            completion = await self._call_with_retries(request, rate_lock, self._limit)
        else:
            async with sem:
                completion = await self._call_with_retries(request, rate_lock, None)
        self.stats.calls += 1
        self.stats.prompt_tokens += completion.usage.prompt_tokens
        self.stats.completion_tokens += completion.usage.completion_tokens
        # a label request without label probabilities is a server saying it cannot score labels (the judges then
        # parse text), not an answer: kept out of the cache so that a rerun asks again and learns the same
        if self.cache is not None and (request.labels is None or completion.label_probs is not None):
            self.cache.put(key, request, completion)
        return completion

    async def _wait_for_rate(self, rate_lock: asyncio.Lock) -> None:
        if self.requests_per_minute is None:
            return
        interval = 60.0 / self.requests_per_minute
        async with rate_lock:
            now = time.monotonic()
            wait = self._next_slot - now
            self._next_slot = max(now, self._next_slot) + interval
        if wait > 0:
            await self._sleep(wait)

    def backoff_delay(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff; a server's Retry-After is a floor."""
        cap = min(self.backoff_max_s, self.backoff_base_s * (2**attempt))
        delay = self._rng.uniform(0, cap)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max_s * 4))
        return delay

    async def _call_with_retries(self, request: ModelRequest, rate_lock: asyncio.Lock,
                                 limit: AdaptiveLimit | None) -> Completion:
        attempt = 0
        while True:
            if limit is not None:  # one slot per attempt: none is held while a retry waits out its backoff
                await limit.acquire()
            latency: float | None = None
            overloaded = False
            try:
                completion = await self._attempt(request, rate_lock)
                latency = completion.latency_s
                return completion
            except RetryableProviderError as exc:
                error = exc
                # a timeout or a refusal says the server is full: the adaptive limit comes down
                overloaded = exc.status is None or exc.status in (408, 429, 503, 504)
                if _timed_out(exc):
                    self.stats.timeouts += 1
            except Exception:
                self.stats.errors += 1
                raise
            finally:
                if limit is not None:
                    limit.release(latency, overloaded=overloaded)
            # the attempt has ended (a timed-out one was cancelled and closed): only now may a retry go out
            if attempt >= self.max_retries:
                self.stats.errors += 1
                raise error
            delay = self.backoff_delay(attempt, error.retry_after)
            log.warning("retrying %s in %.2fs after: %s", self.info.model, delay, error)
            self.stats.retries += 1
            attempt += 1
            await self._sleep(delay)

    async def _attempt(self, request: ModelRequest, rate_lock: asyncio.Lock) -> Completion:
        if self.requests_per_minute is not None:
            await self._wait_for_rate(rate_lock)
        span = _llm_span(self.info, request) if self._trace else nullcontext()
        with span as rec:
            t0 = time.perf_counter()
            try:
                if self.timeout_s:
                    # on timeout the attempt is cancelled and has ended (its connection closed) when TimeoutError
                    # leaves the block; asyncio.timeout runs it in this task (wait_for made a task per call)
                    async with asyncio.timeout(self.timeout_s):
                        completion = await self.provider.generate(request)
                else:
                    completion = await self.provider.generate(request)
            except TimeoutError as exc:
                raise RetryableProviderError(f"{self.info.model} timed out after {self.timeout_s}s") from exc
            if rec is not None:
                rec.set_output(
                    text=completion.text,
                    prompt_tokens=completion.usage.prompt_tokens,
                    completion_tokens=completion.usage.completion_tokens,
                    cached=completion.cached,
                )
        if not completion.latency_s:
            completion = replace(completion, latency_s=time.perf_counter() - t0)
        return completion


def _timed_out(exc: RetryableProviderError) -> bool:
    return isinstance(exc.__cause__, TimeoutError) or "timed out" in str(exc) or "timeout" in str(exc)
