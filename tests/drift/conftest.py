"""Shared fixtures for drift tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from drift_logs import make_log_rows, write_jsonl


@pytest.fixture
def log_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(reference, same-distribution current, shifted current) JSONL files of 1500 rows each."""
    ref = write_jsonl(tmp_path / "reference.jsonl", make_log_rows(1500, seed=1))
    same = write_jsonl(tmp_path / "current_same.jsonl", make_log_rows(1500, seed=2, start="2026-01-03T00:00:00Z"))
    shifted = write_jsonl(tmp_path / "current_shifted.jsonl",
                          make_log_rows(1500, seed=3, shift=True, start="2026-01-03T00:00:00Z"))
    return ref, same, shifted
