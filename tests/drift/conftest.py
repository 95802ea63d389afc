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


@pytest.fixture(scope="session")
def spark():
    """One real local Spark for every Spark test (local[1], UI off, two shuffle partitions, the fast-start JVM
    flags); skipped with the reason when pyspark or Java is missing. Tests using it are marked slow."""
    pytest.importorskip("pyspark", reason="pyspark is not installed: pip install 'evalharness[spark]'")
    from drift.errors import MissingDependencyError
    from drift.spark_backend import check_java, spark_session

    try:
        check_java()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    session = spark_session("local[1]", app_name="drift-tests", conf={"spark.sql.shuffle.partitions": "2",
                                                                      "spark.default.parallelism": "1"})
    yield session
    session.stop()
