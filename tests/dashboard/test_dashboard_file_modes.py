"""Issue 23, finding 6: the review store (with its -wal/-shm), exports and the call cache are 0600 in 0700 folders."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_dashboard_export import RECORDS

from judges import Completion, ModelRequest
from judges.cache import CallCache
from review import NewItem, ReviewStore, write_golden
from review.export import write_fewshot


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_review_store_and_its_side_files_are_0600(tmp_path: Path, umask_022) -> None:
    db = tmp_path / "state" / "review.sqlite"
    store = ReviewStore(db)
    store.add_items([NewItem(queue="q", source_id="s1", input="from bob@corp.com", output="ok")])
    sides = [p for p in db.parent.iterdir() if p.name.startswith("review.sqlite-")]
    assert sides, "WAL mode keeps -wal/-shm beside the store while it is open"
    assert {p.name: mode(p) for p in [db, *sides]} == {p.name: 0o600 for p in [db, *sides]}
    assert mode(db.parent) == 0o700
    store.close()


def test_the_call_cache_is_0600(tmp_path: Path, umask_022) -> None:
    cache = CallCache(tmp_path / ".evalharness" / "cache.sqlite")
    cache.put("k", ModelRequest([{"role": "user", "content": "a whole prompt"}]), Completion(text="the whole reply", provider="fake", model="m"))
    files = list((tmp_path / ".evalharness").iterdir())
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files} and len(files) >= 1
    assert mode(tmp_path / ".evalharness") == 0o700


def test_exports_are_0600(tmp_path: Path, umask_022) -> None:
    paths = [*write_golden(RECORDS, tmp_path / "datasets").values(),
             *write_fewshot(RECORDS, tmp_path / "datasets", k=2).values()]
    assert paths
    for p in paths:
        assert mode(p) == 0o600, p
        assert mode(p.parent) == 0o700, p.parent
