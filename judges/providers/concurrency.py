"""A concurrency limit that adapts to the server: it rises while latency holds and falls when the server queues.

The model client holds one per process (:class:`judges.client.ModelClient` with ``adaptive=True``). A
self-hosted server serves ``slots`` requests at once and queues the rest; sending more only adds queueing
(latency) and, past the client timeout, abandoned requests. The limit follows a gradient (as Netflix's
``Gradient`` and TCP Vegas do): the ratio of the unloaded latency (the least seen, drifting up by ``drift``
a call) to the recent one,

    gradient = clamp(tolerance * unloaded / recent, 0.5, 1)
    limit <- limit + 1 / limit                           while gradient == 1 (one more per limit's worth of calls)
    limit <- limit * (1 - smoothing * (1 - gradient))    when calls queue

so it grows while latency holds and shrinks once calls queue: against a server with ``s`` slots and equal
calls, recent = unloaded * limit / s past saturation, so the limit hovers about ``tolerance * s`` (3 for 2
slots: both slots stay busy with one call waiting). A 429 / 503 or a timeout halves it at once
(at most once per recent latency, so one burst of refusals counts
once). The latency is measured from the moment a request is sent, never including the wait for the limit.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class LimitStats:
    """What the limit did: where it settled (the mean over the last calls), its range, and the refusals seen."""

    settled: float
    low: int
    high: int
    decreases: int
    overloads: int


class AdaptiveLimit:
    """At most ``limit`` calls at once, ``limit`` between ``min_limit`` and ``max_limit``, moved by latency and
    refusals. ``acquire``/``release`` pair around each call; ``release`` takes the call's latency and outcome."""

    def __init__(self, max_limit: int, *, initial: int | None = None, min_limit: int = 1,
                 tolerance: float = 1.5, smoothing: float = 0.2, drift: float = 0.002) -> None:
        if max_limit < 1 or min_limit < 1 or min_limit > max_limit:
            raise ValueError(f"need 1 <= min_limit <= max_limit, got min_limit={min_limit}, max_limit={max_limit}")
        self.max_limit = max_limit
        self.min_limit = min_limit
        self.limit = float(min(max_limit, max(min_limit, initial if initial is not None else min(4, max_limit))))
        self.tolerance = tolerance
        self.smoothing = smoothing
        self.drift = drift
        self._base: float | None = None
        self._short: float | None = None
        self._in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._last_cut = -math.inf
        self._history: deque[float] = deque(maxlen=50)
        self.low = self.high = int(self.limit)
        self.decreases = 0
        self.overloads = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def current(self) -> int:
        """The number of calls allowed at once right now."""
        return max(self.min_limit, int(self.limit))

    async def acquire(self) -> None:
        while self._in_flight >= self.current:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except BaseException:
                if fut in self._waiters:
                    self._waiters.remove(fut)
                elif fut.done() and not fut.cancelled():
                    self._wake()  # pass on a wake-up this cancelled waiter got
                raise
        self._in_flight += 1

    def release(self, latency_s: float | None, *, overloaded: bool = False) -> None:
        """End a call: ``latency_s`` of a served call (None when it failed otherwise); ``overloaded`` for a
        429 / 503 / timeout."""
        self._in_flight -= 1
        if overloaded:
            self._overload()
        elif latency_s is not None:
            self._observe(latency_s)
        self._history.append(self.limit)
        self.low, self.high = min(self.low, self.current), max(self.high, self.current)
        self._wake()

    def _wake(self) -> None:
        free = self.current - self._in_flight
        while free > 0 and self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                free -= 1

    def _observe(self, latency: float) -> None:
        # the unloaded latency: the least seen, drifting up slowly (0.2% a call) so that it follows a server that
        # really slowed down, but not the queueing the limit itself causes
        base = self._base = latency if self._base is None else min(latency, self._base * (1 + self.drift))
        self._short = latency if self._short is None else self._short + 0.3 * (latency - self._short)
        gradient = max(0.5, min(1.0, self.tolerance * base / max(self._short, 1e-9)))
        if gradient < 1.0:  # calls queue: come down in proportion to how much
            self.decreases += 1
            new = self.limit * (1 - self.smoothing * (1 - gradient))
        else:  # latency holds: one more call at once per limit's worth of calls
            new = self.limit + 1 / self.limit
        self.limit = min(float(self.max_limit), max(float(self.min_limit), new))

    def _overload(self) -> None:
        self.overloads += 1
        now = time.monotonic()
        if now - self._last_cut < (self._short or 0.0):
            return  # the same burst of refusals: already halved
        self._last_cut = now
        self.decreases += 1
        self.limit = max(float(self.min_limit), self.limit / 2)

    def stats(self) -> LimitStats:
        settled = sum(self._history) / len(self._history) if self._history else self.limit
        return LimitStats(settled=settled, low=self.low, high=self.high, decreases=self.decreases,
                          overloads=self.overloads)
