"""The harness used from another repository: the installed plugin (no star import), paths from the project root.

A temporary git repository on branch ``master`` with its own pyproject.toml, app, dataset and evals/, run by a
real pytest in a subprocess with plugin autoloading on (the pytest11 entry point), on a fake judge.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_plugin import CONFTEST as PLUGIN_CONFTEST

from experiments import load_run
from judges.datasets import dataset_path
from judges.errors import DatasetError
from tracing.errors import TracingConfigError
from tracing.project import pin_root, project_path, settings, unpin_root

PYPROJECT = '''
[project]
name = "myfacts"
version = "0"

[tool.pytest.ini_options]
testpaths = ["evals"]
pythonpath = ["."]
filterwarnings = ["error"]
'''

APP = '''
import os

def answer(case):
    if os.environ.get("MYFACTS_VARIANT") == "worse":
        return "ok"
    return case.expected
'''

# test_plugin's fake judge, without its star import: the plugin's options and fixtures come from the entry point;
# the call cache where the harness keeps it (the project's cache folder)
STAR_IMPORT = "from experiments.pytest_plugin import *  # noqa\n"
assert STAR_IMPORT in PLUGIN_CONFTEST and 'CallCache("cache.sqlite")' in PLUGIN_CONFTEST
CONFTEST = ("from judges.cache import cache_path\n"
            + PLUGIN_CONFTEST.replace(STAR_IMPORT, "").replace('CallCache("cache.sqlite")', "CallCache(cache_path())"))

SUITE = '''
import pytest
from experiments import EvalSuite, ExactMatch, Gate
from judges import PointwiseJudge
from myfacts import answer

SUITE = EvalSuite("facts", "facts.jsonl", "qa", task=answer, judge=PointwiseJudge("accuracy", "5 good, 1 bad"),
                  scorers=(ExactMatch(),), threshold=2.5, gate=Gate(max_drop=0.1, scorer="exact_match"))

@pytest.mark.parametrize("case", SUITE.cases(), ids=lambda c: c.id)
def test_case(case, evaluate):
    evaluate(SUITE, case)

def test_gate(evaluate_suite):
    evaluate_suite(SUITE)

def test_the_harness_set_up_the_session(pytestconfig):
    assert not pytestconfig.pluginmanager.has_plugin("deepeval")
'''


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "myfacts-repo"
    (root / "evals").mkdir(parents=True)
    (root / "datasets").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "myfacts.py").write_text(APP)
    (root / "evals" / "conftest.py").write_text(CONFTEST)
    (root / "evals" / "test_facts.py").write_text(SUITE)
    rows = [{"id": f"f{i}", "question": f"question {i}", "reference": "good"} for i in range(12)]
    (root / "datasets" / "facts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    git(root, "init", "-q", "-b", "master")
    git(root, "add", ".")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    return root


def run_pytest(cwd: Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "EVALHARNESS_", "GITHUB_", "DEEPEVAL_"))}
    env.update(env_extra)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300, check=False)


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if "__pycache__" not in p.parts}


def test_a_bare_pytest_in_another_repository_uses_the_project_root_from_any_folder(project: Path) -> None:
    evals_before = files_under(project / "evals")
    saved = run_pytest(project, "--eval-baseline", "none", "--eval-save-baseline", "evals/baselines/master.json")
    assert saved.returncode == 0, saved.stdout + saved.stderr
    assert "baseline saved: evals/baselines/master.json" in saved.stdout
    assert files_under(project / "evals") == evals_before | {"baselines", "baselines/master.json"}
    assert not (project / ".deepeval").exists() or not any((project / ".deepeval").iterdir())
    first = load_run(project / "results" / "latest.json").suites[0].summary
    assert first.model_calls >= 12 and first.cache_hits == 0
    assert (project / ".evalharness" / "cache.sqlite").is_file()

    # from evals/: the same results folder, call cache and dataset; the baseline saved on master is used
    again = run_pytest(project / "evals", "-k", "gate")
    assert again.returncode == 0, again.stdout + again.stderr
    assert files_under(project / "evals") == evals_before | {"baselines", "baselines/master.json"}
    run = load_run(project / "results" / "latest.json")
    assert run.baseline == "evals/baselines/master.json" and run.git.branch == "master"
    assert run.suites[0].summary.model_calls == 0 and run.suites[0].summary.cache_hits == first.model_calls

    # from the parent folder, naming the project: the same again; a degraded app fails the gate
    worse = run_pytest(project.parent, str(project), "-k", "gate", MYFACTS_VARIANT="worse")
    assert worse.returncode == 1, worse.stdout + worse.stderr
    assert "suite facts failed its gate" in worse.stdout
    assert load_run(project / "results" / "latest.json").run_id != run.run_id
    assert not (project.parent / "results").exists() and not (project.parent / ".evalharness").exists()


def test_places_come_from_tool_evalharness_and_a_missing_dataset_says_where_it_looked(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.evalharness]\ndatasets_dir = "data/golden"\n'
                                             'results_dir = "/abs/results"\n')
    (tmp_path / "data" / "golden").mkdir(parents=True)
    (tmp_path / "data" / "golden" / "x.jsonl").write_text("{}\n")
    pin_root(tmp_path)
    try:
        assert project_path("datasets_dir") == tmp_path / "data" / "golden"
        assert project_path("results_dir") == Path("/abs/results")
        assert project_path("cache_dir") == tmp_path / ".evalharness"
        assert dataset_path("x.jsonl") == tmp_path / "data" / "golden" / "x.jsonl"
        with pytest.raises(DatasetError, match=r"dataset file not found: y.jsonl \(looked in .*data/golden\); .*"
                                               r"set datasets_dir in \[tool.evalharness\] of .*pyproject.toml"):
            dataset_path("y.jsonl")
        (tmp_path / "pyproject.toml").write_text('[tool.evalharness]\ndataset_dir = "data"\n')
        with pytest.raises(TracingConfigError, match=r"unknown \[tool.evalharness\] keys \['dataset_dir'\]"):
            settings()
    finally:
        unpin_root(tmp_path)
