"""The pytest plugin end to end: a throwaway eval project run by a real pytest in a subprocess, on a fake judge.

The project's "application" is a function whose behaviour a variable switches, so a test can make a
pull request that degrades it and watch the gate against the saved baseline fail.
"""

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
from experiments.pytest_plugin import *  # noqa

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
import os
import pytest
from experiments import EvalSuite, Gate, TokenF1
from judges import PointwiseJudge

PATTERN = ["good", "good", "ok", "bad", "good"]

def app(case):
    answer = PATTERN[int(case.id[1:]) % 5]
    if os.environ.get("APP_VARIANT") == "worse" and answer == "good":
        return "ok"
    if os.environ.get("APP_VARIANT") == "broken" and case.id == "r1":
        raise RuntimeError("vector store down")
    return answer

SUITE = EvalSuite("demo", "demo.jsonl", "summarization", task=app,
                  judge=PointwiseJudge("accuracy", "5 good, 1 bad"), scorers=(TokenF1(),),
                  threshold=2.5, gate=Gate(min={gate_min}, metric="mean", on="ci_low", max_drop=0.1))

@pytest.mark.parametrize("case", SUITE.cases(), ids=lambda c: c.id)
def test_case(case, evaluate):
    evaluate(SUITE, case)

def test_gate(evaluate_suite):
    evaluate_suite(SUITE)
'''


def write_evidence(project: Path) -> None:
    """Meta-evaluations of the fake judges (as the project's evals/judge_evidence/ would hold), so gates bind."""
    from evidence_fakes import evidence

    from judges import PairwiseJudge, PointwiseJudge
    from judges.meta_eval import write_meta_eval

    folder = project / "evals" / "judge_evidence"
    write_meta_eval(evidence(PointwiseJudge("accuracy", "5 good, 1 bad"), "fake-judge"), folder / "accuracy.json")
    write_meta_eval(evidence(PairwiseJudge("quality"), "fake-judge"), folder / "quality.json")


def make_project(tmp_path: Path, gate_min: float = 1.0, n: int = 5, qualified: bool = True) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    if qualified:
        write_evidence(tmp_path)
    (tmp_path / "datasets").mkdir()
    refs = ["good", "good", "ok", "bad", "good"]
    rows = [{"id": f"r{i}", "article": f"article {i}", "reference": refs[i % 5]} for i in range(n)]
    (tmp_path / "datasets" / "demo.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_demo.py").write_text(SUITE.format(gate_min=gate_min))
    return tmp_path


def harness_lines(out: str) -> list[str]:
    """The lines of a pytest run's output that the harness wrote or shaped: without pytest's own "short test summary
    info" section (pytest prints it untruncated when ``CI`` is set, as in GitHub Actions and .ci/run) and without its
    session header (the plugins line)."""
    lines = out.splitlines()
    head = next((i for i, line in enumerate(lines) if line.startswith("collected ")), -1) + 1
    tail = next((i for i, line in enumerate(lines) if line.startswith("=") and "short test summary info" in line),
                len(lines))
    return lines[head:tail]


def run_pytest(project: Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    # no third-party plugin autoload: deepeval's own pytest plugin alone costs seconds per start
    env = {**os.environ, "EVALHARNESS_TRACING": "", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **env_extra}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=project,
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def flat(text: str) -> str:
    """``text`` with every run of whitespace one space (the summary wraps long reasons at 120 columns)."""
    return " ".join(text.split())


def test_suite_runs_the_task_and_writes_one_typed_record(tmp_path):
    from experiments import load_run

    project = make_project(tmp_path)
    proc = run_pytest(project, "--junitxml=junit.xml")
    out = proc.stdout
    assert proc.returncode == 1, out  # the "bad" case is below the threshold
    assert "1 failed, 5 passed" in out
    assert "eval summary" in out and "95% bootstrap CIs" in out
    assert max(len(line) for line in harness_lines(out)) <= 120, out
    assert "r3: pointwise:accuracy score 1.50 < threshold 2.5" in out
    run = load_run(project / "results" / "latest.json")
    suite = run.suites[0]
    assert suite.suite == "demo" and [c.case_id for c in suite.cases] == ["r0", "r1", "r2", "r3", "r4"]
    assert suite.task is not None and suite.task.name == "app" and len(suite.task.fingerprint) == 16
    assert [s.scorer for s in suite.scorers] == ["pointwise:accuracy", "token_f1"]
    assert [s.kind for s in suite.scorers] == ["judge", "scorer"]
    r0 = suite.cases[0]
    assert r0.task.output == "good" and r0.output == "good"
    # exact probabilities 0.8 on the chosen label, 0.05 on the other four: hand-computed weighted scores
    assert r0.scores[0].score == pytest.approx(0.8 * 5 + 0.05 * (1 + 2 + 3 + 4))
    assert r0.scores[1].score == 1.0 and r0.scores[1].judge_model == "deterministic"
    assert suite.summary.model_calls == 10  # a label call and a reasoning call per case; the gate reuses them
    assert run.judge_model == "fake-judge" and run.schema_version == 2
    assert suite.summary.baseline_note == "no baseline"
    assert "regression not tested: no baseline" in suite.summary.gate.reason
    props = {p.get("name"): p.get("value") for p in ElementTree.parse(project / "junit.xml").iter("property")}
    assert "score" in props

    # an unchanged rerun makes no judge calls: everything comes from the cache; the task runs again
    run_pytest(project)
    again = load_run(project / "results" / "latest.json").suites[0]
    assert again.summary.model_calls == 0 and again.summary.cache_hits == 10


def test_a_degraded_application_fails_the_gate_against_its_baseline(tmp_path):
    # 20 cases: 12 "good" answers turn "ok" in the worse variant. (With 5 cases and 3 regressions the exact
    # sign-flip p-value cannot go below 1/8: too few cases to call anything a significant drop.)
    project = make_project(tmp_path, n=20)
    saved = run_pytest(project, "--eval-save-baseline", "baselines/main.json")
    assert "baseline saved: baselines/main.json" in saved.stdout, saved.stdout
    same = run_pytest(project, "-k", "gate", "--eval-baseline", "baselines/main.json",
                      "--eval-markdown", "report.md")
    assert same.returncode == 0, same.stdout
    assert "Δ +0.000 [+0.000, +0.000] vs baseline, p 1 for a drop > 0.1" in flat(same.stdout)

    worse = run_pytest(project, "-k", "gate", "--eval-baseline", "baselines/main.json", "--eval-markdown", "report.md",
                       APP_VARIANT="worse")
    assert worse.returncode == 1, worse.stdout
    assert "suite demo failed its gate: " in worse.stdout and "significant regression" in flat(worse.stdout)
    assert worse.stdout.count("regressed cases (pointwise:accuracy, worst first): 12") == 1  # printed once
    assert max(len(line) for line in harness_lines(worse.stdout)) <= 120, worse.stdout
    md = (project / "report.md").read_text()
    assert "| demo | **FAIL** | `pointwise:accuracy` (gates) |" in md
    # every regressed case with its input and reference, old and new output side by side; 10 open, 2 collapsed
    assert "| `r0` | 4.50 | 3.00 | article 0 | good | good | ok |" in md
    assert "12 regressed case(s) on `pointwise:accuracy`" in md and "<summary>2 more regressed case(s)" in md
    assert sum(line.startswith("| `r") for line in md.splitlines()) == 12
    assert "r0: 4.50 -> 3.00  input: article 0" in worse.stdout


def test_task_errors_fail_their_case_with_the_error(tmp_path):
    project = make_project(tmp_path)
    proc = run_pytest(project, APP_VARIANT="broken")
    assert "demo/r1: task error: RuntimeError: vector store down" in proc.stdout
    run = json.loads((project / "results" / "latest.json").read_text())
    assert run["suites"][0]["summary"]["task_errors"] == 1
    assert "task errors 20% > 5%" in run["suites"][0]["summary"]["gate"]["reason"]


def test_bad_baselines_are_clear_errors(tmp_path):
    project = make_project(tmp_path)
    (project / "empty.json").write_text("")
    proc = run_pytest(project, "--eval-baseline", "empty.json")
    assert proc.returncode == 4 and "eval baseline: results file" in proc.stderr and "is empty" in proc.stderr
    proc = run_pytest(project, "--eval-baseline", "nowhere/")
    assert proc.returncode == 4 and "does not exist" in proc.stderr


def test_gate_fails_on_the_ci_lower_bound(tmp_path):
    project = make_project(tmp_path, gate_min=3.9)
    proc = run_pytest(project, "-k", "gate")
    assert proc.returncode == 1
    assert "suite demo failed its gate: mean 95% CI low" in flat(proc.stdout)
    assert "< 3.9" in proc.stdout


def test_a_gate_on_an_unqualified_judge_is_advisory_and_says_why(tmp_path):
    project = make_project(tmp_path, gate_min=3.9, qualified=False)  # qualified, this gate fails (test above)
    proc = run_pytest(project, "-k", "gate")
    assert proc.returncode == 0, proc.stdout
    assert "ADVISORY: judge not qualified (no evidence: no meta-evaluation of pointwise:accuracy" in flat(proc.stdout)
    assert "would fail: mean 95% CI low" in flat(proc.stdout)
    gate = json.loads((project / "results" / "latest.json").read_text())["suites"][0]["summary"]["gate"]
    assert gate["passed"] is None and gate["advisory"].startswith("no evidence")

    from evidence_fakes import evidence

    from judges import PointwiseJudge
    from judges.meta_eval import write_meta_eval

    weak = tmp_path / "weak"
    write_meta_eval(evidence(PointwiseJudge("accuracy", "5 good, 1 bad"), "fake-judge", kappa=(0.4, 0.2, 0.6)),
                    weak / "accuracy.json")
    low = run_pytest(project, "-k", "gate", "--eval-judge-evidence", str(weak))
    assert low.returncode == 0 and "agreement too low: cohen_kappa 95% CI low 0.200 < 0.4" in flat(low.stdout)


def test_xdist_workers_report_to_one_summary_and_the_controller_decides_the_gate(tmp_path):
    pytest.importorskip("xdist")
    project = make_project(tmp_path, gate_min=4.9)
    proc = run_pytest(project, "-p", "xdist.plugin", "-n", "2")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    results = json.loads((project / "results" / "latest.json").read_text())
    assert len(results["suites"][0]["cases"]) == 5
    assert "suite demo failed its gate (decided over all workers' cases)" in proc.stdout


def test_bad_dataset_row_names_file_line_and_field(tmp_path):
    project = make_project(tmp_path)
    with (project / "datasets" / "demo.jsonl").open("a") as f:
        f.write(json.dumps({"id": "broken", "article": ""}) + "\n")
    proc = run_pytest(project)
    assert proc.returncode != 0
    assert "demo.jsonl:6: field 'article': String should have at least 1 character" in proc.stdout


def test_unknown_judge_model_fails_the_eval_items_not_the_session(tmp_path):
    project = make_project(tmp_path)
    (project / "conftest.py").write_text("from experiments.pytest_plugin import *  # noqa\n")
    (project / "test_other.py").write_text("def test_unrelated():\n    assert True\n")
    proc = run_pytest(project, "--judge-model", "nonsense:model")
    assert proc.returncode == 1
    assert "unknown judge model 'nonsense:model'" in proc.stdout
    assert "1 passed" in proc.stdout.splitlines()[-1]  # the unrelated test still ran


PAIRWISE_CONFTEST = '''
import re
import pytest
from judges import Completion, ModelClient
from judges.providers import FakeFunctionProvider
from experiments.pytest_plugin import *  # noqa

RANK = {"good": 2, "ok": 1, "bad": 0}

def reply(req):
    a, b = re.search(r"Response A:\\n(.*?)\\n\\nResponse B:\\n(.*?)\\n\\n", req.messages[-2].content, re.S).groups()
    pa = 0.5 if RANK[a] == RANK[b] else (0.9 if RANK[a] > RANK[b] else 0.1)
    probs = {lab: pa if lab.strip() == "A" else 1 - pa for lab in req.labels}
    return Completion(text="A" if pa >= 0.5 else "B", provider="fake", model="fake-judge", label_probs=probs)

@pytest.fixture(scope="session")
def judge_client():
    return ModelClient(FakeFunctionProvider(reply, model="fake-judge", exact_label_probs=True), trace=False)
'''

PAIRWISE_SUITE = '''
import os
import pytest
from experiments import EvalSuite, Gate, VersusBaseline
from judges import PairwiseJudge

def app(case):
    good = ["good", "good", "ok", "bad", "good"][int(case.id[1:]) % 5]
    return "ok" if os.environ.get("APP_VARIANT") == "worse" and good == "good" else good

VS = VersusBaseline(PairwiseJudge("quality"))
SUITE = EvalSuite("vs", "demo.jsonl", "summarization", task=app, scorers=(VS,),
                  gate=Gate(min=0.35, metric="win_rate", on="point", scorer=VS.judge_name))

@pytest.mark.parametrize("case", SUITE.cases(), ids=lambda c: c.id)
def test_case(case, evaluate):
    evaluate(SUITE, case)

def test_gate(evaluate_suite):
    evaluate_suite(SUITE)
'''


def test_pairwise_versus_baseline_judges_new_against_old_outputs(tmp_path):
    project = make_project(tmp_path, n=20)
    (project / "conftest.py").write_text(PAIRWISE_CONFTEST)
    (project / "test_demo.py").write_text(PAIRWISE_SUITE)
    first = run_pytest(project, "--eval-save-baseline", "baselines/main.json")
    assert first.returncode == 0, first.stdout
    assert "vs_baseline:quality not tested: no baseline" in flat(first.stdout)
    same = run_pytest(project, "--eval-baseline", "baselines/main.json")
    assert same.returncode == 0, same.stdout
    run = json.loads((project / "results" / "latest.json").read_text())
    rates = run["suites"][0]["summary"]["scorers"][0]["pairwise"]
    assert rates["win_rate"]["value"] == pytest.approx(0.5)  # identical outputs: every case a tie
    worse = run_pytest(project, "--eval-baseline", "baselines/main.json", APP_VARIANT="worse")
    assert worse.returncode == 1
    # 12 of 20 cases now lose to the baseline output in both orders, 8 tie: win rate (0 + 8 * 0.5) / 20
    assert "win_rate estimate 0.200 < 0.35" in flat(worse.stdout)


def test_eval_redact_masks_personal_data_on_disk_and_a_redacted_baseline_still_compares(tmp_path):
    project = make_project(tmp_path)
    secret = "jane.doe@example.com"
    rows = [{"id": f"r{i}", "article": f"article {i} by {secret}, call +1 (415) 555-2671", "reference": "good"}
            for i in range(5)]
    (project / "datasets" / "demo.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    plain = run_pytest(project, "--eval-results", "plain")
    assert secret in (project / "plain" / "latest.json").read_text()  # so the checks below can fail
    saved = run_pytest(project, "--eval-redact", "--eval-save-baseline", "baselines/main.json",
                       "--eval-markdown", "report.md")
    assert "results redacted (--eval-redact)" in saved.stdout, saved.stdout
    for written in (project / "results" / "latest.json", project / "baselines" / "main.json", project / "report.md"):
        text = written.read_text()
        assert secret not in text and "555-2671" not in text, written
    run = json.loads((project / "results" / "latest.json").read_text())
    assert run["redacted"] is True and run["suites"][0]["cases"][0]["case_id"] == "r0"
    assert plain.returncode == saved.returncode
    again = run_pytest(project, "--eval-baseline", "baselines/main.json")  # unredacted run vs redacted baseline
    summary = json.loads((project / "results" / "latest.json").read_text())["suites"][0]["summary"]
    assert summary["comparisons"] and summary["comparisons"][0]["n_paired"] == 5, again.stdout
    assert not any("dataset changed" in w for c in summary["comparisons"] for w in c["warnings"])


def test_eval_redact_masks_the_junit_properties_and_the_failure_output_and_files_are_0600(tmp_path):
    """Issue 23: under --eval-redact the JUnit XML (whole case records as properties) and pytest's failure output
    (the output of a case below threshold) carry no personal data; results, JUnit and Markdown files are 0600 and
    the folders the run creates 0700, under the usual umask 022."""
    import stat

    project = make_project(tmp_path)
    secrets = ["jane.doe@example.com", "GB29 NWBK 6016 1331 9268 19", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"]
    rows = [{"id": f"r{i}", "article": f"article {i} by {secrets[0]}", "reference": "good"} for i in range(5)]
    (project / "datasets" / "demo.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    suite = SUITE.format(gate_min=1.0).replace(
        "    return answer\n", f"    return answer + ' (ask {secrets[0]}, pay {secrets[1]}, key {secrets[2]})'\n")
    (project / "test_demo.py").write_text(suite)
    old = os.umask(0o022)
    try:
        plain = run_pytest(project, "--junitxml=plain.xml", "--eval-results", "plain")
        redacted = run_pytest(project, "--eval-redact", "--junitxml=out/junit.xml", "--eval-markdown", "md/report.md")
    finally:
        os.umask(old)
    assert plain.returncode == redacted.returncode == 1, redacted.stdout  # r3 is below the threshold
    plain_xml = (project / "plain.xml").read_text()
    assert all(s in plain_xml for s in secrets) and secrets[1] in plain.stdout  # so the checks below can fail
    xml = (project / "out" / "junit.xml").read_text()
    assert "[EMAIL]" in xml and "[IBAN]" in xml and "r3: pointwise:accuracy score" in redacted.stdout
    for s in secrets:
        assert s not in xml and s not in redacted.stdout, s
    assert 'name="score"' in xml and "r0" in xml  # scores and ids kept

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    files = [project / "out" / "junit.xml", project / "md" / "report.md", project / "results" / "latest.json",
             *[p for p in (project / "results").iterdir()], *project.glob("cache.sqlite*")]
    assert {str(p): mode(p) for p in files} == {str(p): 0o600 for p in files}
    assert {mode(project / d) for d in ("out", "md", "results")} == {0o700}
