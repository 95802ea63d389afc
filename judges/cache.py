"""Persistent cache of model calls in SQLite (WAL), keyed by provider, model and the whole request.

Every successful call is committed as it returns, so a run killed half-way resumes from here and an
unchanged rerun makes no model calls. Safe across threads and processes (pytest -n): one connection
per thread, WAL journal, a busy timeout.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

from judges.types import Completion, ModelRequest

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


class CallCache:
    """A key-value store of completions; ``get`` returns None on a miss."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conn()  # create the schema now, so a bad path fails early and clearly

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._local.conn = conn
        return conn

    def get(self, key: str) -> Completion | None:
        row = self._conn().execute("SELECT completion FROM calls WHERE key = ?", (key,)).fetchone()
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
                time.time(),
            ),
        )

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM calls").fetchone()[0])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
