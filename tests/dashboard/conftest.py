"""Fixtures for the dashboard tests: a real SQLite store with a controllable clock, users, sample items."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_helpers import PASSWORDS, FakeClock, sample_items

from dashboard import add_user
from review import ReviewStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[ReviewStore]:
    s = ReviewStore(tmp_path / "review.sqlite", lease_seconds=60, clock=clock)
    yield s
    s.close()


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.toml"
    add_user(path, "alice", PASSWORDS["alice"], role="admin")
    add_user(path, "bob", PASSWORDS["bob"], role="reviewer")
    add_user(path, "carol", PASSWORDS["carol"], role="reviewer")
    return path


@pytest.fixture
def app_env(tmp_path: Path, users_file: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Environment for the Streamlit app: a filled store and the users file."""
    db = tmp_path / "app.sqlite"
    s = ReviewStore(db)
    s.add_items(sample_items(4))
    s.add_items(sample_items(2, queue="calibration", overlap=2, start=100))
    s.close()
    monkeypatch.setenv("EVALHARNESS_REVIEW_DB", str(db))
    monkeypatch.setenv("EVALHARNESS_USERS", str(users_file))
    monkeypatch.setenv("EVALHARNESS_DATASETS", str(tmp_path / "datasets"))
    return {"db": db, "users": users_file, "datasets": tmp_path / "datasets"}
