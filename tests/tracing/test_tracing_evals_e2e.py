"""`pytest evals/` with tracing on, end to end: a real pytest run exports to a real Phoenix, read back.

The judge is a fake (exact label probabilities) so the test is fast; the plugin, the model client's LLM
spans, the EVALUATOR spans, the exporter and Phoenix are all real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tracing_test_helpers import wait_for_spans

pytestmark = pytest.mark.slow

CONFTEST = '''
import pytest
from judges import Completion, ModelClient
from judges.providers import FakeFunctionProvider
from experiments.pytest_plugin import *  # noqa

def reply(req):
    probs = {lab: (0.7 if lab == " 4" else 0.1) for lab in req.labels}
    return Completion(text=" 4", provider="fake", model="fake-judge", label_probs=probs)

@pytest.fixture(scope="session")
def judge_client():
    return ModelClient(FakeFunctionProvider(reply, model="fake-judge", exact_label_probs=True))
'''

SUITE = '''
import pytest
from experiments import EvalSuite
from judges import PointwiseJudge

def app(case):
    return "summary of " + case.input

SUITE = EvalSuite("traced-demo", "demo.jsonl", "summarization", task=app,
                  judge=PointwiseJudge("accuracy", "5 good, 1 bad", explain=False), threshold=2.0)

@pytest.mark.parametrize("case", SUITE.cases(), ids=lambda c: c.id)
def test_case(case, evaluate):
    evaluate(SUITE, case)

def test_gate(evaluate_suite):
    evaluate_suite(SUITE)
'''


def test_eval_run_appears_in_phoenix_as_its_own_project(tmp_path: Path, phoenix: Any, phoenix_client: Any) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (tmp_path / "datasets").mkdir()
    rows = [{"id": f"case-{i}", "article": f"article {i}"} for i in range(3)]
    (tmp_path / "datasets" / "demo.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_demo.py").write_text(SUITE)
    project = f"evals-e2e-{os.getpid()}"
    env = {**os.environ, "EVALHARNESS_TRACING": "1", "PHOENIX_COLLECTOR_ENDPOINT": phoenix.url,
           "PHOENIX_PROJECT_NAME": project, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "results" / "latest.json").read_text())
    run_id = results["run_id"]

    # per case: a root CHAIN span, the TASK span and one EVALUATOR span beside it, the judge's LLM span
    # under the EVALUATOR; the gate test reuses the cases, so nothing is traced twice
    spans = wait_for_spans(phoenix_client, project, 12)
    assert len(spans) == 12
    roots = [s for s in spans if s["name"] == "eval:traced-demo"]
    tasks = [s for s in spans if s["name"].startswith("task:")]
    evaluators = [s for s in spans if s["span_kind"] == "EVALUATOR"]
    llms = [s for s in spans if s["span_kind"] == "LLM"]
    assert len(roots) == len(tasks) == len(evaluators) == len(llms) == 3
    assert {s["attributes"]["eval.run_id"] for s in roots} == {run_id}
    root_ids = {s["context"]["span_id"] for s in roots}
    assert all(s["parent_id"] in root_ids for s in tasks + evaluators)
    assert {s["attributes"]["eval.case_id"] for s in evaluators} == {"case-0", "case-1", "case-2"}
    assert all(s["attributes"]["eval.suite"] == "traced-demo" for s in evaluators)
    assert all(s["attributes"]["eval.score"] == pytest.approx((0.1 * (1 + 2 + 3 + 5) + 0.7 * 4) / 1.1) for s in evaluators)
    assert all(s["attributes"]["input.value"].startswith("summary of article") for s in evaluators)
    assert all(s["status_code"] == "OK" for s in spans)
    ev_ids = {s["context"]["span_id"] for s in evaluators}
    assert all(s["parent_id"] in ev_ids for s in llms)
    assert all(s["attributes"]["llm.model_name"] == "fake-judge" for s in llms)
    # findable by run, suite and case, and the results file points at the same spans
    found = phoenix_client.spans.get_spans(project_identifier=project, attributes={"eval.case_id": "case-1"})
    case1 = next(c for c in results["suites"][0]["cases"] if c["case_id"] == "case-1")
    assert case1["scores"][0]["span_id"] in [s["context"]["span_id"] for s in found]
    assert case1["task"]["span_id"] in [s["context"]["span_id"] for s in found]
    # the judge's verdict is an annotation on the task span
    anns = phoenix_client.spans.get_span_annotations(project_identifier=project,
                                                     span_ids=[case1["task"]["span_id"]])
    assert [(a["name"], a["annotator_kind"]) for a in anns] == [("accuracy", "LLM")]
    assert anns[0]["result"]["score"] == pytest.approx(case1["scores"][0]["score"])


def test_a_phoenix_answering_garbage_to_annotations_never_ends_the_session(tmp_path: Path) -> None:
    """Finding 15 of the security review: a non-JSON reply to the annotation write aborted the session before the
    results file was written. A trap server takes the spans and answers the annotation write with HTML."""
    import http.server
    import threading

    class Trap(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            body = b"<html>not phoenix</html>" if "span_annotations" in self.path else b""
            self.send_response(200)
            self.send_header("content-type", "text/html" if body else "application/x-protobuf")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Trap)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
        (tmp_path / "datasets").mkdir()
        (tmp_path / "datasets" / "demo.jsonl").write_text(json.dumps({"id": "case-0", "article": "a"}) + "\n")
        (tmp_path / "conftest.py").write_text(CONFTEST)
        (tmp_path / "test_demo.py").write_text(SUITE)
        env = {**os.environ, "EVALHARNESS_TRACING": "1",
               "PHOENIX_COLLECTOR_ENDPOINT": f"http://127.0.0.1:{server.server_port}",
               "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300, check=False)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "results" / "latest.json").is_file()  # the record is written whatever Phoenix answered
    out = " ".join(proc.stdout.split())
    assert "warning: 1 eval annotations not written to Phoenix" in out and "not Phoenix's JSON" in out
