"""Online evaluation against a real local Phoenix: annotations on the spans, and the faults of issue 13.

Phoenix down or slow (through a proxy that drops or stalls connections), a judge provider failing
mid-batch, and malformed spans, each checked through Phoenix's own API.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fault_proxy import FaultProxy
from monitor_helpers import (
    RecordingAnnotator,
    annotations_of,
    failing_after,
    fake_client,
    judged_keys,
    make_config,
    wait_for_rows,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import tracing
from monitor import ScoresTable, run_monitor
from monitor.checkpoint import StateFile
from monitor.sampling import in_sample

pytestmark = pytest.mark.slow


def seed_spans(url: str, project: str, n: int, *, malformed: int = 0) -> list[dict[str, str]]:
    """``n`` LLM spans (every 5th answer "bad"), plus ``malformed`` LLM spans with no text in or out; their ids."""
    provider = TracerProvider(resource=Resource.create({"openinference.project.name": project}))
    handle = tracing.setup(url, project, tracer_provider=provider, redact=False)
    out = []
    for i in range(n):
        answer = ("bad " if i % 5 == 0 else "") + f"answer {i}"
        with tracing.llm_span(provider="app", model="m1", messages=[{"role": "user", "content": f"question {i}"}],
                              tracer=handle.tracer) as rec:
            rec.set_output(text=answer, prompt_tokens=3, completion_tokens=2)
        trace_id, span_id = rec.ids
        out.append({"trace_id": trace_id, "span_id": span_id, "response": answer})
        time.sleep(0.002)  # distinct start times
    for i in range(malformed):
        if i % 2:
            with tracing.llm_span(provider="app", model="m1", tracer=handle.tracer):
                pass  # no messages, no output: nothing to judge
        else:  # a call that failed: a prompt but no reply
            span = handle.tracer.start_span("llm", attributes={"openinference.span.kind": "LLM",
                                                               "input.value": f"question {i}"})
            span.end()
    assert handle.force_flush(10)
    handle.shutdown()
    provider.shutdown()
    return out


def phoenix_config(tmp: Path, url: str, project: str, **overrides: Any):
    return make_config(
        tmp,
        batch_size=overrides.pop("batch_size", 16),
        source={"kind": "phoenix", "project": project, "url": url, "path": None, "start": "1h", "settle": "0s"},
        phoenix={"url": url, "judge_project": "", "timeout_s": 2, "retry_budget_s": overrides.pop("budget", 20)},
        **overrides,
    )


def run(cfg: Any, client: Any, **kw: Any) -> Any:
    return run_monitor(cfg, now=datetime.now(UTC) + timedelta(seconds=1), client=client, trace_judges=False,
                       echo=print, **kw)


def checkpoint(cfg: Any) -> datetime | None:
    return StateFile(Path(cfg.state_dir) / "checkpoint.json").load(
        f"phoenix:{cfg.source.url}/{cfg.source.project}").watermark


def test_verdicts_land_on_the_spans_and_a_rerun_writes_nothing_new(phoenix, phoenix_client, project, tmp_path):
    spans = seed_spans(phoenix.url, project, 40, malformed=4)
    wait_for_rows(phoenix.url, project, 44)
    cfg = phoenix_config(tmp_path, phoenix.url, project)
    judge = fake_client()
    result = run(cfg, judge)
    assert result.exit_code == 0, result.lines
    ev = result.evaluate
    assert ev is not None and ev.rows == 40 and ev.malformed == 4  # skipped and counted
    sampled = [s for s in spans if in_sample(s["trace_id"], 0.5)]
    notes = annotations_of(phoenix_client, project, [s["span_id"] for s in spans])
    assert sorted(a["span_id"] for a in notes) == sorted(s["span_id"] for s in sampled)
    by_span = {a["span_id"]: a for a in notes}
    for s in sampled:
        note = by_span[s["span_id"]]
        assert note["annotator_kind"] == "LLM" and note["identifier"] == "monitor"
        assert note["result"]["score"] == (1.0 if s["response"].startswith("bad") else 4.0)
        assert note["metadata"]["prob_source"] == "sampling" and note["metadata"]["judge_model"] == "fake-model"
    # a second run over the same range: no judge call, no new annotation (ids unchanged), no new verdict
    ids = sorted(a["id"] for a in notes)
    calls = len(judge.provider.inner.requests)
    again = run_monitor(cfg, since=datetime.now(UTC) - timedelta(hours=1), until=datetime.now(UTC),
                        client=judge, trace_judges=False, echo=print)
    assert again.exit_code == 0 and len(judge.provider.inner.requests) == calls
    assert sorted(a["id"] for a in annotations_of(phoenix_client, project, [s["span_id"] for s in spans])) == ids
    assert len(ScoresTable(cfg.scores_path).frame()) == len(sampled)


@pytest.mark.parametrize("fault", ["down", "slow"])
def test_phoenix_down_or_slow_retries_then_exits_2_without_moving_the_checkpoint(phoenix, phoenix_client, project,
                                                                                 tmp_path, fault):
    spans = seed_spans(phoenix.url, project, 12)
    wait_for_rows(phoenix.url, project, 12)
    proxy = FaultProxy(int(phoenix.url.rsplit(":", 1)[1]), delay_s=5)
    try:
        cfg = phoenix_config(tmp_path, proxy.url, project, budget=3)
        proxy.mode = fault
        t0 = time.monotonic()
        judge = fake_client()
        result = run(cfg, judge)
        took = time.monotonic() - t0
        assert result.exit_code == 2, result.lines
        assert "gave up after" in (result.evaluate.error or "")  # type: ignore[union-attr]
        assert proxy.connections >= 2  # it retried
        assert took < 3 + 2 * 2 + 10  # within the budget (plus one read timeout), not forever
        assert checkpoint(cfg) is None and not judge.provider.inner.requests
        proxy.mode = "pass"  # Phoenix is back: the next run does the work
        result = run(cfg, judge)
        assert result.exit_code == 0, result.lines
        assert checkpoint(cfg) is not None
        sampled = [s for s in spans if in_sample(s["trace_id"], 0.5)]
        assert len(annotations_of(phoenix_client, project, [s["span_id"] for s in spans])) == len(sampled)
    finally:
        proxy.close()


def test_provider_failing_mid_batch_against_phoenix(phoenix, phoenix_client, project, tmp_path):
    spans = seed_spans(phoenix.url, project, 60)
    wait_for_rows(phoenix.url, project, 60)
    cfg = phoenix_config(tmp_path, phoenix.url, project, batch_size=8)
    sampled = sorted((s for s in spans if in_sample(s["trace_id"], 0.5)), key=lambda s: spans.index(s))
    result = run(cfg, fake_client(failing_after(10)))
    assert result.exit_code == 2 and "judge provider failed" in (result.evaluate.error or "")  # type: ignore[union-attr]
    notes = annotations_of(phoenix_client, project, [s["span_id"] for s in spans])
    assert sorted(a["span_id"] for a in notes) == sorted(s["span_id"] for s in sampled[:10])  # finished ones kept
    mark = checkpoint(cfg)
    rows = {r.key: r.timestamp for page in _pages(cfg) for r in page.rows}
    assert mark == rows[sampled[10]["span_id"]]  # the first verdict not written
    healthy = fake_client()
    assert run(cfg, healthy).exit_code == 0
    assert sorted(judged_keys(healthy)) == sorted(s["response"] for s in sampled[10:])  # nothing twice
    assert len(annotations_of(phoenix_client, project, [s["span_id"] for s in spans])) == len(sampled)


def _pages(cfg: Any) -> Any:
    from monitor.runner import source_for

    return source_for(cfg).pages(datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC) + timedelta(seconds=1))


def test_annotation_writes_through_a_failing_phoenix_stay_pending(phoenix, phoenix_client, project, tmp_path):
    """Reading works but writing is refused: verdicts stay pending, then the next run writes them unjudged."""
    spans = seed_spans(phoenix.url, project, 10)
    wait_for_rows(phoenix.url, project, 10)
    cfg = phoenix_config(tmp_path, phoenix.url, project, budget=1)
    judge = fake_client()
    result = run(cfg, judge, annotate=RecordingAnnotator(fail=10_000))
    assert result.exit_code == 2 and len(ScoresTable(cfg.scores_path).pending()) == 1
    calls = len(judge.provider.inner.requests)
    assert run(cfg, judge).exit_code == 0
    assert len(judge.provider.inner.requests) == calls  # written from the pending part, not judged again
    sampled = [s for s in spans if in_sample(s["trace_id"], 0.5)]
    assert len(annotations_of(phoenix_client, project, [s["span_id"] for s in spans])) == len(sampled)
