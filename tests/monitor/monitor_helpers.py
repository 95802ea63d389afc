"""Helpers shared by the monitor tests: logged traffic, configs, a fake judge and a recording annotator."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from judges import ModelClient, RetryableProviderError
from judges.providers import FakeFunctionProvider
from monitor.config import MonitorConfig, config_from_dict

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment of a monitor or app subprocess: no Phoenix/OTel/harness variables of this shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOENIX_", "OTEL_", "EVALHARNESS_"))}
    return {**env, "PYTHONPATH": str(ROOT), "OPENAI_API_KEY": "sk-fake", "EVALHARNESS_CACHE": "off", **extra}


def monitor_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m monitor run --config CONFIG ARGS`` in a subprocess, as cron runs it."""
    return subprocess.run([sys.executable, "-m", "monitor", "run", "--config", str(config), *args],
                          env=subprocess_env(), cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
_RESPONSE = re.compile(r"Response:\n(.*?)(?:\n\n|$)", re.DOTALL)


def log_rows(n: int, *, start: datetime | None = None, step: timedelta = timedelta(minutes=5), seed: int = 0,
             bad_every: int = 7, topics: tuple[str, ...] = ("coding", "math")) -> list[dict[str, Any]]:
    """``n`` production-log rows ``step`` apart; every ``bad_every``-th answer starts with "bad"."""
    rng = random.Random(seed)
    start = start or NOW - step * n
    return [
        {
            "timestamp": (start + step * i).isoformat(),
            "prompt": f"question {seed}-{i}",
            "response": ("bad " if bad_every and i % bad_every == 0 else "") + f"answer {seed}-{i}",
            "model": "m1",
            "topic": rng.choice(topics),
            "language": "en",
            "route": "qa" if i % 2 else "chat",
            "trace_id": f"{seed:08x}{i:024x}",
            "span_id": f"{seed:04x}{i + 1:012x}",
        }
        for i in range(n)
    ]


def write_log(path: Path, rows: list[dict[str, Any]], *, extra_lines: tuple[str, ...] = ()) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "".join(line + "\n" for line in extra_lines))
    return path


def make_config(tmp: Path, log: Path | None = None, **overrides: Any) -> MonitorConfig:
    """A log-source config in ``tmp``; ``overrides`` replace top-level tables (dicts are merged one level)."""
    raw: dict[str, Any] = {
        "state_dir": str(tmp / "state"),
        "reports_dir": str(tmp / "reports"),
        "batch_size": 16,
        "source": {"kind": "log", "path": str(log or tmp / "prod.jsonl"), "start": "7d"},
        "phoenix": {"url": "http://127.0.0.1:9", "judge_project": "", "retry_budget_s": 0.2},
        "review": {"store": str(tmp / "review.sqlite")},
        "quality": {"min_n": 10},
        "evaluator": [{"name": "helpfulness", "rubric": "Is the answer helpful?", "sample_rate": 0.5,
                       "review": ["judge_failure", "below_pass", "low_confidence"]}],
    }
    for key, value in overrides.items():
        raw[key] = {**raw[key], **value} if isinstance(value, dict) and isinstance(raw.get(key), dict) else value
    return config_from_dict(raw)


def judged_response(request: Any) -> str:
    """The response text a judge prompt asks about."""
    m = _RESPONSE.search(request.messages[-1].content)
    return m.group(1) if m else ""


def grade(request: Any) -> str:
    """The fake judge: "bad ..." answers get 1, "garbled ..." an unreadable reply, the rest 4."""
    answer = judged_response(request)
    if answer.startswith("garbled"):
        return "I cannot say."
    return "Score: 1\nIt is wrong." if answer.startswith("bad") else "Score: 4\nIt is fine."


def fake_client(fn: Callable[[Any], Any] = grade) -> ModelClient:
    """A model client around ``FakeFunctionProvider(fn)``: no retries, no cache, no spans."""
    return ModelClient(FakeFunctionProvider(fn), cache=None, max_retries=0, trace=False)


def failing_after(calls: int) -> Callable[[Any], str]:
    """A judge that answers ``calls`` times, then fails like a provider that went down."""
    seen = 0

    def fn(request: Any) -> str:
        nonlocal seen
        seen += 1
        if seen > calls:
            raise RetryableProviderError("provider down (injected)", status=503)
        return grade(request)

    return fn


class RecordingAnnotator:
    """Stands in for the one writer, ``tracing.annotate_spans`` (whose retries are tested in tests/tracing):
    records every call and its options; the first ``fail`` calls fail as the writer does when Phoenix is still
    down at its deadline."""

    def __init__(self, fail: int = 0) -> None:
        self.calls: list[list[Any]] = []
        self.options: list[dict[str, Any]] = []
        self.fail = fail

    def __call__(self, items: list[Any], **kwargs: Any) -> list[str]:
        from tracing import AnnotationError

        self.options.append(kwargs)
        if self.fail:
            self.fail -= 1
            raise AnnotationError("cannot reach Phoenix (injected) (after 3 attempts)")
        self.calls.append(list(items))
        return [f"id-{i}" for i in range(len(items))]

    @property
    def items(self) -> list[Any]:
        return [a for call in self.calls for a in call]


def judged_keys(client: ModelClient) -> list[str]:
    """The answers the fake judge was asked about, in order (one per judge call)."""
    return [judged_response(r) for r in client.provider.inner.requests]  # type: ignore[attr-defined]


def wait_for_rows(url: str, project: str, expected: int, timeout_s: float = 30.0) -> None:
    import tracing
    from tracing import production_log

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if len(production_log.rows_from_phoenix(project, base_url=url, limit=10_000)) >= expected:
                return
        except tracing.ProductionLogError:
            pass
        time.sleep(0.25)
    raise AssertionError(f"Phoenix did not store {expected} spans of {project!r} within {timeout_s}s")


def annotations_of(client: Any, project: str, span_ids: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for i in range(0, len(span_ids), 50):
        found += client.spans.get_span_annotations(span_ids=span_ids[i : i + 50], project_identifier=project)
    return [a for a in found if a["name"] == "helpfulness"]
