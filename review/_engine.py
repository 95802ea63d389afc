"""Opening the store's database: SQLite in WAL mode with a fair write-lock wait, or any SQLAlchemy URL."""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from judges.cache import enable_wal
from tracing.files import private_sqlite

from .errors import ConfigError

_BUSY_TIMEOUT_MS = 30_000
_READ_BUSY_TIMEOUT_MS = 5_000


def engine_for(target: str | Path, synchronous: str) -> Engine:
    text = str(target)
    if "://" not in text:
        path = Path(text).expanduser().resolve()
        private_sqlite(path)  # 0600, and so its -wal/-shm (SQLite gives them the file's mode); folders 0700
        text = f"sqlite:///{path}"
    try:
        engine = sa.create_engine(text)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise ConfigError(
            f"review store URL {target!r} is not usable ({exc}); pass a file path for SQLite "
            "or a SQLAlchemy URL such as postgresql+psycopg://user@host/db"
        ) from exc
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine, synchronous)
    return engine


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how a transaction starts (pysqlite would defer it).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # Short: it only covers the rare busy reads in WAL mode; writers wait in _on_begin.
        cur.execute(f"PRAGMA busy_timeout={_READ_BUSY_TIMEOUT_MS}")
        enable_wal(dbapi_conn, timeout_s=_BUSY_TIMEOUT_MS / 1000)
        # FULL: a committed label survives a power cut, not only a crashed process (NORMAL's promise).
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front: a read-then-write transaction cannot deadlock on
        # lock upgrade. Waiting for the lock is done here with short random sleeps rather than by
        # SQLite's busy handler, whose back-off grows to 100 ms sleeps and starves some writers
        # (measured: p99 claim+submit 690 ms -> see bench/review_store.py with 8 processes).
        dbapi_conn: Any = conn.connection.dbapi_connection
        deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
        dbapi_conn.execute("PRAGMA busy_timeout=0")
        try:
            while True:
                try:
                    dbapi_conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(random.uniform(0.0001, 0.002))
        finally:
            dbapi_conn.execute(f"PRAGMA busy_timeout={_READ_BUSY_TIMEOUT_MS}")


def dialect_insert(engine: Engine) -> Callable[..., Any]:
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    raise ConfigError(f"review store supports SQLite and Postgres, not {engine.dialect.name!r}")


def serialize(conn: Connection, key: str) -> None:
    """Hold a lock named ``key`` until the transaction ends (Postgres); SQLite's writers are serial already."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
