"""The project the harness works for: its root folder and the ``[tool.evalharness]`` table of its pyproject.toml.

Every file the harness reads or writes in a project (datasets, results, baselines, judge evidence, the call
cache, G-Eval steps, deepeval's folder) is found from the project root, never from the working directory, so
``pytest`` started from any subfolder uses the same files. Inside pytest the root is pytest's rootdir (the
plugin pins it); elsewhere it is the nearest folder at or above the working directory holding a
``pyproject.toml`` or ``.git``.

The places can be set in the project's ``pyproject.toml`` (relative to the root, or absolute)::

    [tool.evalharness]
    datasets_dir = "datasets"              # golden JSONL sets a suite's `dataset=` names
    results_dir = "results"                # results/<run-id>.json and results/latest.json
    baselines_dir = "evals/baselines"      # the baseline run kept in the repository
    evidence_dir = "evals/judge_evidence"  # judges' meta-evaluations (python -m judges meta-eval)
    cache_dir = ".evalharness"             # the model-call cache (cache.sqlite) and G-Eval steps
    default_branch = "main"                # the branch whose run is the baseline (default: from git)
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from tracing.errors import TracingConfigError

TABLE = "tool.evalharness"
#: each place's default, relative to the project root
DEFAULTS: dict[str, str] = {
    "datasets_dir": "datasets",
    "results_dir": "results",
    "baselines_dir": "evals/baselines",
    "evidence_dir": "evals/judge_evidence",
    "cache_dir": ".evalharness",
}
#: keys of [tool.evalharness] that are not places
OTHER_KEYS = frozenset({"default_branch"})

_PINNED: list[Path] = []


def pin_root(root: str | os.PathLike[str]) -> None:
    """Make ``root`` the project root of this process (the pytest plugin pins pytest's rootdir)."""
    _PINNED.append(Path(root).resolve())


def unpin_root(root: str | os.PathLike[str]) -> None:
    """Undo :func:`pin_root` (the plugin's ``pytest_unconfigure``)."""
    resolved = Path(root).resolve()
    for i in range(len(_PINNED) - 1, -1, -1):
        if _PINNED[i] == resolved:
            del _PINNED[i]
            return


def project_root(start: Path | None = None) -> Path:
    """The pinned root (inside pytest), else the nearest folder at or above ``start`` (default: the working
    directory) holding pyproject.toml or .git, else ``start`` itself."""
    if start is None and _PINNED:
        return _PINNED[-1]
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").exists() or (folder / ".git").exists():
            return folder
    return here


_CACHE: dict[Path, tuple[float, dict[str, Any]]] = {}


def settings(root: Path | None = None) -> dict[str, Any]:
    """The ``[tool.evalharness]`` table of ``<root>/pyproject.toml`` (empty when there is none)."""
    path = (root or project_root()) / "pyproject.toml"
    try:
        mtime = path.stat().st_mtime
    except OSError:
        return {}
    cached = _CACHE.get(path)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("evalharness", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TracingConfigError(f"{path} is not valid TOML: {exc}") from exc
    if not isinstance(table, dict):
        raise TracingConfigError(f"{path}: [{TABLE}] must be a table")
    unknown = set(table) - set(DEFAULTS) - OTHER_KEYS
    if unknown:
        raise TracingConfigError(f"{path}: unknown [{TABLE}] keys {sorted(unknown)}; known keys are "
                                 f"{sorted(set(DEFAULTS) | OTHER_KEYS)}")
    for key, value in table.items():
        if not isinstance(value, str) or not value.strip():
            raise TracingConfigError(f"{path}: [{TABLE}] {key} must be a non-empty string, got {value!r}")
    _CACHE[path] = (mtime, table)
    return table


def project_path(key: str, root: Path | None = None) -> Path:
    """The place ``key`` (one of :data:`DEFAULTS`) of the project: ``[tool.evalharness]`` or the default,
    relative to the project root."""
    root = root or project_root()
    return resolve(settings(root).get(key, DEFAULTS[key]), root)


def resolve(path: str | os.PathLike[str], root: Path | None = None) -> Path:
    """``path`` itself when absolute (``~`` expanded), else relative to the project root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (root or project_root()) / p


def how_to_set(key: str, root: Path | None = None) -> str:
    """The sentence an error about a missing file ends with: where the place comes from and how to set it."""
    root = root or project_root()
    return f"set {key} in [{TABLE}] of {root / 'pyproject.toml'} (paths are relative to the project root {root})"
