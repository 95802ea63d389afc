"""No secret from the environment reaches a results file, the run's output, a span attribute or Phoenix's log.

A traced `pytest evals/` run with API keys and the dashboard's session secret in its environment; every
file it wrote, everything it printed and every attribute of every span Phoenix stored is searched for them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_tracing_evals_e2e import CONFTEST, SUITE
from tracing_test_helpers import wait_for_spans

pytestmark = pytest.mark.slow

SECRETS = {
    "OPENAI_API_KEY": "sk-proj-leakcheck0123456789abcdefghij",
    "ANTHROPIC_API_KEY": "sk-ant-leakcheck0123456789abcdef",
    "PHOENIX_API_KEY": "phx-leakcheck-0123456789abcdef",
    "AWS_SECRET_ACCESS_KEY": "leakcheckAWSsecret0123456789abcdefghijkl",
    "EVALHARNESS_SESSION_SECRET": "leakcheck-dashboard-session-secret-0123456789",
}


def test_no_secret_in_results_output_or_spans(tmp_path: Path, phoenix: Any, phoenix_client: Any) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    (tmp_path / "datasets").mkdir()
    rows = [{"id": f"case-{i}", "article": f"article {i}"} for i in range(3)]
    (tmp_path / "datasets" / "demo.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_demo.py").write_text(SUITE)
    project = f"secrets-{os.getpid()}"
    env = {**os.environ, **SECRETS, "EVALHARNESS_TRACING": "1", "PHOENIX_COLLECTOR_ENDPOINT": phoenix.url,
           "PHOENIX_PROJECT_NAME": project, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", "--log-level=DEBUG"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    spans = wait_for_spans(phoenix_client, project, 12)

    written = {
        str(p): p.read_text(errors="replace")
        for p in tmp_path.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert any(p.endswith("latest.json") for p in written)
    places = {
        **written,
        "stdout": proc.stdout,
        "stderr": proc.stderr,
        "span attributes": json.dumps([s["attributes"] for s in spans], default=str),
        "spans": json.dumps(spans, default=str),
        "phoenix.log": phoenix.log_path.read_text(errors="replace"),
    }
    leaks = [
        (name, where) for name, value in SECRETS.items() for where, text in places.items() if value in text
    ]
    assert leaks == []
