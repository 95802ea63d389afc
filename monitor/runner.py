"""The scheduled run: online evaluation since the checkpoint, the reports over the window, queue filling.

Steps run in that order under one lock, each printing one summary line; a step that fails does not stop
the later ones that can still run (the quality report reads what is already stored). Exit code: 0 all
well, 1 a quality alert or production drift, 2 an error in any step (or another run holding the lock).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from judges import JudgeError
from monitor.checkpoint import RunLock, StateFile
from monitor.config import MonitorConfig
from monitor.errors import MonitorError
from monitor.online import EvaluateReport, OnlineEvaluation
from monitor.quality import QualityReport, quality_report, when, write_quality
from monitor.scores import ScoresTable
from monitor.sources import Source, make_source
from monitor.writeback import review_items

__all__ = ["EXIT_ALERT", "EXIT_ERROR", "EXIT_OK", "RunResult", "make_client", "run_monitor"]

log = logging.getLogger(__name__)

EXIT_OK, EXIT_ALERT, EXIT_ERROR = 0, 1, 2


@dataclass
class RunResult:
    """The outcome of one scheduled run: its exit code, the summary lines, and each step's report."""

    run_id: str
    exit_code: int = EXIT_OK
    lines: list[str] = field(default_factory=list)
    evaluate: EvaluateReport | None = None
    quality: QualityReport | None = None
    drift: dict[str, Any] | None = None
    queue: dict[str, Any] | None = None
    reports: dict[str, str] = field(default_factory=dict)
    #: what made the run alert: "quality alert" and/or "drift" (the exit line names them)
    fired: list[str] = field(default_factory=list)


def make_client(config: MonitorConfig) -> Any:
    """The judge model client ``[judge]`` describes (``judges.get_model``)."""
    from judges.config import JudgeConfig, get_model

    j = config.judge
    cache = None if j.cache is None or j.cache.lower() in ("off", "none", "") else j.cache
    return get_model(config=JudgeConfig(model=j.model, base_url=j.base_url, api_key_env=j.api_key_env,
                                        max_concurrency=j.max_concurrency, requests_per_minute=j.requests_per_minute,
                                        timeout_s=j.timeout_s, max_retries=j.max_retries, n_ctx=j.n_ctx, cache=cache))


def source_for(config: MonitorConfig) -> Source:
    src = config.source
    return make_source(src.kind, project=src.project, url=src.url or config.phoenix.url, path=src.path,
                       page_limit=src.page_limit, timeout_s=config.phoenix.timeout_s,
                       retry_budget_s=config.phoenix.retry_budget_s, strict=src.strict)


def _trace_judges(config: MonitorConfig) -> Any:
    """Send the judges' own spans to their own Phoenix project, never the application's."""
    if not config.phoenix.judge_project:
        return None
    import tracing

    return tracing.setup(config.phoenix_url, config.phoenix.judge_project)


def run_monitor(
    config: MonitorConfig,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    now: datetime | None = None,
    client: Any = None,
    source: Source | None = None,
    annotate: Callable[..., list[str]] | None = None,
    trace_judges: bool = True,
    echo: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> RunResult:
    """Run the three steps once; ``since``/``until`` backfill that range and leave the checkpoint alone."""
    now = now or datetime.now(UTC)
    run_id = now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
    result = RunResult(run_id)

    def say(line: str) -> None:
        result.lines.append(line)
        echo(line)

    state_dir = Path(config.state_dir)
    try:
        with RunLock(state_dir / "monitor.lock"):
            handle = _trace_judges(config) if trace_judges else None
            try:
                _steps(config, result, say, now=now, since=since, until=until, client=client, source=source,
                       annotate=annotate, sleep=sleep)
            finally:
                if handle is not None:
                    handle.force_flush(timeout_s=config.phoenix.timeout_s)
                    handle.shutdown(timeout_s=config.phoenix.timeout_s)
    except MonitorError as exc:  # the lock is held by another run
        result.exit_code = EXIT_ERROR
        say(f"monitor: ERROR {exc}")
        return result
    say(f"monitor: exit {result.exit_code} ({_meaning(result)}); run {run_id}")
    return result


def _meaning(result: RunResult) -> str:
    """What the exit code stands for in this run: which of quality and drift fired (also beside an error)."""
    fired = " and ".join(result.fired)
    if result.exit_code == EXIT_ERROR:
        return f"error; also {fired}" if fired else "error"
    return fired or "ok"


def _steps(config: MonitorConfig, result: RunResult, say: Callable[[str], None], *, now: datetime,
           since: datetime | None, until: datetime | None, client: Any, source: Source | None,
           annotate: Callable[..., list[str]] | None, sleep: Callable[[float], None]) -> None:
    scores = ScoresTable(config.scores_path)
    state = StateFile(Path(config.state_dir) / "checkpoint.json")
    out_dir = Path(config.reports_dir) / result.run_id
    errors = 0

    # 1. online evaluation
    try:
        source = source or source_for(config)
        evaluation = OnlineEvaluation(config, source=source, client=client or make_client(config), scores=scores,
                                      state=state, run_id=result.run_id, annotate=annotate, sleep=sleep)
        report = evaluation.run(now, since, until)
        result.evaluate = report
        say(report.line())
        errors += report.error is not None
        window_start, window_end = report.since, report.until
    except (MonitorError, JudgeError) as exc:  # e.g. an unknown [judge] model
        say(f"evaluate: ERROR {exc}")
        errors += 1
        window_end = until or now
        window_start = since or (window_end - config.quality.current)

    # 2. the reports over the window: judge-score quality, production drift, topics
    embed = _WindowEmbeddings()  # the drift step's topic feature and the topics report embed the same inputs once
    frame: Any = None
    labels: Any = None
    try:
        labels = _labels(config)
        frame = scores.frame(window_end - config.quality.current - config.quality.reference, window_end)
        quality = quality_report(frame, config.evaluator, config.quality, until=window_end, labels=labels)
        result.quality = quality
        result.reports.update({k: str(v) for k, v in write_quality(quality, out_dir).items()})
        if quality.alerting:
            result.fired.append("quality alert")
        say(quality.line() + f"; report {out_dir / 'quality.html'}")
    except (MonitorError, OSError, ValueError) as exc:
        say(f"quality: ERROR {exc}")
        errors += 1
    if config.drift.reference:
        try:
            drift_summary = _drift(config, source or source_for(config), window_end, out_dir / "drift", embed)
            result.drift = drift_summary
            result.reports["drift"] = str(out_dir / "drift" / "report.html")
            if drift_summary["exit_code"] == EXIT_ALERT:
                result.fired.append("drift")
            say(drift_summary["line"])
        except MonitorError as exc:
            say(f"drift: ERROR {exc}")
            errors += 1
    else:
        say("drift: skipped (no [drift] reference configured)")
    try:
        topics_model = _topic_model(config)
        if topics_model is not None:
            line, paths = _topics(config, topics_model, source or source_for(config), window_end, frame, labels,
                                  out_dir / "topics", embed)
            result.reports["topics"] = str(paths["html"])
            say(line)
    except (MonitorError, OSError, ValueError) as exc:
        say(f"topics: ERROR {exc}")
        errors += 1

    # 3. queue filling
    if config.review.store:
        try:
            result.queue = _fill_queue(config, scores, state, source, since=window_start, until=window_end,
                                       backfill=since is not None or until is not None, run_id=result.run_id)
            say(result.queue["line"])
        except (MonitorError, OSError) as exc:
            say(f"queue: ERROR {exc}")
            errors += 1
    else:
        say("queue: skipped (no [review] store configured)")

    result.exit_code = EXIT_ERROR if errors else (EXIT_ALERT if result.fired else EXIT_OK)
    summary = {"run_id": result.run_id, "exit_code": result.exit_code, "fired": result.fired, "lines": result.lines,
               "reports": result.reports}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")


def _labels(config: MonitorConfig) -> Sequence[Any] | None:
    if not config.review.store:
        return None
    from review import ReviewStore

    store = ReviewStore(config.review.store)
    try:
        return store.labels()
    finally:
        store.close()


def _drift(config: MonitorConfig, source: Source, until: datetime, out: Path,
           embed: _WindowEmbeddings) -> dict[str, Any]:
    """``drift.report`` of the production rows of the current window against the configured reference."""
    import pandas as pd

    from drift import DriftError
    from drift.config import load_config as load_drift_config
    from drift.report import headline, run_report, write_report
    from tracing.production_log import LOG_COLUMNS

    start = until - config.quality.current
    rows = [dict(r.columns) for page in source.pages(start, until) for r in page.rows]
    if not rows:
        return {"exit_code": EXIT_OK, "line": f"drift: skipped (no production rows in [{when(start)}, {when(until)}))"}
    current = pd.DataFrame(rows)
    current = current[[c for c in LOG_COLUMNS if c in current.columns]]
    reference: Any = config.drift.reference
    try:
        topics = _topic_model(config, for_drift=True)
        if topics is not None:  # each input's topic is a drift feature: a new topic, or a share that moved
            from drift import load_frame

            reference = load_frame(reference)
            reference["input_topic"] = _topics_of(topics, reference["prompt"].tolist(), config, cache=True)
            current["input_topic"] = _topics_of(topics, current["prompt"].tolist(), config, cache=False, embed=embed)
        cfg = load_drift_config(config.drift.config)
        report = run_report(reference, current, cfg, window=config.drift.window)
        write_report(report, out)
    except (DriftError, OSError) as exc:
        raise MonitorError(f"drift report failed: {exc}") from exc
    if report.schema.refused:  # the drift report's exit 2: an error of this step, not drift
        raise MonitorError(f"drift report refused a schema change ({'; '.join(report.schema.lines())}); "
                           f"report {out / 'report.html'}")
    v = report.verdict
    # exit 1 (drift) alerts; 3 (insufficient data) is said as such and does not alert
    return {"exit_code": report.exit_code, "drifted": v.drifted, "n_drifted": v.n_drifted,
            "n_features": v.n_features,
            "line": f"drift: {headline(report)} over {len(rows)} rows; report {out / 'report.html'}"}


def _topics(config: MonitorConfig, model: Any, source: Source, until: datetime, scores: Any, labels: Any,
            out: Path, embed: _WindowEmbeddings) -> tuple[str, dict[str, Path]]:
    """The topics report of the current window (``monitor.topic_report``), written to the run's folder and as the
    latest under ``<reports_dir>/topics`` (what the dashboard's Topics page reads)."""
    from monitor.topic_report import topics_report, write_topics
    from monitor.topics import new_topic_candidates
    from tracing.production_log import user_text

    start = until - config.quality.current
    rows = [r for page in source.pages(start, until) for r in page.rows]
    texts = [user_text(r.prompt) for r in rows]
    vectors = embed(texts)
    assigned = model.assign(vectors)
    report = topics_report(model, rows, assigned, start=start.isoformat(), end=until.isoformat(), scores=scores,
                           pass_at={ev.name: ev.pass_at for ev in config.evaluator}, labels=labels or (),
                           candidates=new_topic_candidates(model, texts, vectors, assigned),
                           alpha=config.quality.alpha, evaluators=config.evaluator)
    paths = write_topics(report, out)
    write_topics(report, Path(config.reports_dir) / "topics")
    return report.line() + f"; report {paths['html']}", paths


def _topic_model(config: MonitorConfig, *, for_drift: bool = False) -> Any:
    """The stored topic model when it exists (fit it first); for the drift step only with ``[topics] drift`` on."""
    if for_drift and not config.topics.drift:
        return None
    from monitor.topics import TopicModel

    path = Path(config.topics.model or Path(config.state_dir) / "topics.json")
    return TopicModel.load(path) if path.exists() else None


class _WindowEmbeddings:
    """One run's text embeddings, each distinct text embedded once (``monitor.topics.embed_texts``)."""

    def __init__(self) -> None:
        self._vectors: dict[str, Any] = {}

    def __call__(self, texts: Sequence[str]) -> Any:
        import numpy as np

        from monitor.topics import embed_texts

        new = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if new:
            self._vectors.update(zip(new, embed_texts(new), strict=True))
        if not texts:
            return embed_texts([])
        return np.stack([self._vectors[t] for t in texts])


def _topics_of(model: Any, prompts: list[Any], config: MonitorConfig, *, cache: bool,
               embed: _WindowEmbeddings | None = None) -> list[str]:
    """Each prompt's topic label (``monitor.topics.topic_labels``); the reference's are kept in the state folder
    per model version and reference content, so a scheduled run embeds only its own window."""
    import hashlib

    from monitor.topics import embed_texts, topic_labels
    from tracing.production_log import user_text

    texts = [user_text(p) if isinstance(p, str) else "" for p in prompts]
    path = None
    if cache:
        digest = hashlib.sha256(json.dumps([model.version, model.created_at, texts]).encode()).hexdigest()[:20]
        path = Path(config.state_dir) / "topics" / f"reference-{digest}.json"
        if path.exists():
            return list(json.loads(path.read_text(encoding="utf-8")))
    labels = topic_labels(model, texts, (embed or embed_texts)(texts))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(labels), encoding="utf-8")
    return labels


def _fill_queue(config: MonitorConfig, scores: ScoresTable, state: StateFile, source: Source | None, *,
                since: datetime, until: datetime, backfill: bool, run_id: str) -> dict[str, Any]:
    """Doubtful verdicts (and an optional audit sample of the rows) into the review store; idempotent."""
    from review import ReviewStore, audit_items

    name = source.name if source is not None else "none"
    checkpoint = state.load(name)
    start = since
    if not backfill and checkpoint.queued_until is not None:
        start = min(since, checkpoint.queued_until - config.source.lookback)
    evaluators: Mapping[str, Any] = {ev.name: ev for ev in config.evaluator}
    items = review_items(scores.verdicts(start, until, doubtful_only=True), evaluators, config.phoenix_url)
    audit: list[Any] = []
    if config.review.audit_rate > 0 and source is not None:
        rows = [dict(r.columns) for page in source.pages(since, until) for r in page.rows]
        # the user's input as text (one production row), the first evaluator's criterion and a link to the trace
        first = config.evaluator[0]
        audit = audit_items(rows, rate=config.review.audit_rate, stratify_by=config.review.audit_stratify_by,
                            criterion=first.metric, scale=(float(first.scale[0]), float(first.scale[1])),
                            phoenix_url=config.phoenix_url)
    store = ReviewStore(config.review.store or "")
    try:
        added, present = store.add_items(items)
        a_added, a_present = store.add_items(audit)
    finally:
        store.close()
    if not backfill:
        state.save(checkpoint.advanced(run_id=run_id, queued_until=until))
    return {"escalation_added": added, "escalation_present": present, "audit_added": a_added,
            "audit_present": a_present,
            "line": f"queue: ok escalation +{added} ({present} already queued), audit +{a_added} "
                    f"({a_present} already queued) in {config.review.store}"}
