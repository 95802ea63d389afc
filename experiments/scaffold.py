"""``python -m experiments init [PATH]``: the files a repository needs to gate its pull requests on evals.

Writes ``evals/`` (a suite around a stub task the user replaces, scored by a deterministic scorer with a
per-case ``threshold`` and a gate), a small dataset in ``datasets/``, the pytest settings in
``pyproject.toml`` and a GitHub Actions workflow that keeps the default branch's run as an artifact and, on a
pull request, compares with it and posts (or updates) one comment with the Markdown report.

An existing file is never overwritten without ``force``; an existing ``pyproject.toml`` without a
``[tool.pytest.ini_options]`` table gets the table appended (nothing in it is changed); one with the table is
left alone and the settings to check are reported.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Written", "default_branch", "scaffold", "templates"]

PYTEST_TABLE = """\
[tool.pytest.ini_options]
# the project's own modules import from the tests (evals/ has no __init__.py)
pythonpath = ["."]
# a bare `pytest` runs the eval suites
testpaths = ["evals"]
"""

PYPROJECT = """\
[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.10"

""" + PYTEST_TABLE

STUB_TASK = '''\
"""The task under test. Replace the stub with a call into your application, e.g.

    from myapp import answer          # def answer(question: str) -> str

    def task(case: Case) -> str:
        return answer(case.input)

A task takes a ``judges.Case`` (``case.input`` is the dataset row's question) and returns the text to score:
a ``str`` or an ``experiments.TaskOutput`` (sync or async).
"""

from __future__ import annotations

from judges import Case

# The stub: a small deterministic lookup, so the example suite passes before you wire in your app.
FACTS = {
    "capital of france": "Paris",
    "capital of japan": "Tokyo",
    "largest planet": "Jupiter",
    "boiling point of water": "100 degrees Celsius",
    "chemical symbol for gold": "Au",
    "author of hamlet": "William Shakespeare",
    "speed of light": "about 300,000 km per second",
    "binary search": "O(log n)",
}


def task(case: Case) -> str:
    question = case.input.lower()
    return next((answer for key, answer in FACTS.items() if key in question), "I do not know")
'''

SUITE = '''\
"""The example eval suite: the task over datasets/example.jsonl, scored against the reference.

Each case fails below ``threshold`` (its token F1 against the reference); the gate fails the pull request when
the mean drops significantly (``max_drop``) against the default branch's run, or sits below ``min``.
"""

import pytest
from example_task import task

from experiments import EvalSuite, Gate, TokenF1

SUITE = EvalSuite(
    name="example",
    dataset="example.jsonl",  # datasets/example.jsonl: {"id", "question", "reference"} per line
    kind="qa",
    task=task,
    scorers=(TokenF1(),),  # deterministic: no judge model needed; add an LLM judge when you have one
    threshold=0.5,  # a case passes when its token F1 reaches 0.5
    gate=Gate(min=0.5, max_drop=0.05, alpha=0.05),  # scored by the first scorer
)


@pytest.mark.parametrize("case", SUITE.cases(), ids=lambda c: c.id)
def test_example(case, evaluate):
    evaluate(SUITE, case)


def test_example_gate(evaluate_suite):
    evaluate_suite(SUITE)
'''

CONFTEST = '''\
"""Fixtures for the eval suites. The harness's pytest plugin gives `evaluate`, `evaluate_suite` and `judge_client`.

A suite scored by deterministic scorers only (like the example) never loads a judge model. When a suite adds an
LLM judge, the plugin loads the model named by --judge-model or EVALHARNESS_JUDGE_MODEL (e.g. openai:gpt-4o-mini).
"""
'''

ROWS = [
    ("q01", "What is the capital of France?", "Paris"),
    ("q02", "What is the capital of Japan?", "Tokyo"),
    ("q03", "Which is the largest planet of the solar system?", "Jupiter"),
    ("q04", "What is the boiling point of water at sea level?", "100 degrees Celsius"),
    ("q05", "What is the chemical symbol for gold?", "Au"),
    ("q06", "Who is the author of Hamlet?", "William Shakespeare"),
    ("q07", "What is the speed of light?", "about 300,000 km per second"),
    ("q08", "What is the running time of binary search?", "O(log n)"),
]

WORKFLOW = """\
# Evals on every push to {branch} and every pull request (written by `python -m experiments init`).
# {branch}: the run's results are kept as the artifact `eval-results`.
# Pull request: the newest `eval-results` of {branch} is the baseline; the suites run against it and one
# comment on the pull request holds the Markdown report (updated on every push to the pull request).
name: evals

on:
  push:
    branches: [{branch}]
  pull_request:

permissions:
  contents: read

jobs:
  evals:
    runs-on: ubuntu-latest
    permissions:
      contents: read
      actions: read          # to download {branch}'s artifact
      pull-requests: write   # to post the comment
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install
        # EVALHARNESS_PIP_SPEC (a repository variable) says where the harness comes from, e.g.
        # "evalharness @ git+https://github.com/OWNER/evalharness"
        run: |
          python -m pip install "${{{{ vars.EVALHARNESS_PIP_SPEC || 'evalharness' }}}}"
          if [ -f requirements.txt ]; then python -m pip install -r requirements.txt; fi

      - name: Evals ({branch})
        if: github.event_name == 'push'
        run: python -m pytest --eval-baseline none
      - name: Keep the run as the baseline of pull requests
        if: github.event_name == 'push' && always()
        uses: actions/upload-artifact@v4
        with:
          name: eval-results
          path: results/

      - name: Download {branch}'s newest run
        if: github.event_name == 'pull_request'
        uses: dawidd6/action-download-artifact@v6
        with:
          workflow: evals.yml
          branch: {branch}
          name: eval-results
          path: baseline/
          if_no_artifact_found: warn
      - name: Evals against {branch}
        id: evals
        if: github.event_name == 'pull_request'
        continue-on-error: true
        run: |
          if ls baseline/*.json >/dev/null 2>&1; then
            python -m pytest --eval-baseline baseline/ --eval-baseline-branch {branch} --eval-markdown eval-report.md
          else
            python -m pytest --eval-baseline none --eval-markdown eval-report.md
          fi
      - name: Post or update the report comment
        if: github.event_name == 'pull_request' && hashFiles('eval-report.md') != ''
        env:
          GITHUB_TOKEN: ${{{{ secrets.GITHUB_TOKEN }}}}
          PR_NUMBER: ${{{{ github.event.pull_request.number }}}}
        run: python -m experiments comment --report eval-report.md
      - name: Fail when the evals failed
        if: github.event_name == 'pull_request' && steps.evals.outcome == 'failure'
        run: exit 1
"""

GITIGNORE_LINES = ("results/", "baseline/", "eval-report.md")


@dataclass(frozen=True)
class Written:
    """One file of the scaffold and what happened to it: written, overwritten, appended, kept or skipped."""

    path: Path
    action: str
    note: str = ""

    def line(self, root: Path) -> str:
        rel = self.path.relative_to(root) if self.path.is_relative_to(root) else self.path
        return f"{self.action:<11} {rel}" + (f"  ({self.note})" if self.note else "")


def default_branch(root: Path) -> str:
    """The repository's default branch: the remote's HEAD, else the current branch, else ``main``."""

    def git(*args: str) -> str:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return ""
        return out.stdout.strip() if out.returncode == 0 else ""

    remote = git("symbolic-ref", "--short", "refs/remotes/origin/HEAD")  # origin/<branch>
    if remote.startswith("origin/"):
        return remote.removeprefix("origin/")
    current = git("symbolic-ref", "--short", "HEAD")  # also on a branch without commits yet
    return current or "main"


def templates(root: Path, branch: str | None = None) -> dict[str, str]:
    """The scaffold's files by path relative to ``root`` (pyproject.toml is handled apart)."""
    rows = "".join(json.dumps({"id": i, "question": q, "reference": r}) + "\n" for i, q, r in ROWS)
    return {
        "evals/test_example.py": SUITE,
        "evals/example_task.py": STUB_TASK,
        "evals/conftest.py": CONFTEST,
        "datasets/example.jsonl": rows,
        ".github/workflows/evals.yml": WORKFLOW.format(branch=branch or default_branch(root)),
    }


def _pyproject(root: Path) -> Written:
    path = root / "pyproject.toml"
    if not path.exists():
        name = "".join(ch if ch.isalnum() else "-" for ch in root.resolve().name.lower()).strip("-") or "project"
        path.write_text(PYPROJECT.format(name=name), encoding="utf-8")
        return Written(path, "written")
    text = path.read_text(encoding="utf-8")
    if "[tool.pytest.ini_options]" in text:  # the user's own table: never rewritten, even with --force
        missing = [k for k in ('pythonpath = ["."]', 'testpaths = ["evals"]') if k not in text]
        note = ("add to [tool.pytest.ini_options]: " + ", ".join(missing)) if missing else "settings present"
        return Written(path, "kept", note)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(("\n" if not text.endswith("\n") else "") + "\n" + PYTEST_TABLE)
    return Written(path, "appended", "[tool.pytest.ini_options]")


def _gitignore(root: Path) -> Written:
    path = root / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    have = {line.strip() for line in text.splitlines()}
    missing = [line for line in GITIGNORE_LINES if line not in have]
    if not missing:
        return Written(path, "kept", "already ignores the run's files")
    with path.open("a", encoding="utf-8") as fh:
        fh.write(("\n" if text and not text.endswith("\n") else "") + "\n".join(missing) + "\n")
    return Written(path, "appended" if text else "written", ", ".join(missing))


def scaffold(root: str | Path = ".", *, force: bool = False, branch: str | None = None) -> list[Written]:
    """Write the scaffold into ``root``; an existing file is kept (and reported) unless ``force``."""
    base = Path(root)
    base.mkdir(parents=True, exist_ok=True)
    out: list[Written] = []
    for rel, text in templates(base, branch).items():
        path = base / rel
        if path.exists() and not force:
            out.append(Written(path, "skipped", "exists; --force overwrites it"))
            continue
        existed = path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        out.append(Written(path, "overwritten" if existed else "written"))
    out.append(_pyproject(base))
    out.append(_gitignore(base))
    return out
