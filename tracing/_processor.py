"""A batching span processor that never blocks the application and counts what it drops.

Why not the SDK's ``BatchSpanProcessor``: in opentelemetry-sdk 1.45 it drops spans on a full queue
without counting them (it logs one warning per dropped span, a log flood exactly when the collector
is down) and its ``force_flush`` ignores its timeout. Here the queue is a bounded deque, ``on_end``
is O(1) and never waits, and every span that does not reach the collector is counted once, by reason.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryStats:
    """Counts since the processor started. ``dropped`` is the sum of the three drop reasons."""

    enqueued: int
    exported: int
    dropped_queue_full: int
    dropped_export_failed: int
    dropped_at_shutdown: int
    queued_now: int

    @property
    def dropped(self) -> int:
        """Spans that will never reach the collector."""
        return self.dropped_queue_full + self.dropped_export_failed + self.dropped_at_shutdown


class BoundedBatchSpanProcessor(SpanProcessor):
    """Queues ended spans (at most ``max_queue_size``) and exports them in batches on one thread."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        max_queue_size: int = 2048,
        max_export_batch_size: int = 512,
        schedule_delay_s: float = 0.5,
        shutdown_timeout_s: float = 5.0,
    ) -> None:
        self._exporter = exporter
        self._max_queue_size = max_queue_size
        self._batch_size = min(max_export_batch_size, max_queue_size)
        self._delay = schedule_delay_s
        # Used when the SDK shuts the provider down at interpreter exit without a timeout of its own.
        self._shutdown_timeout_ms = int(shutdown_timeout_s * 1000)
        self._queue: collections.deque[ReadableSpan] = collections.deque()
        self._lock = threading.Lock()  # guards the counters written from application threads
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._shutdown = False
        self._flushing = False
        self._deadline: float | None = None
        self._enqueued = self._exported = 0
        self._dropped_full = self._dropped_failed = self._dropped_shutdown = 0
        self._worker = threading.Thread(target=self._run, name="evalharness-span-export", daemon=True)
        self._worker.start()

    # -- application side -------------------------------------------------------------------
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is None or not span.context.trace_flags.sampled:
            return
        if self._shutdown:
            self._count_drop("shutdown")
            return
        if len(self._queue) >= self._max_queue_size:
            self._count_drop("full")
            return
        self._queue.append(span)
        self._enqueued += 1  # only a statistic; an occasional lost increment under races is harmless
        if len(self._queue) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def _count_drop(self, reason: str) -> None:
        with self._lock:
            if reason == "full":
                self._dropped_full += 1
                first = self._dropped_full == 1 or self._dropped_full % 1000 == 0
            else:
                self._dropped_shutdown += 1
                first = False
        if first:
            logger.warning(
                "span queue full (%d spans): dropping spans; %d dropped so far. Is the collector reachable?",
                self._max_queue_size,
                self._dropped_full,
            )

    def stats(self) -> DeliveryStats:
        """A snapshot of the delivery counters."""
        with self._lock:
            return DeliveryStats(
                enqueued=self._enqueued,
                exported=self._exported,
                dropped_queue_full=self._dropped_full,
                dropped_export_failed=self._dropped_failed,
                dropped_at_shutdown=self._dropped_shutdown,
                queued_now=len(self._queue),
            )

    # -- export side ------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            woken = self._wake.wait(self._delay)
            self._wake.clear()
            # Woken by a full batch: export full batches only, so a busy application is not
            # interrupted by a stream of tiny exports; on the timer, flush or shutdown: everything.
            self._drain(full_batches_only=woken and not self._flushing and not self._shutdown)
            if self._shutdown:
                break

    def _drain(self, full_batches_only: bool = False) -> None:
        try:
            while self._queue and not (full_batches_only and len(self._queue) < self._batch_size):
                if self._deadline is not None and time.monotonic() > self._deadline:
                    return
                self._idle.clear()
                batch: list[ReadableSpan] = []
                while self._queue and len(batch) < self._batch_size:
                    batch.append(self._queue.popleft())
                try:
                    ok = self._exporter.export(batch) is SpanExportResult.SUCCESS
                except Exception:  # an exporter bug must not kill the export thread
                    logger.exception("span exporter raised; dropping a batch of %d spans", len(batch))
                    ok = False
                with self._lock:
                    if ok:
                        self._exported += len(batch)
                    else:
                        self._dropped_failed += len(batch)
        finally:
            self._idle.set()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything queued now; False when ``timeout_millis`` passed first."""
        deadline = time.monotonic() + timeout_millis / 1000
        self._flushing = True
        try:
            while time.monotonic() < deadline:
                if not self._queue and self._idle.is_set():
                    return True
                self._wake.set()
                self._idle.wait(min(0.01, max(0.0, deadline - time.monotonic())))
            return not self._queue and self._idle.is_set()
        finally:
            self._flushing = False

    def shutdown(self, timeout_millis: int | None = None) -> None:
        """Flush what can be flushed within ``timeout_millis``, count the rest as dropped, stop."""
        if self._shutdown:
            return
        if timeout_millis is None:
            timeout_millis = self._shutdown_timeout_ms
        self._deadline = time.monotonic() + timeout_millis / 1000
        self._shutdown = True
        self._wake.set()
        self._worker.join(timeout_millis / 1000)
        # Aborts the exporter's retry back-off if a batch is still in flight.
        try:
            self._exporter.shutdown()
        except Exception:
            logger.exception("span exporter failed to shut down")
        self._worker.join(1.0)
        with self._lock:
            left = len(self._queue)
            self._queue.clear()
            self._dropped_shutdown += left
