"""The pytest plugin end to end: a throwaway eval project run by a real pytest in a subprocess, on a fake judge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

CONFTEST = '''
import pytest
from judges import Completion, ModelClient
from judges.cache import CallCache
from judges.providers import FakeFunctionProvider
from judges.pytest_plugin import *  # noqa

SCORES = {"good": " 5", "ok": " 3", "bad": " 1"}

def reply(req):
    if req.labels is None:
        return Completion(text="because", provider="fake", model="fake-judge", texts=("because",))
    text = req.messages[-2].content
    best = next(v for k, v in SCORES.items() if f"Response:\\n{k}" in text)
    probs = {lab: (0.8 if lab == best else 0.05) for lab in req.labels}
    return Completion(text=best, provider="fake", model="fake-judge", label_probs=probs)

@pytest.fixture(scope="session")
def judge_client():
    return ModelClient(FakeFunctionProvider(reply, model="fake-judge", exact_label_probs=True),
                       cache=CallCache("cache.sqlite"), trace=False)
'''

SUITE = '''
import pytest
from judges import EvalSuite, Gate, PointwiseJudge

SUITE = EvalSuite("demo", "demo.jsonl", "summarization", PointwiseJudge("accuracy", "5 good, 1 bad"),
                  threshold=2.5, gate=Gate(min={gate_min}, metric="mean", on="ci_low"))

@pytest.mark.parametrize("case", SUITE.cases(), ids=lambda c: c.id)
def test_case(case, evaluate):
    evaluate(SUITE, case)

def test_gate(evaluate_suite):
    evaluate_suite(SUITE)
'''


def make_project(tmp_path: Path, outputs: list[str], gate_min: float = 1.0) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (tmp_path / "datasets").mkdir()
    rows = [{"id": f"r{i}", "article": f"article {i}", "summary": o} for i, o in enumerate(outputs)]
    (tmp_path / "datasets" / "demo.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_demo.py").write_text(SUITE.format(gate_min=gate_min))
    return tmp_path


def run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # no third-party plugin autoload: deepeval's own pytest plugin alone costs seconds per start
    env = {**os.environ, "EVALHARNESS_TRACING": "", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=project,
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def test_suite_summary_results_json_and_junit(tmp_path):
    project = make_project(tmp_path, ["good", "good", "ok", "bad", "good"])
    proc = run_pytest(project, "--junitxml=junit.xml")
    out = proc.stdout
    assert proc.returncode == 1, out  # the "bad" case is below the threshold
    assert "1 failed, 5 passed" in out
    assert "eval summary (95% bootstrap CIs)" in out
    assert "r3: score 1.50 < threshold 2.5" in out
    row = next(line for line in out.splitlines() if line.startswith("demo "))
    assert "pointwise:accuracy" in row and " 5 " in row
    results = json.loads((project / "results" / "latest.json").read_text())
    suite = results["suites"][0]
    assert suite["suite"] == "demo" and len(suite["cases"]) == 5
    scores = [c["score"] for c in suite["cases"]]
    # exact probabilities 0.8 on the chosen label, 0.05 on the other four: hand-computed weighted scores
    assert scores[0] == pytest.approx(0.8 * 5 + 0.05 * (1 + 2 + 3 + 4))
    assert suite["summary"]["mean"]["low"] <= suite["summary"]["mean"]["value"] <= suite["summary"]["mean"]["high"]
    assert suite["summary"]["model_calls"] == 10  # a label call and a reasoning call per case
    props = {p.get("name"): p.get("value") for p in ElementTree.parse(project / "junit.xml").iter("property")}
    assert "score" in props

    # an unchanged rerun makes no model calls: everything comes from the cache
    again = run_pytest(project)
    results = json.loads((project / "results" / "latest.json").read_text())
    assert results["suites"][0]["summary"]["model_calls"] == 0
    assert results["suites"][0]["summary"]["cache_hits"] == 10, again.stdout


def test_gate_fails_on_the_ci_lower_bound(tmp_path):
    project = make_project(tmp_path, ["good", "ok", "good", "ok"], gate_min=3.9)
    proc = run_pytest(project, "-k", "gate")
    assert proc.returncode == 1
    assert "suite demo failed its gate: mean 95% CI low" in proc.stdout
    assert "< 3.9" in proc.stdout


def test_xdist_workers_report_to_one_summary(tmp_path):
    pytest.importorskip("xdist")
    project = make_project(tmp_path, ["good"] * 6)
    proc = run_pytest(project, "-p", "xdist.plugin", "-n", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((project / "results" / "latest.json").read_text())
    assert len(results["suites"][0]["cases"]) == 6


def test_bad_dataset_row_names_file_line_and_field(tmp_path):
    project = make_project(tmp_path, ["good"])
    with (project / "datasets" / "demo.jsonl").open("a") as f:
        f.write(json.dumps({"id": "broken", "article": "a"}) + "\n")
    proc = run_pytest(project)
    assert proc.returncode != 0
    assert "demo.jsonl:2: field 'summary': Field required" in proc.stdout


def test_unknown_judge_model_is_a_clear_error_before_any_case(tmp_path):
    project = make_project(tmp_path, ["good"])
    (project / "conftest.py").write_text("from judges.pytest_plugin import *  # noqa\n")
    proc = run_pytest(project, "--judge-model", "nonsense:model")
    assert proc.returncode != 0
    assert "unknown judge model 'nonsense:model'" in proc.stdout + proc.stderr
    assert "passed" not in proc.stdout.splitlines()[-1]
