"""The example's promise, checked for real: the QA app with its retrieved context removed fails the gate
against the baseline kept in the repository (evals/baselines/main.json), on the embedded local model.

The unchanged app passes against the same baseline in the main job (`pytest evals/`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the QA app on the real local model

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.xfail(strict=True, reason=(
    "on the prebuilt llama.cpp engine the degraded app's token F1 drops by 0.073 [-0.137, -0.011] (2 improved, "
    "15 regressed), p 0.054 for a drop > 0.02: just short of alpha 0.05. The compiled engine's outputs gave "
    "p 0.013. At 42 cases the gate's power for a drop this size is about one half: the suite needs more cases "
    "(docs/experiments.md); strict, so the day it fails the gate again this marker must go"))
def test_the_degraded_app_fails_the_gate_and_token_f1_catches_it(tmp_path: Path) -> None:
    pytest.importorskip("xllamacpp", reason="the QA app needs the local model: pip install 'evalharness[local]'")
    if not (REPO / "evals" / "baselines" / "main.json").is_file():
        pytest.skip("no baseline kept in evals/baselines/")
    env = {**os.environ, "QA_APP_VARIANT": "no-context", "EVALHARNESS_TRACING": ""}
    env.pop("GITHUB_STEP_SUMMARY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "evals/test_qa_app.py", "-q", "-p", "no:cacheprovider", "-k", "gate",
         "--eval-results", str(tmp_path), "--eval-markdown", str(tmp_path / "report.md")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    out = " ".join(proc.stdout.split())  # the reason is wrapped to fit 120 columns
    assert "suite qa-app failed its gate" in out and "significant regression" in out
    run = json.loads((tmp_path / "latest.json").read_text())
    [suite] = run["suites"]
    f1 = next(c for c in suite["summary"]["comparisons"] if c["scorer"] == "token_f1")
    assert f1["n_paired"] == 42 and f1["mean_diff"] < 0 and f1["pvalue"] < 0.05 and f1["regressed"] > f1["improved"]
    assert "**FAIL**" in (tmp_path / "report.md").read_text()
