"""Online evaluation: judge the sampled new traces, write the verdicts back, move the checkpoint.

For each page of the source (oldest first), each evaluator picks the rows its filter selects and its
rate samples (hash of the trace id), minus those the scores table already holds; they are judged in
batches. A batch's verdicts are written as a pending part of the scores table, annotated in Phoenix
(upsert), then committed. The checkpoint moves to the end of a page once all of it is written; when a
batch fails (Phoenix down or slow beyond the retry budget, the judge provider out), the run stops and the
checkpoint moves only to the first row not yet written, so the next run resumes there and the ledger
keeps it from judging anything twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.checkpoint import Checkpoint, StateFile
from monitor.config import ATTRIBUTE_COLUMNS, EvaluatorConfig, MonitorConfig
from monitor.errors import ConfigError, JudgeOutageError, MonitorError, SourceError, WriteBackError
from monitor.sampling import RateChoice, in_sample, rate_for_ci_width
from monitor.scores import ScoresTable, TraceScore
from monitor.sources import Page, Source, TraceRow
from monitor.writeback import write_annotations

__all__ = ["EvaluateReport", "OnlineEvaluation", "build_judge", "make_judge", "resolve_rates"]

log = logging.getLogger(__name__)

# Provider answers that mean "the judge is down or misconfigured", not "this trace is a bad input".
_OUTAGE_STATUS = frozenset({401, 403, 404})


# ---------------------------------------------------------------------------------- evaluators


def make_judge(name: str, *, kind: str = "pointwise", rubric: str | None = None, scale: tuple[int, int] = (1, 5),
               steps: Sequence[str] | None = None, max_entropy_bits: float | None = 1.5, explain: bool = True) -> Any:
    """The one judge-from-config factory for stored traces (online evaluators and per-span criteria):
    ``judges.PointwiseJudge`` on a rubric, or ``judges.GEval`` (steps generated once from the rubric if none)."""
    from judges import GEval, PointwiseJudge

    if kind == "pointwise":
        return PointwiseJudge(name, rubric or "", scale=scale, explain=explain, max_entropy_bits=max_entropy_bits)
    if kind == "geval":
        return GEval(name, rubric or name, evaluation_steps=tuple(steps) if steps else None, scale=scale,
                     max_entropy_bits=max_entropy_bits)
    raise ConfigError(f"judge kind {kind!r} is not 'pointwise' or 'geval'")


def build_judge(ev: EvaluatorConfig) -> Any:
    """The judge an evaluator config names."""
    return make_judge(ev.metric, kind=ev.judge, rubric=ev.rubric, scale=ev.scale, steps=ev.steps,
                      max_entropy_bits=ev.max_entropy_bits)


def _filter_column(key: str) -> str:
    if key in ATTRIBUTE_COLUMNS:
        return ATTRIBUTE_COLUMNS[key]
    return key.removeprefix("metadata.")


def check_filters(config: MonitorConfig) -> None:
    """Reject filters a source cannot answer (with the keys it can)."""
    from tracing.production_log import LOG_COLUMNS

    for ev in config.evaluator:
        for key, value in ev.where.items():
            if key == "span_kind":
                kinds = {str(v).upper() for v in (value if isinstance(value, list) else [value])}
                if kinds != {"LLM"}:
                    raise ConfigError(f"evaluator {ev.name!r}: where.span_kind = {value!r}: the production "
                                      "log and tracing.production_log's Phoenix reader hold one row per request "
                                      "(its root span); leave span_kind out, or judge other spans with "
                                      "python -m monitor.span_eval --select 'kind=...'")
                continue
            column = _filter_column(key)
            if config.source.kind == "phoenix" and column not in LOG_COLUMNS:
                raise ConfigError(
                    f"evaluator {ev.name!r}: where.{key}: Phoenix spans are read as production-log rows, which "
                    f"carry only {', '.join(LOG_COLUMNS)} (metadata.topic/language, llm.model_name, session.id, "
                    "user.id); filter on one of those, or read the JSONL log, whose extra keys are kept")


def _matches(ev: EvaluatorConfig, row: TraceRow) -> bool:
    for key, wanted in ev.where.items():
        if key == "span_kind":
            continue
        got = row.value(_filter_column(key))
        options = wanted if isinstance(wanted, list) else [wanted]
        if got is None or str(got) not in {str(o) for o in options}:
            return False
    return True


def resolve_rates(config: MonitorConfig, scores: ScoresTable, until: datetime) -> dict[str, RateChoice]:
    """Each evaluator's sample rate: configured, or derived from its target CI width.

    For a target width the score SD comes from ``score_sd``, else the evaluator's verdicts over the
    reference window, else the largest SD a score on its scale can have; the daily traffic comes from
    ``daily_traces``, else the last day's verdicts weighted by 1/rate (Horvitz–Thompson), else every trace
    is judged until a day of history exists.
    """
    out: dict[str, RateChoice] = {}
    history = None
    for ev in config.evaluator:
        if ev.sample_rate is not None:
            out[ev.name] = RateChoice(ev.sample_rate, "configured")
            continue
        assert ev.target_ci_width is not None
        if history is None:
            history = scores.frame(until - config.quality.reference, until,
                                   columns=["evaluator", "timestamp", "score", "sample_rate"])
        mine = history[history["evaluator"] == ev.name]
        scored = mine["score"].dropna()
        if ev.score_sd is not None:
            sd, sd_from = ev.score_sd, "score_sd"
        elif len(scored) >= config.quality.min_n and float(scored.std()) > 0:
            sd, sd_from = float(scored.std()), f"sd of {len(scored)} recent verdicts"
        else:
            sd, sd_from = (ev.scale[1] - ev.scale[0]) / 2, "largest sd on the scale"
        day = mine[mine["timestamp"] >= until - timedelta(days=1)]
        if ev.daily_traces is not None:
            traffic, traffic_from = float(ev.daily_traces), "daily_traces"
        elif len(mine) and mine["timestamp"].min() <= until - timedelta(days=1) and len(day):
            traffic, traffic_from = float((1.0 / day["sample_rate"].clip(lower=1e-9)).sum()), "last day's traffic"
        else:
            out[ev.name] = RateChoice(1.0, "no traffic estimate yet (set daily_traces): judging every trace")
            continue
        rate = rate_for_ci_width(ev.target_ci_width, daily_traces=traffic, score_sd=sd)
        out[ev.name] = RateChoice(rate, f"CI width {ev.target_ci_width:g} with sd {sd:.2f} ({sd_from}) over "
                                        f"{traffic:.0f} traces/day ({traffic_from})")
    return out


# ---------------------------------------------------------------------------------- the judging


_LAST_PROVIDER_ERROR: contextvars.ContextVar[list[BaseException] | None] = contextvars.ContextVar(
    "monitor_last_provider_error", default=None)


class WatchedProvider:
    """Wraps the judge client's provider to tell a provider outage from a verdict that failed to parse.

    Judges turn both into a ``JudgeFailure``; an outage must not be recorded as a verdict (the trace is
    judged again later), while an unreadable reply is a verdict for a human to look at. The outcome of
    each case's last provider call is kept in a per-task box (a context variable).
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def info(self) -> Any:
        # the inner provider's, read each time: a server provider replaces its info when its first label call
        # shows it cannot score labels, and the judges must then see that (a copy made here said it still could)
        return self.inner.info

    async def generate(self, request: Any) -> Any:
        from judges import ProviderError, RetryableProviderError

        box = _LAST_PROVIDER_ERROR.get()
        try:
            out = await self.inner.generate(request)
        except ProviderError as exc:
            if box is not None and (isinstance(exc, RetryableProviderError) or exc.status in _OUTAGE_STATUS):
                box[:] = [exc]
            raise
        if box is not None:
            box.clear()
        return out

    async def check(self) -> None:
        await self.inner.check()


@dataclass(frozen=True)
class _Task:
    row: TraceRow
    ev: EvaluatorConfig
    judge: Any
    rate: float


async def _judge_one(client: Any, task: _Task, source: str) -> Any:
    """The judge's result for one task, or the provider error that stopped it."""
    import tracing
    from judges import Case, JudgeError

    box: list[BaseException] = []
    _LAST_PROVIDER_ERROR.set(box)
    row = task.row
    case = Case(row.key, row.prompt, output=row.response)
    with tracing.evaluator_span(f"monitor:{task.ev.name}", suite="monitor", case_id=row.key, input=row.response,
                                attributes={"monitor.trace_id": row.trace_id, "monitor.span_id": row.span_id or "",
                                            "monitor.source": source}) as span:
        try:
            result = await task.judge.judge(client, case)
        except JudgeError as exc:  # no verdict possible at all (model unavailable, steps not generated)
            span.set_failure(str(exc))
            return exc
        if result.ok:
            span.set_result(result.score, result.label, result.reasoning)
        else:
            span.set_failure(result.reason)
    if not result.ok and box:
        return box[0]
    return result


def _verdict(task: _Task, result: Any, *, run_id: str) -> TraceScore:
    """The judge's result as the one verdict record: ``to_score`` decides pass/fail as it does for a CI case."""
    from experiments.suite import to_score
    from review.escalation import EscalationRules, review_reasons

    ev, row = task.ev, task.row
    score = to_score(task.judge, result, threshold=ev.pass_at, trace_id=row.trace_id, span_id=row.span_id)
    rules = EscalationRules.from_reasons(ev.review, pass_at=ev.pass_at)  # the one escalation rule set
    reason = "; ".join(review_reasons(score, rules)) or None
    text: dict[str, Any] = {"input": row.prompt, "output": row.response} if reason else {}
    return TraceScore(
        evaluator=ev.name, version=ev.version, key=row.key, trace_id=row.trace_id, span_id=row.span_id,
        timestamp=row.timestamp, judged_at=datetime.now(UTC), run_id=run_id, sample_rate=task.rate, result=score,
        review_reason=reason, model=_text(row.value("model")), topic=_text(row.value("topic")),
        language=_text(row.value("language")), **text)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


# ---------------------------------------------------------------------------------- the step


@dataclass
class EvaluateReport:
    """What one online-evaluation step did; ``error`` is set when it stopped early."""

    source: str
    since: datetime
    until: datetime
    backfill: bool
    rates: dict[str, RateChoice] = field(default_factory=dict)
    pages: int = 0
    rows: int = 0
    malformed: int = 0
    malformed_reasons: dict[str, int] = field(default_factory=dict)
    sampled: int = 0
    already_judged: int = 0
    judged: int = 0
    judge_failures: int = 0
    annotated: int = 0
    written: int = 0
    recovered: int = 0
    doubtful: int = 0
    checkpoint_before: datetime | None = None
    checkpoint_after: datetime | None = None
    seconds: float = 0.0
    error: str | None = None

    def line(self) -> str:
        """The one summary line the scheduled command prints for this step."""
        status = "ERROR" if self.error else "ok"
        bad = ""
        if self.malformed:
            why = ", ".join(f"{n} {r}" for r, n in sorted(self.malformed_reasons.items()))
            bad = f" ({self.malformed} malformed skipped: {why})"
        moved = ("backfill: checkpoint untouched" if self.backfill else
                 f"checkpoint {_stamp(self.checkpoint_before)} -> {_stamp(self.checkpoint_after)}")
        text = (f"evaluate: {status} {self.source} [{_stamp(self.since)}, {_stamp(self.until)}): read {self.rows} rows"
                f"{bad}, sampled {self.sampled} ({self.already_judged} already judged), judged {self.judged} "
                f"({self.judge_failures} judge failures, {self.doubtful} doubtful), annotated {self.annotated}, "
                f"written {self.written}" + (f", recovered {self.recovered} pending" if self.recovered else "")
                + f"; {moved}; {self.seconds:.1f}s")
        return text + (f" — {self.error}" if self.error else "")


def _stamp(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value is not None else "none"


class OnlineEvaluation:
    """The online-evaluation step of one run (see the module docstring for the order of writes)."""

    def __init__(self, config: MonitorConfig, *, source: Source, client: Any, scores: ScoresTable,
                 state: StateFile, run_id: str, annotate: Callable[..., list[str]] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        check_filters(config)
        self.config = config
        self.source = source
        self.client = client
        if not isinstance(client.provider, WatchedProvider):
            client.provider = WatchedProvider(client.provider)
        self.scores = scores
        self.state = state
        self.run_id = run_id
        self._annotate = annotate
        self._sleep = sleep
        self._judges = {ev.name: build_judge(ev) for ev in config.evaluator}
        self._parts = 0

    def window(self, now: datetime, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime, bool]:
        """``[since, until)`` to read, and whether it is a backfill (explicit bounds leave the checkpoint)."""
        src = self.config.source
        if since is not None or until is not None:
            start = since or (now - src.start)
            end = until or (now - src.settle)
            if start >= end:
                raise ConfigError(f"--since {start.isoformat()} is not before --until {end.isoformat()}")
            return start, end, True
        mark = self.state.load(self.source.name).watermark
        start = (mark - src.lookback) if mark is not None else (now - src.start)
        return start, now - src.settle, False

    def run(self, now: datetime, since: datetime | None = None, until: datetime | None = None) -> EvaluateReport:
        """Judge what is new (or ``[since, until)``); never raises for an outage: the report carries it."""
        t0 = time.perf_counter()
        start, end, backfill = self.window(now, since, until)
        report = EvaluateReport(self.source.name, start, end, backfill)
        checkpoint = self.state.load(self.source.name)
        report.checkpoint_before = report.checkpoint_after = checkpoint.watermark
        try:
            asyncio.run(self._run(report, checkpoint, start, end, backfill))
        except MonitorError as exc:
            report.error = str(exc)
        finally:
            report.seconds = time.perf_counter() - t0
        return report

    async def _run(self, report: EvaluateReport, checkpoint: Checkpoint, start: datetime, end: datetime,
                   backfill: bool) -> None:
        report.recovered = await self._recover(report)
        report.rates = resolve_rates(self.config, self.scores, end)
        await self._check_judge()
        with contextlib.closing(self.source.pages(start, end)) as pages:
            await self._pages(pages, report, checkpoint, backfill)

    async def _pages(self, pages: Iterator[Page], report: EvaluateReport, checkpoint: Checkpoint,
                     backfill: bool) -> None:
        for page in pages:
            report.pages += 1
            report.rows += len(page.rows)
            report.malformed += page.malformed
            for why, n in page.reasons.items():
                report.malformed_reasons[why] = report.malformed_reasons.get(why, 0) + n
            failed_at = await self._page(page, report)
            mark = page.end if failed_at is None else failed_at[0]
            if not backfill:
                checkpoint = checkpoint.advanced(run_id=self.run_id, watermark=mark)
                self.state.save(checkpoint)
                report.checkpoint_after = checkpoint.watermark
            if failed_at is not None:
                raise failed_at[1]

    async def _check_judge(self) -> None:
        """Fail before reading anything when the judge model cannot be loaded or reached."""
        from judges import JudgeError

        try:
            await self.client.check()
        except JudgeError as exc:
            raise JudgeOutageError(f"the judge model is not available: {exc}") from exc

    async def _recover(self, report: EvaluateReport) -> int:
        """Finish the pending parts a killed or failed run left: annotate, then commit (no judging)."""
        n = 0
        for part in self.scores.pending():
            verdicts = self.scores.read_part(part)
            report.annotated += self._write_back(verdicts)
            self.scores.commit(part)
            n += len(verdicts)
        return n

    def _write_back(self, verdicts: Sequence[TraceScore]) -> int:
        phoenix = self.config.phoenix
        if not phoenix.annotate:
            return 0
        names = {ev.name for ev in self.config.evaluator if ev.annotate}
        wanted = [v for v in verdicts if v.evaluator in names]
        return write_annotations(wanted, url=self.config.phoenix_url, timeout_s=phoenix.timeout_s,
                                 retry_budget_s=phoenix.retry_budget_s, sync=phoenix.sync_annotations,
                                 annotate=self._annotate, sleep=self._sleep)

    def _tasks(self, page: Page, report: EvaluateReport) -> list[_Task]:
        done = self.scores.judged_keys(page.start, page.end)
        tasks = []
        for row in page.rows:
            for ev in self.config.evaluator:
                rate = report.rates[ev.name].rate
                if not _matches(ev, row) or not in_sample(row.trace_id, rate):
                    continue
                report.sampled += 1
                if (ev.name, ev.version, row.key) in done:
                    report.already_judged += 1
                    continue
                tasks.append(_Task(row, ev, self._judges[ev.name], rate))
        return tasks

    def _pending(self, verdicts: list[TraceScore], report: EvaluateReport) -> list[Path]:
        """Make a batch's verdicts durable as pending (they count as judged from here on)."""
        self._parts += 1
        parts = self.scores.write_pending(verdicts, f"part-{self.run_id}-{self._parts:05d}")
        report.judged += len(verdicts)
        report.judge_failures += sum(v.result.failure is not None for v in verdicts)
        report.doubtful += sum(v.review_reason is not None for v in verdicts)
        return parts

    def _publish(self, verdicts: list[TraceScore], parts: list[Path]) -> int:
        """Annotate, then commit the pending parts (runs in a worker thread); returns the annotations written."""
        annotated = self._write_back(verdicts)
        for part in parts:
            self.scores.commit(part)
        return annotated

    async def _page(self, page: Page, report: EvaluateReport) -> tuple[datetime, MonitorError] | None:
        """Judge and write one page; on failure, the time of the first row not written and the error.

        A batch's write-back (Phoenix, then the commit) runs in a thread while the next batch is judged.
        """
        tasks = self._tasks(page, report)
        size = self.config.batch_size
        writing: tuple[asyncio.Future[int], list[_Task], int] | None = None
        for i in range(0, len(tasks), size):
            batch = tasks[i : i + size]
            results = await asyncio.gather(*(_judge_one(self.client, t, self.source.name) for t in batch))
            finished, outage = [], None
            for task, result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    outage = outage or (task, result)
                    continue
                finished.append(_verdict(task, result, run_id=self.run_id))
            try:
                parts = self._pending(finished, report) if finished else []
            except OSError as exc:
                return batch[0].row.timestamp, SourceError(f"writing verdicts to {self.scores.path} failed: {exc}")
            if writing is not None:
                failed = await self._published(writing, report)
                if failed is not None:
                    return failed  # this batch's verdicts stay pending: the next run writes them back
                writing = None
            if finished:
                writing = (asyncio.ensure_future(asyncio.to_thread(self._publish, finished, parts)), batch,
                           len(finished))
            if outage is not None:
                if writing is not None and (failed := await self._published(writing, report)) is not None:
                    return failed
                task, cause = outage
                # TraceScores finished beside the failed calls are written; the first failed row bounds the mark.
                first_failed = min(t.row.timestamp for t, r in zip(batch, results, strict=True)
                                   if isinstance(r, BaseException))
                return first_failed, JudgeOutageError(
                    f"the judge provider failed on {task.row.key} ({cause}); {len(finished)} verdicts of this batch "
                    "were written, the rest wait for the next run")
        if writing is not None:
            return await self._published(writing, report)
        return None

    async def _published(self, writing: tuple[asyncio.Future[int], list[_Task], int],
                         report: EvaluateReport) -> tuple[datetime, MonitorError] | None:
        """Wait for a batch's write-back; on failure, the time of its first row and the error."""
        future, batch, n = writing
        try:
            report.annotated += await future
        except (WriteBackError, OSError) as exc:
            error = exc if isinstance(exc, MonitorError) else SourceError(f"committing verdicts failed: {exc}")
            return batch[0].row.timestamp, error
        report.written += n
        return None
