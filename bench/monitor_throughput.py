"""Online-evaluation throughput: ``python -m monitor``'s evaluate step over 10,000 logged traces.

The judge is ``bench/fake_openai_server.py`` (instant canned completions with logprobs) behind the
harness's OpenAI-compatible client, so what is measured is the online path itself: reading traces, hashing
them into the sample, judging (prompt, HTTP, parsing, probability-weighted score), writing the Parquet
scores table, and, with ``--phoenix``, reading the spans from and annotating them in a real local Phoenix.

Phases (each timed alone, then the whole step):

* ``log``: the evaluate step over a JSONL production log, annotations off: traces read and judged per second;
* with ``--phoenix``: ``phoenix_read`` (every span of the project through the monitor's paged reader),
  ``phoenix_annotate`` (every verdict written back as an annotation, an upsert), and ``phoenix`` (the
  evaluate step with the Phoenix source and annotations on: spans read, judged and annotated per second).

    python bench/monitor_throughput.py --json bench/out/monitor.json            # 10,000 traces, log only
    python bench/monitor_throughput.py --phoenix --json bench/out/monitor.json  # also a real Phoenix
    python bench/monitor_throughput.py --quick                                  # 1,000 traces
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FAKE_JUDGE_KEY", "sk-fake")

from fake_openai_server import FakeServer
from judge_overhead import machine

from monitor.config import MonitorConfig, config_from_dict
from monitor.runner import make_client, source_for
from monitor.scores import ScoresTable

RUBRIC = "5: answers the question fully and correctly. 3: partly. 1: not at all."


def write_log(path: Path, n: int, end: datetime) -> None:
    """``n`` production-log rows spread over the 6 hours before ``end``."""
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            t = end - timedelta(hours=6) + timedelta(hours=6) * i / n
            fh.write(json.dumps({
                "timestamp": t.isoformat(), "prompt": f"How do I configure feature {i % 97} of the billing service?",
                "response": f"Open settings, choose billing, then feature {i % 97}; save and restart the worker.",
                "model": "gemma-3-270m", "topic": ("billing", "setup", "errors")[i % 3], "language": "en",
                "trace_id": f"{i + 1:032x}", "span_id": f"{i + 1:016x}",
            }) + "\n")


def config(work: Path, judge_url: str, source: dict[str, Any], *, annotate: bool, phoenix_url: str | None,
           concurrency: int, batch: int) -> MonitorConfig:
    return config_from_dict({
        "state_dir": str(work / "state"), "reports_dir": str(work / "reports"), "batch_size": batch,
        "source": {"start": "1d", "settle": "0s", **source},
        "phoenix": {"url": phoenix_url, "annotate": annotate, "judge_project": "", "timeout_s": 60},
        "judge": {"model": "openai:fake-judge", "base_url": judge_url, "api_key_env": "FAKE_JUDGE_KEY",
                  "cache": "off", "max_concurrency": concurrency},
        "evaluator": [{"name": "helpfulness", "rubric": RUBRIC, "sample_rate": 1.0}],
    })


def evaluate(cfg: MonitorConfig, now: datetime) -> dict[str, Any]:
    """One evaluate step (the rest of the run is skipped: it does not scale with the traces)."""
    from monitor.checkpoint import StateFile
    from monitor.online import OnlineEvaluation

    client = make_client(cfg)
    step = OnlineEvaluation(cfg, source=source_for(cfg), client=client, scores=ScoresTable(cfg.scores_path),
                            state=StateFile(Path(cfg.state_dir) / "checkpoint.json"), run_id="bench")
    t0 = time.perf_counter()
    report = step.run(now)
    seconds = time.perf_counter() - t0
    if report.error or report.judge_failures:
        raise SystemExit(f"benchmark run failed: {report.line()}")
    return {"seconds": seconds, "rows": report.rows, "judged": report.judged, "annotated": report.annotated,
            "rows_per_s": report.rows / seconds, "judged_per_s": report.judged / seconds,
            "annotated_per_s": report.annotated / seconds}


def load_phoenix(url: str, project: str, n: int) -> float:
    """Send ``n`` LLM spans to Phoenix and wait until all are stored; returns the seconds it took."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    import tracing
    from tracing import production_log

    provider = TracerProvider(resource=Resource.create({"openinference.project.name": project}))
    handle = tracing.setup(url, project, tracer_provider=provider, redact=False, max_queue_size=n + 10)
    t0 = time.perf_counter()
    for i in range(n):
        with tracing.llm_span(provider="app", model="gemma-3-270m", tracer=handle.tracer,
                              messages=[{"role": "user", "content": f"How do I configure feature {i % 97}?"}]) as rec:
            rec.set_output(text=f"Open settings, then feature {i % 97}.", prompt_tokens=12, completion_tokens=9)
    handle.force_flush(120)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if len(production_log.rows_from_phoenix(project, base_url=url, limit=n + 10, timeout=120)) >= n:
                break
        except tracing.ProductionLogError:  # 404 until the project's first span is stored
            pass
        time.sleep(1)
    handle.shutdown()
    provider.shutdown()
    return time.perf_counter() - t0


def phoenix_phases(work: Path, judge_url: str, n: int, concurrency: int, batch: int) -> dict[str, Any]:
    from monitor.writeback import verdict_annotations, write_annotations
    from tracing import annotate_spans
    from tracing.phoenix_server import free_port, start_phoenix

    proc = start_phoenix(free_port(), work / "phoenix", timeout_s=300)
    try:
        out: dict[str, Any] = {"phoenix_ingest_s": load_phoenix(proc.url, "bench-app", n)}
        now = datetime.now(UTC) + timedelta(seconds=1)
        cfg = config(work / "phx", judge_url, {"kind": "phoenix", "project": "bench-app", "url": proc.url},
                     annotate=True, phoenix_url=proc.url, concurrency=concurrency, batch=batch)
        t0 = time.perf_counter()
        rows = sum(len(p.rows) for p in source_for(cfg).pages(now - timedelta(days=1), now))
        read_s = time.perf_counter() - t0
        out["phoenix_read"] = {"seconds": read_s, "rows": rows, "rows_per_s": rows / read_s}
        out["phoenix"] = evaluate(cfg, now)
        verdicts = ScoresTable(cfg.scores_path).verdicts()
        t0 = time.perf_counter()
        for i in range(0, len(verdicts), batch):
            write_annotations(verdicts[i : i + batch], url=proc.url, timeout_s=60, retry_budget_s=0)
        write_s = time.perf_counter() - t0
        out["phoenix_annotate"] = {"seconds": write_s, "annotations": len(verdicts),
                                   "annotations_per_s": len(verdicts) / write_s}
        # the same upserts queued server-side (sync=false): what Phoenix's bulk inserter takes
        items = verdict_annotations(verdicts)
        t0 = time.perf_counter()
        for i in range(0, len(items), batch):
            annotate_spans(items[i : i + batch], endpoint=proc.url, sync=False, timeout_s=60)
        queued_s = time.perf_counter() - t0
        out["phoenix_annotate_queued"] = {"seconds": queued_s, "annotations": len(items),
                                          "annotations_per_s": len(items) / queued_s}
        return out
    finally:
        proc.stop()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print the rates; optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=512, help="verdicts per scores-table part and annotation POST")
    parser.add_argument("--phoenix", action="store_true", help="also read from and annotate a real local Phoenix")
    parser.add_argument("--quick", action="store_true", help="1,000 traces")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    args = parser.parse_args(argv)
    if args.quick:
        args.traces = min(args.traces, 1000)
    result: dict[str, Any] = {"benchmark": "monitor_throughput", "traces": args.traces,
                              "concurrency": args.concurrency, "batch": args.batch, "machine": machine()}
    work = Path(tempfile.mkdtemp(prefix="monitor-bench-"))
    try:
        with FakeServer() as judge:
            now = datetime.now(UTC)
            write_log(work / "prod.jsonl", args.traces, now)
            cfg = config(work / "log", judge.base_url, {"kind": "log", "path": str(work / "prod.jsonl")},
                         annotate=False, phoenix_url=None, concurrency=args.concurrency, batch=args.batch)
            result["log"] = evaluate(cfg, now)
            if args.phoenix:
                result.update(phoenix_phases(work, judge.base_url, args.traces, args.concurrency, args.batch))
        result["machine"]["load_avg_1m_end"] = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    m = result["machine"]
    print(f"monitor throughput: {args.traces} traces, judge concurrency {args.concurrency} ({m['nproc']} CPUs, "
          f"{m['cpu']}, load {m['load_avg_1m']:.1f} -> {m['load_avg_1m_end']:.1f})")
    log = result["log"]
    print(f"  log source, no annotations: {log['rows_per_s']:.0f} traces read+judged+stored/s ({log['seconds']:.1f}s)")
    if args.phoenix:
        print(f"  Phoenix ingest of the spans (setup, not timed below): {result['phoenix_ingest_s']:.1f}s")
        r, a, p = result["phoenix_read"], result["phoenix_annotate"], result["phoenix"]
        print(f"  Phoenix read alone:      {r['rows_per_s']:.0f} spans/s ({r['seconds']:.1f}s)")
        print(f"  Phoenix annotate alone:  {a['annotations_per_s']:.0f} annotations/s ({a['seconds']:.1f}s)")
        q = result["phoenix_annotate_queued"]
        print(f"  ... queued (sync=false): {q['annotations_per_s']:.0f} annotations/s ({q['seconds']:.1f}s)")
        print(f"  Phoenix source, annotated: {p['rows_per_s']:.0f} spans read+judged+annotated/s ({p['seconds']:.1f}s)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
