"""`python -m experiments init` in a fresh git repository (branch master, outside this one), as a new user runs it.

The scaffolded project passes a bare `pytest`; a degraded stub task fails the gate against the saved run, the
Markdown report lists every regressed case with its input; the workflow's comment step creates one comment on
a local fake of the GitHub API and updates it on the next run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from test_plugin import harness_lines

from experiments.github_comment import MARKER

HARNESS = Path(__file__).resolve().parents[2]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "EVALHARNESS_", "PYTEST_"))}
    return {**env, "EVALHARNESS_TRACING": "", **extra}


def _plugin_args() -> list[str]:
    """`-p experiments.pytest_plugin` until the harness is installed with its pytest11 entry point."""
    registered = any(ep.value.startswith("experiments") for ep in entry_points(group="pytest11"))
    return [] if registered else ["-p", "experiments.pytest_plugin"]


def _run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # the repository's venv python: the harness is installed there, as a user's project has it installed
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=_env(**env),
                          timeout=300, check=False)


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return _run(cwd, "-m", "pytest", "-p", "no:cacheprovider", *_plugin_args(), *args)


def _summary(out: str) -> list[str]:
    """The eval summary's lines (pytest's own header and short test summary are pytest's, not the harness's)."""
    lines = harness_lines(out)
    start = next(i for i, line in enumerate(lines) if "eval summary" in line)
    return lines[start:]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "myfacts"
    root.mkdir()
    for cmd in (["init", "-q", "-b", "master"], ["config", "user.email", "t@example.com"],
                ["config", "user.name", "t"]):
        subprocess.run(["git", *cmd], cwd=root, check=True)
    (root / "README.md").write_text("my facts app\n")
    return root


def _commit(root: Path, message: str) -> None:
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", "commit", "-q", "-m", message], cwd=root, check=True)


def test_init_writes_the_scaffold_and_never_overwrites_without_force(repo: Path) -> None:
    (repo / "pyproject.toml").write_text('[project]\nname = "myfacts"\n')
    proc = _run(repo, "-m", "experiments", "init")
    assert proc.returncode == 0, proc.stderr
    for rel in ("evals/test_example.py", "evals/example_task.py", "evals/conftest.py", "datasets/example.jsonl",
                ".github/workflows/evals.yml", ".gitignore"):
        assert (repo / rel).is_file(), rel
        assert f"written     {rel}" in proc.stdout
    assert "appended    pyproject.toml  ([tool.pytest.ini_options])" in proc.stdout
    text = (repo / "pyproject.toml").read_text()
    assert text.startswith('[project]\nname = "myfacts"\n') and 'pythonpath = ["."]' in text
    assert 'testpaths = ["evals"]' in text
    rows = [json.loads(line) for line in (repo / "datasets" / "example.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and set(rows[0]) == {"id", "question", "reference"}
    assert "threshold=0.5" in (repo / "evals" / "test_example.py").read_text()

    (repo / "evals" / "example_task.py").write_text("# mine\n")
    again = _run(repo, "-m", "experiments", "init")
    assert again.returncode == 0
    assert "skipped     evals/example_task.py  (exists; --force overwrites it)" in again.stdout
    assert "kept        pyproject.toml  (settings present)" in again.stdout
    assert (repo / "evals" / "example_task.py").read_text() == "# mine\n"
    assert (repo / "pyproject.toml").read_text() == text  # appended once
    forced = _run(repo, "-m", "experiments", "init", "--force")
    assert "overwritten evals/example_task.py" in forced.stdout
    assert "def task(case" in (repo / "evals" / "example_task.py").read_text()


def test_the_workflow_keeps_the_default_branch_run_and_comments_on_pull_requests(repo: Path) -> None:
    assert _run(repo, "-m", "experiments", "init").returncode == 0
    flow = yaml.safe_load((repo / ".github" / "workflows" / "evals.yml").read_text())
    assert flow[True]["push"]["branches"] == ["master"]  # the branch git names, not a hard-coded main
    assert "pull_request" in flow[True]
    steps = flow["jobs"]["evals"]["steps"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"] == {"name": "eval-results", "path": "results/"} and "push" in upload["if"]
    download = next(s for s in steps if s.get("uses", "").startswith("dawidd6/action-download-artifact"))
    assert download["with"]["branch"] == "master" and download["with"]["name"] == "eval-results"
    run = next(s for s in steps if s.get("id") == "evals")["run"]
    assert "--eval-baseline baseline/ --eval-baseline-branch master --eval-markdown eval-report.md" in run
    comment = next(s for s in steps if "experiments comment" in s.get("run", ""))
    assert comment["run"] == "python -m experiments comment --report eval-report.md"
    assert set(comment["env"]) == {"GITHUB_TOKEN", "PR_NUMBER"}
    assert flow["jobs"]["evals"]["permissions"]["pull-requests"] == "write"


DEGRADED = '''
from judges import Case

def task(case: Case) -> str:
    return "I do not know"  # a pull request that broke the application
'''


def test_scaffolded_project_passes_then_a_degraded_task_fails_the_gate(repo: Path) -> None:
    assert _run(repo, "-m", "experiments", "init").returncode == 0
    _commit(repo, "evals")
    ok = _pytest(repo)  # no folder argument: testpaths
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "9 passed" in ok.stdout and "example: PASS" in ok.stdout
    assert max(len(line) for line in _summary(ok.stdout)) <= 120
    assert not [p for p in (repo / "evals").rglob("*") if p.suffix == ".json" or p.name.startswith("results")]
    latest = json.loads((repo / "results" / "latest.json").read_text())
    assert latest["git"]["branch"] == "master"

    # what the workflow does on a pull request: the default branch's results folder is the baseline
    (repo / "results").rename(repo / "baseline")
    (repo / "evals" / "example_task.py").write_text(DEGRADED)
    bad = _pytest(repo, "--eval-baseline", "baseline/", "--eval-baseline-branch", "master",
                  "--eval-markdown", "eval-report.md")
    assert bad.returncode == 1, bad.stdout
    assert "FAILED evals/test_example.py::test_example_gate" in bad.stdout
    assert "suite example failed its gate" in bad.stdout and "example: FAIL" in bad.stdout
    assert max(len(line) for line in _summary(bad.stdout)) <= 120, bad.stdout
    md = (repo / "eval-report.md").read_text()
    assert "| example | **FAIL** | `token_f1` (gates) |" in md
    assert "8 regressed case(s) on `token_f1`" in md
    for row in (json.loads(line) for line in (repo / "datasets" / "example.jsonl").read_text().splitlines()):
        assert f"| `{row['id']}` | 1.00 | 0.00 | {row['question']} |" in md


class _FakeGitHub(BaseHTTPRequestHandler):
    comments: ClassVar[list[dict[str, Any]]] = []
    calls: ClassVar[list[tuple[str, str, str]]] = []

    def _reply(self, code: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self) -> None:
        self.calls.append(("GET", self.path, self.headers["Authorization"]))
        page = int(self.path.rsplit("page=", 1)[1])
        self._reply(200, self.comments[(page - 1) * 100: page * 100])

    def do_POST(self) -> None:
        self.calls.append(("POST", self.path, self.headers["Authorization"]))
        made = {"id": 1000 + len(self.comments), "body": self._body()["body"]}
        self.comments.append(made)
        self._reply(201, made)

    def do_PATCH(self) -> None:
        self.calls.append(("PATCH", self.path, self.headers["Authorization"]))
        cid = int(self.path.rsplit("/", 1)[1])
        found = next(c for c in self.comments if c["id"] == cid)
        found["body"] = self._body()["body"]
        self._reply(200, found)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def github() -> Iterator[str]:
    _FakeGitHub.comments = [{"id": i, "body": f"someone else's comment {i}"} for i in range(150)]  # two pages
    _FakeGitHub.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeGitHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_comment_step_creates_one_comment_then_updates_it(tmp_path: Path, github: str) -> None:
    report = tmp_path / "eval-report.md"
    report.write_text("## Eval results: run `r1`\n\nfirst\n")
    env = {"GITHUB_API_URL": github, "GITHUB_REPOSITORY": "me/myfacts", "GITHUB_TOKEN": "t0ken", "PR_NUMBER": "7"}
    first = _run(tmp_path, "-m", "experiments", "comment", "--report", str(report), **env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "created comment 1150 on me/myfacts#7"
    mine = [c for c in _FakeGitHub.comments if MARKER in c["body"]]
    assert len(mine) == 1 and mine[0]["body"].endswith("first\n")
    assert [c[:2] for c in _FakeGitHub.calls] == [
        ("GET", "/repos/me/myfacts/issues/7/comments?per_page=100&page=1"),
        ("GET", "/repos/me/myfacts/issues/7/comments?per_page=100&page=2"),
        ("POST", "/repos/me/myfacts/issues/7/comments"),
    ]
    assert {c[2] for c in _FakeGitHub.calls} == {"Bearer t0ken"}

    report.write_text("## Eval results: run `r2`\n\nsecond\n")
    _FakeGitHub.calls.clear()
    second = _run(tmp_path, "-m", "experiments", "comment", "--report", str(report), **env)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "updated comment 1150 on me/myfacts#7"
    mine = [c for c in _FakeGitHub.comments if MARKER in c["body"]]
    assert len(mine) == 1 and mine[0]["body"].endswith("second\n") and len(_FakeGitHub.comments) == 151
    assert _FakeGitHub.calls[-1][:2] == ("PATCH", "/repos/me/myfacts/issues/comments/1150")


def test_comment_step_says_what_is_missing(tmp_path: Path) -> None:
    report = tmp_path / "eval-report.md"
    report.write_text("x\n")
    proc = _run(tmp_path, "-m", "experiments", "comment", "--report", str(report), GITHUB_REPOSITORY="me/x",
                PR_NUMBER="1")
    assert proc.returncode == 1 and "GITHUB_TOKEN is not set" in proc.stderr
