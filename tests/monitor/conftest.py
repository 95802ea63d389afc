"""Fixtures for the monitor tests: the real Phoenix of the tracing tests (imported, not copied)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

# tests/ is not a package, so the tracing tests' conftest is loaded by path under a name of its own.
_spec = importlib.util.spec_from_file_location(
    "tracing_tests_conftest", Path(__file__).resolve().parents[1] / "tracing" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_tracing = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_tracing)

phoenix = _tracing.phoenix
phoenix_client = _tracing.phoenix_client
project = _tracing.project
