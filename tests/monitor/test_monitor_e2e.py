"""Issue 13's "done when", end to end in subprocesses: the example app writes traffic to a real Phoenix,
``python -m monitor run`` judges a sample of it through an OpenAI-compatible server, the annotations are on the
spans (read back through Phoenix's API), doubtful verdicts are in the review queue, the quality report has the
judge-score series, the judges' own spans are in their own project, and a second run writes nothing new.
A run killed with SIGKILL mid-batch resumes without any trace getting two verdicts.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from monitor_helpers import ROOT, annotations_of, monitor_cli, subprocess_env, wait_for_rows

from monitor import ScoresTable

pytestmark = pytest.mark.slow

sys.path.insert(0, str(ROOT / "bench"))
from fake_openai_server import FakeServer

CONFIG = """
state_dir = "state"
reports_dir = "reports"
batch_size = {batch}
[source]
kind = "phoenix"
project = "{project}"
url = "{url}"
start = "1h"
settle = "0s"
[phoenix]
judge_project = "{project}-judges"
retry_budget_s = 10
[judge]
model = "openai:fake-judge"
base_url = "{judge}"
cache = "off"
max_concurrency = 4
[review]
store = "review.sqlite"
[[evaluator]]
name = "helpfulness"
rubric = "5: answers the question fully. 3: partly. 1: not at all."
sample_rate = 0.5
"""


def _app_traffic(phoenix: Any, project: str, tmp: Path, requests: int) -> None:
    with FakeServer() as app_model:
        subprocess.run(
            [sys.executable, str(ROOT / "examples" / "qa_app.py"), "--requests", str(requests), "--log",
             str(tmp / "prod.jsonl"), "--phoenix", phoenix.url, "--project", project, "--model", "openai:fake-judge"],
            env=subprocess_env(EVALHARNESS_JUDGE_BASE_URL=app_model.base_url), check=True, cwd=tmp, timeout=300,
            capture_output=True,
        )
    wait_for_rows(phoenix.url, project, requests)


def _spans(client: Any, project: str) -> list[Any]:
    return client.spans.get_spans(project_identifier=project, limit=10_000)


def test_example_app_traffic_is_judged_annotated_queued_and_reported(phoenix, phoenix_client, project, tmp_path):
    from review import ReviewStore

    _app_traffic(phoenix, project, tmp_path, 30)
    app_spans = len(_spans(phoenix_client, project))
    with FakeServer() as judge:
        config = tmp_path / "monitor.toml"
        config.write_text(CONFIG.format(project=project, url=phoenix.url, judge=judge.base_url, batch=8))
        first = monitor_cli(config)
        assert first.returncode == 0, first.stdout + first.stderr
        steps = [line.split(":")[0] for line in first.stdout.splitlines()]
        assert steps == ["evaluate", "quality", "drift", "queue", "monitor"], first.stdout
        verdicts = ScoresTable(tmp_path / "state" / "scores").frame()
        assert 5 < len(verdicts) < 25 and verdicts["key"].is_unique

        # the verdicts are LLM annotations on the application's spans
        notes = annotations_of(phoenix_client, project, list(verdicts["span_id"]))
        assert sorted(a["span_id"] for a in notes) == sorted(verdicts["span_id"])
        note = notes[0]
        assert note["annotator_kind"] == "LLM" and note["result"]["label"] == "4"
        assert 1 <= note["result"]["score"] <= 5 and note["result"]["explanation"]
        assert note["metadata"]["prob_source"] == "top_logprobs"

        # doubtful verdicts (the fake judge's label distribution is flat: low confidence) are queued with a link
        store = ReviewStore(tmp_path / "review.sqlite")
        try:
            items = [store.get_item(i) for i in range(1, store.count_items() + 1)]
        finally:
            store.close()
        assert len(items) == int(verdicts["review_reason"].notna().sum()) > 0
        assert items[0].meta["trace_url"].startswith(f"{phoenix.url}/redirects/traces/")
        assert items[0].trace_id and items[0].span_id and items[0].criterion == "helpfulness"

        # the judge-score series is in the quality report
        report = json.loads(next((tmp_path / "reports").glob("*/quality.json")).read_text())
        series = report["evaluators"][0]["series"]
        assert sum(b["n"] for b in series) == len(verdicts) and any(b["mean"] for b in series)

        # the judges' own spans went to their own project, none to the application's
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                judge_spans = _spans(phoenix_client, f"{project}-judges")
            except Exception:  # noqa: BLE001 - 404 until the project's first span is stored
                judge_spans = []
            if sum(s["span_kind"] == "EVALUATOR" for s in judge_spans) >= len(verdicts):
                break
            time.sleep(0.5)
        assert sum(s["span_kind"] == "EVALUATOR" for s in judge_spans) == len(verdicts)
        assert any(s["span_kind"] == "LLM" for s in judge_spans)
        assert len(_spans(phoenix_client, project)) == app_spans

        # a second run, and a backfill over the same range, write nothing new
        parts = sorted((tmp_path / "state" / "scores").rglob("*.parquet"))
        ids = sorted(a["id"] for a in notes)
        calls = judge.requests()
        for args in ((), ("--since", "2h")):
            again = monitor_cli(config, *args)
            assert again.returncode == 0, again.stdout + again.stderr
            assert "judged 0" in again.stdout and "escalation +0" in again.stdout
        assert judge.requests() == calls
        assert sorted((tmp_path / "state" / "scores").rglob("*.parquet")) == parts
        assert sorted(a["id"] for a in annotations_of(phoenix_client, project, list(verdicts["span_id"]))) == ids


def test_a_run_killed_mid_batch_resumes_without_judging_twice(phoenix, phoenix_client, project, tmp_path):
    _app_traffic(phoenix, project, tmp_path, 60)
    with FakeServer(delay_ms=150) as judge:
        config = tmp_path / "monitor.toml"
        config.write_text(CONFIG.format(project=project, url=phoenix.url, judge=judge.base_url, batch=4))
        scores = tmp_path / "state" / "scores"
        proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "--config", str(config)], env=subprocess_env(),
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not list(scores.glob("day=*/*.parquet")):
                time.sleep(0.05)
            os.kill(proc.pid, signal.SIGKILL)  # in the middle of the run: later batches are in flight
        finally:
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        killed_calls = judge.requests()
        before = ScoresTable(scores).frame()
        assert len(before) >= 4
        resumed = monitor_cli(config)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        after = ScoresTable(scores).frame()
        assert after["key"].is_unique and set(before["key"]) <= set(after["key"])
        # every call beyond the sample's size was a call in flight when the run was killed (at most 4 at once), or
        # one of the capability probe's 3 calls that each process makes before its first label call
        assert judge.requests() - len(after) - 2 * 3 <= 4 and killed_calls > len(before)
        notes = annotations_of(phoenix_client, project, list(after["span_id"]))
        assert sorted(a["span_id"] for a in notes) == sorted(after["span_id"])  # one annotation each
