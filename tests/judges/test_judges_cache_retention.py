"""The call cache's retention: entries past max_age_days are pruned on open, missed when read, and by command."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from judges.cache import CallCache, main
from judges.errors import JudgeConfigError
from judges.types import Completion, ModelRequest

DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _put(cache: CallCache, key: str) -> None:
    req = ModelRequest([{"role": "user", "content": f"prompt with personal data {key}"}])
    cache.put(key, req, Completion(text=f"reply {key}", provider="fake", model="m"))


def test_entries_older_than_max_age_are_pruned_on_open_and_missed(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "cache.sqlite"
    cache = CallCache(path, clock=clock)  # no retention: kept forever
    _put(cache, "old")
    clock.now += 20 * DAY
    _put(cache, "new")
    clock.now += 20 * DAY
    assert cache.get("old") is not None and len(cache) == 2
    cache.close()

    kept = CallCache(path, max_age_days=30, clock=clock)  # "old" is 40 days old, "new" 20
    assert kept.pruned_on_open == 1 and len(kept) == 1
    assert kept.get("old") is None and kept.get("new") is not None
    clock.now += 11 * DAY  # a long-running process: "new" passes 30 days while the cache is open
    assert kept.get("new") is None
    assert kept.prune() == 1 and len(kept) == 0
    kept.close()


def test_retention_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    cache = CallCache(tmp_path / "c.sqlite", clock=clock)
    _put(cache, "a")
    cache.close()
    clock.now += 3 * DAY
    monkeypatch.setenv("EVALHARNESS_CACHE_MAX_AGE_DAYS", "2")
    reopened = CallCache(tmp_path / "c.sqlite", clock=clock)
    assert reopened.max_age_days == 2 and reopened.pruned_on_open == 1
    reopened.close()
    monkeypatch.setenv("EVALHARNESS_CACHE_MAX_AGE_DAYS", "forever")
    with pytest.raises(JudgeConfigError, match="EVALHARNESS_CACHE_MAX_AGE_DAYS='forever'"):
        CallCache(tmp_path / "c.sqlite")
    with pytest.raises(JudgeConfigError, match="positive"):
        CallCache(tmp_path / "c.sqlite", max_age_days=0)


def test_prune_and_clear_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EVALHARNESS_CACHE_MAX_AGE_DAYS", raising=False)
    path = tmp_path / "cache.sqlite"
    clock = Clock()
    clock.now = time.time() - 10 * DAY  # written 10 days before the real clock the command uses
    cache = CallCache(path, clock=clock)
    _put(cache, "a")
    _put(cache, "b")
    cache.close()
    assert main(["prune", "--path", str(path)]) == 2  # no age given
    assert main(["prune", "--path", str(path), "--max-age-days", "5"]) == 0
    assert "prune: 2 entries deleted" in capsys.readouterr().out
    _put(CallCache(path), "c")
    assert main(["clear", "--path", str(path)]) == 0
    assert "clear: 1 entries deleted" in capsys.readouterr().out and len(CallCache(path)) == 0
    assert main(["prune", "--path", str(tmp_path / "missing.sqlite"), "--max-age-days", "1"]) == 2


def test_opening_a_cache_waits_for_another_process_that_holds_the_lock(tmp_path) -> None:
    """Two xdist workers open one fresh cache file: the WAL switch is retried, not a "database is locked"."""
    import sqlite3
    import threading

    from judges.cache import enable_wal

    path = tmp_path / "cache.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")  # what the other process holds while it sets up the file
    other = sqlite3.connect(path, timeout=0.0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("PRAGMA journal_mode=WAL")  # the failure a bare PRAGMA gave before the retry
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enable_wal(other, timeout_s=0.05)  # gives up when the lock outlives the timeout
    threading.Timer(0.2, holder.execute, args=("COMMIT",)).start()
    enable_wal(other, timeout_s=5.0)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert CallCache(path).get("no such key") is None  # and the cache opens on it
