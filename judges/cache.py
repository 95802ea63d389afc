"""Persistent cache of model calls in SQLite (WAL), keyed by provider, model and the whole request.

Every successful call is committed as it returns, so a run killed half-way resumes from here and an
unchanged rerun makes no model calls. Safe across threads and processes (pytest -n): one connection
per thread, WAL journal, a busy timeout.

Retention: the cache keeps whole prompts (which may hold personal data). ``max_age_days`` (argument, else
``EVALHARNESS_CACHE_MAX_AGE_DAYS``; unset keeps entries forever) deletes older entries when the cache is
opened, and an entry older than that is a miss even in a long-running process. Prune by hand, or from
cron, with ``python -m judges.cache prune --max-age-days 30 [--path .evalharness/cache.sqlite]``;
``python -m judges.cache clear`` deletes every entry.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from judges.errors import JudgeConfigError
from judges.types import Completion, ModelRequest
from tracing.files import private_sqlite
from tracing.project import project_path, resolve

MAX_AGE_ENV = "EVALHARNESS_CACHE_MAX_AGE_DAYS"
#: the default cache, ``cache.sqlite`` in the project's ``[tool.evalharness] cache_dir`` (see :func:`cache_path`)
DEFAULT_PATH = ".evalharness/cache.sqlite"


def cache_path(path: str | os.PathLike[str] = DEFAULT_PATH) -> Path:
    """Where the cache file is: the default in the project's cache folder (``[tool.evalharness] cache_dir``,
    default ``.evalharness``), any other relative path from the project root; never from the working directory."""
    if str(path) == DEFAULT_PATH:
        return project_path("cache_dir") / "cache.sqlite"
    return resolve(path)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    key TEXT PRIMARY KEY,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    completion TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def _max_age_from_env() -> float | None:
    raw = os.environ.get(MAX_AGE_ENV, "").strip()
    if not raw:
        return None
    try:
        days = float(raw)
    except ValueError:
        days = math.nan
    if not (math.isfinite(days) and days > 0):
        raise JudgeConfigError(
            f"{MAX_AGE_ENV}={raw!r} must be a positive number of days (e.g. 30); unset keeps all"
        )
    return days


def enable_wal(conn: sqlite3.Connection, *, timeout_s: float) -> None:
    """Switch ``conn``'s database to WAL, retrying while another process holds the lock.

    Switching the journal mode needs an exclusive lock and SQLite answers "database is locked" at once,
    without calling its busy handler, when another process opens the same fresh file at that moment
    (two pytest-xdist workers sharing one cache: seen as 1 run in 6 with 2 workers).
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)


class CallCache:
    """A key-value store of completions; ``get`` returns None on a miss (or on an entry past ``max_age_days``)."""

    def __init__(
        self,
        path: str | Path,
        *,
        max_age_days: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        private_sqlite(self.path)  # 0600, and so its -wal/-shm: whole prompts and replies (folders made 0700)
        if max_age_days is None:
            max_age_days = _max_age_from_env()
        elif not (math.isfinite(max_age_days) and max_age_days > 0):
            raise JudgeConfigError(f"max_age_days must be a positive number of days, got {max_age_days!r}")
        self.max_age_days = max_age_days
        self._clock = clock
        self._local = threading.local()
        self._conn()  # create the schema now, so a bad path fails early and clearly
        #: entries deleted because they were past ``max_age_days`` when the cache was opened
        self.pruned_on_open = self.prune()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            enable_wal(conn, timeout_s=30.0)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._local.conn = conn
        return conn

    def _oldest_kept(self) -> float:
        return -math.inf if self.max_age_days is None else self._clock() - self.max_age_days * 86400.0

    def get(self, key: str) -> Completion | None:
        row = (
            self._conn()
            .execute(
                "SELECT completion FROM calls WHERE key = ? AND created >= ?", (key, self._oldest_kept())
            )
            .fetchone()
        )
        return Completion.from_dict(json.loads(row[0]), cached=True) if row else None

    def put(self, key: str, request: ModelRequest, completion: Completion) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO calls (key, provider, model, request, completion, created) VALUES (?, ?, ?, ?, ?, ?)",
            (
                key,
                completion.provider,
                completion.model,
                json.dumps(request.to_dict()),
                json.dumps(completion.to_dict()),
                self._clock(),
            ),
        )

    def prune(self, max_age_days: float | None = None) -> int:
        """Delete entries older than ``max_age_days`` (default: the cache's own); returns how many."""
        days = self.max_age_days if max_age_days is None else max_age_days
        if days is None:
            return 0
        cur = self._conn().execute("DELETE FROM calls WHERE created < ?", (self._clock() - days * 86400.0,))
        return int(cur.rowcount)

    def clear(self) -> int:
        """Delete every entry; returns how many."""
        return int(self._conn().execute("DELETE FROM calls").rowcount)

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m judges.cache prune --max-age-days N`` or ``clear``; exit 2 on bad input."""
    parser = argparse.ArgumentParser(
        prog="python -m judges.cache", description="Prune or clear the judges' model-call cache."
    )
    parser.add_argument("command", choices=["prune", "clear"])
    parser.add_argument(
        "--path",
        default=os.environ.get("EVALHARNESS_CACHE") or DEFAULT_PATH,
        help="the cache file, relative to the project root (default $EVALHARNESS_CACHE, else cache.sqlite in "
        "[tool.evalharness] cache_dir, .evalharness)",
    )
    parser.add_argument("--max-age-days", type=float, default=None, help=f"prune: default ${MAX_AGE_ENV}")
    args = parser.parse_args(argv)
    args.path = cache_path(args.path)
    if not args.path.is_file():
        print(f"error: no cache at {args.path}; pass --path", file=sys.stderr)
        return 2
    try:
        cache = CallCache(args.path, max_age_days=args.max_age_days)
        if args.command == "clear":
            n = cache.clear()
        elif cache.max_age_days is None:
            print(f"error: prune needs --max-age-days or ${MAX_AGE_ENV}", file=sys.stderr)
            return 2
        else:
            n = cache.pruned_on_open
    except JudgeConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.command}: {n} entries deleted from {args.path}; {len(cache)} left")
    return 0


if __name__ == "__main__":
    sys.exit(main())
