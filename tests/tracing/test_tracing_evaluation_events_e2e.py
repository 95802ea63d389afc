"""A traced `pytest evals/` run emits one ``gen_ai.evaluation.result`` record per verdict, parented to its task
span: a real pytest run, a real Phoenix (spans and annotations) and a real OTLP/HTTP logs receiver; then the same
run with the collector down still writes its results file and says what was lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from otlp_receiver import OtlpLogsReceiver

pytestmark = pytest.mark.slow

SUITE = '''
import pytest
from experiments import EvalSuite, ExactMatch

def app(case):
    return case.input.upper() if case.id != "case-1" else "wrong"

SUITE = EvalSuite("events-demo", "demo.jsonl", "qa", task=app, scorers=(ExactMatch(),))

@pytest.mark.parametrize("case", SUITE.cases(), ids=lambda c: c.id)
def test_case(case, evaluate):
    evaluate(SUITE, case)
'''


def _project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (tmp_path / "datasets").mkdir()
    rows = [{"id": f"case-{i}", "question": f"q{i}", "reference": f"Q{i}"} for i in range(3)]
    (tmp_path / "datasets" / "demo.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "conftest.py").write_text("from experiments.pytest_plugin import *  # noqa\n")
    (tmp_path / "test_demo.py").write_text(SUITE)
    return tmp_path


def _run(cwd: Path, phoenix_url: str, logs_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EVALHARNESS_TRACING": "1", "PHOENIX_COLLECTOR_ENDPOINT": phoenix_url,
           "PHOENIX_PROJECT_NAME": f"events-e2e-{os.getpid()}", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": logs_url,
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    env.pop("EVALHARNESS_EVAL_EVENTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--eval-baseline", "none"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_one_record_per_verdict_parented_to_its_span(tmp_path: Path, phoenix: Any) -> None:
    cwd = _project(tmp_path)
    with OtlpLogsReceiver() as rx:
        proc = _run(cwd, phoenix.url, rx.url)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning:" not in proc.stdout, proc.stdout
    run = json.loads((cwd / "results" / "latest.json").read_text())
    cases = {c["case_id"]: c for s in run["suites"] for c in s["cases"]}
    assert len(cases) == 3 and len(rx.records) == 3  # one verdict per case, one record per verdict
    for rec in rx.records:
        a = rec["attributes"]
        case = cases[a["evalharness.evaluation.case_id"]]
        assert rec["event_name"] == "gen_ai.evaluation.result"
        assert (rec["trace_id"], rec["span_id"]) == (case["task"]["trace_id"], case["task"]["span_id"])
        score = case["scores"][0]
        assert a["gen_ai.evaluation.name"] == score["criterion"]
        assert a["gen_ai.evaluation.score.value"] == score["score"]
        assert a["evalharness.evaluation.annotator_kind"] == "CODE"
        assert a["evalharness.evaluation.source"] == "ci" and a["evalharness.evaluation.run_id"] == run["run_id"]
        assert a.get("evalharness.evaluation.passed") == score["passed"]  # None: no threshold, no attribute
    assert sorted(r["attributes"]["gen_ai.evaluation.score.value"] for r in rx.records) == [0.0, 1.0, 1.0]


def test_a_collector_that_is_down_loses_no_ci_result(tmp_path: Path, phoenix: Any) -> None:
    cwd = _project(tmp_path)
    with OtlpLogsReceiver() as rx:
        down = rx.url  # closed once the block ends
    proc = _run(cwd, phoenix.url, down)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = json.loads((cwd / "results" / "latest.json").read_text())
    assert sum(len(s["cases"]) for s in run["suites"]) == 3
    line = f"warning: 3 of 3 evaluation events not delivered to {down} (collector unreachable or refused)"
    assert line in proc.stdout.splitlines() and len(line) <= 120
