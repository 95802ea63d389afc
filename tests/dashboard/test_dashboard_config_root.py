"""The dashboard's relative paths (review store, users file, results, datasets, synthetic sets, topics report) are
relative to the project root, as the eval runs' results are: started from a subfolder, ``python -m dashboard``
finds the same store and runs. A subprocess, because inside pytest the plugin pins the root to this repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import json; from dashboard.config import DashboardConfig; c = DashboardConfig.from_env(); "
         "print(json.dumps({k: str(getattr(c, k)) for k in "
         "('db', 'users', 'datasets', 'results_dir', 'synth_dir', 'topics_report')}))")


def _config(cwd: Path, **env: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EVALHARNESS_")}
    base["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env={**base, **env}, capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def test_relative_paths_resolve_from_the_project_root_not_the_working_folder(tmp_path):
    project = tmp_path / "proj"
    (project / "src" / "deep").mkdir(parents=True)
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    c = _config(project / "src" / "deep", EVALHARNESS_USERS="conf/users.toml")
    assert c["db"] == str(project / ".evalharness" / "review.sqlite")
    assert c["users"] == str(project / "conf" / "users.toml")
    assert c["results_dir"] == str(project / "results") and c["datasets"] == str(project / "datasets")
    assert c["synth_dir"] == str(project / "synth_out")
    assert c["topics_report"] == str(project / "reports" / "monitor" / "topics" / "topics.json")


def test_absolute_paths_and_database_urls_are_kept(tmp_path):
    url = "postgresql://reviewer@127.0.0.1:5432/review"
    c = _config(tmp_path, EVALHARNESS_REVIEW_DB=url, EVALHARNESS_RESULTS=str(tmp_path / "elsewhere"))
    assert c["db"] == url and c["results_dir"] == str(tmp_path / "elsewhere")
