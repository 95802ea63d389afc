"""Delete one end user's data: production-log rows, review items and results-file cases, by user or session id.

``python -m dashboard purge --user-id U [--session-id S] --prod-log logs/prod.jsonl --results-dir results``.
A row is the user's when its ``user_id`` / ``user.id`` is one of the user ids or its ``session_id`` /
``session.id`` one of the session ids, at the top level or inside its ``metadata``. Files are rewritten
atomically (a temporary file beside them, then a rename): a reader sees the old file or the new one.

What is removed where:

* **production log** (JSONL): the user's lines. Lines that are not JSON objects cannot be attributed; they
  are kept and counted, so the caller can look at them.
* **review store**: the user's items (production audit items keep the log row in ``meta``) with their
  slots, labels, skips and audit rows; one ``purge`` audit row records the counts (not the ids). A SQLite
  store is then compacted (``VACUUM``), so the deleted text does not linger in free pages or the WAL;
  on Postgres, run ``VACUUM`` yourself.
* **results files** (``*.json`` run records under the folder): the user's cases (``CaseRecord.metadata``).
  A suite's aggregates stay as computed; they hold no row of the user. Files that are not run records are
  left alone and listed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from ._schema import audit, items, labels, passes, slots
from .errors import ConfigError
from .store import ReviewStore

__all__ = ["PurgeReport", "Who", "purge_log", "purge_results", "purge_store"]

_USER_KEYS = ("user_id", "user.id")
_SESSION_KEYS = ("session_id", "session.id")


@dataclass(frozen=True)
class Who:
    """The ids whose rows go: any user id or any session id matches."""

    user_ids: frozenset[str] = frozenset()
    session_ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.user_ids and not self.session_ids:
            raise ConfigError("purge needs at least one --user-id or --session-id")
        if any(not str(v).strip() for v in (*self.user_ids, *self.session_ids)):
            raise ConfigError("purge ids must not be empty strings")

    def matches(self, row: Mapping[str, Any]) -> bool:
        """Whether ``row`` (a log row, an item's meta, a case's metadata) belongs to these ids."""
        for scope in (row, row.get("metadata")):
            if not isinstance(scope, Mapping):
                continue
            if any(_text(scope.get(k)) in self.user_ids for k in _USER_KEYS):
                return True
            if any(_text(scope.get(k)) in self.session_ids for k in _SESSION_KEYS):
                return True
        return False


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass
class PurgeReport:
    """What a purge removed, per file and in the store, and what it could not judge."""

    log_rows: dict[str, int] = field(default_factory=dict)
    unreadable_lines: dict[str, int] = field(default_factory=dict)
    results_cases: dict[str, int] = field(default_factory=dict)
    skipped_files: list[str] = field(default_factory=list)
    review_items: int = 0
    review_labels: int = 0
    store_purged: bool = False
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The report as lines for the CLI."""
        out = [f"production log {p}: {n} row(s) removed" for p, n in self.log_rows.items()]
        out += [
            f"production log {p}: {n} line(s) are not JSON objects and were kept; check them by hand"
            for p, n in self.unreadable_lines.items()
            if n
        ]
        if self.store_purged:
            out.append(f"review store: {self.review_items} item(s) and {self.review_labels} label(s) removed")
        else:
            out.append("review store: not purged (--no-store, or no store at --db)")
        out += [f"results {p}: {n} case(s) removed" for p, n in self.results_cases.items()]
        out += [f"results {p}: not a run record, left alone" for p in self.skipped_files]
        return out + self.notes


def _replace_atomically(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o777
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".purge")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def purge_log(path: str | os.PathLike[str], who: Who, report: PurgeReport | None = None) -> int:
    """Remove ``who``'s rows from a JSONL production log; returns how many.

    If the log grows while it is being rewritten (the app appending), the new lines are read too before
    the rename, so an append is not lost (stop the app, or purge rotated logs, to rule out the last race).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"production log {path} does not exist")
    for _ in range(10):
        size = path.stat().st_size
        kept: list[str] = []
        removed = unreadable = 0
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    row = None
                if not isinstance(row, dict):
                    unreadable += 1
                    kept.append(line if line.endswith("\n") else line + "\n")
                elif who.matches(row):
                    removed += 1
                else:
                    kept.append(line if line.endswith("\n") else line + "\n")
        if path.stat().st_size != size:
            continue  # appended meanwhile: read again
        if removed:
            _replace_atomically(path, "".join(kept))
        if report is not None:
            report.log_rows[str(path)] = removed
            report.unreadable_lines[str(path)] = unreadable
        return removed
    raise ConfigError(f"production log {path} kept growing during the purge; stop the app and run it again")


def purge_results(folder: str | os.PathLike[str], who: Who, report: PurgeReport | None = None) -> int:
    """Remove ``who``'s cases from every run record (``*.json``, recursively) under ``folder``; returns how many."""
    from experiments.errors import ResultsError
    from experiments.record import load_run, write_run

    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"results folder {folder} does not exist")
    total = 0
    for path in sorted(folder.rglob("*.json")):
        try:
            run = load_run(path)
        except ResultsError:
            if report is not None:
                report.skipped_files.append(str(path))
            continue
        removed = 0
        suites = []
        for suite in run.suites:
            cases = [c for c in suite.cases if not who.matches(c.metadata)]
            removed += len(suite.cases) - len(cases)
            suites.append(
                suite.model_copy(update={"cases": cases}) if len(cases) < len(suite.cases) else suite
            )
        if removed:
            write_run(run.model_copy(update={"suites": suites}), path)
        if report is not None:
            report.results_cases[str(path)] = removed
        total += removed
    return total


def purge_store(
    store: ReviewStore, who: Who, *, actor: str = "purge", report: PurgeReport | None = None
) -> tuple[int, int]:
    """Delete ``who``'s review items with their slots, labels, skips and audit rows; returns (items, labels)."""
    with store.engine.begin() as conn:
        ids = [
            r.id for r in conn.execute(select(items.c.id, items.c.meta)) if who.matches(json.loads(r.meta))
        ]
        n_labels = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            n_labels += conn.execute(delete(labels).where(labels.c.item_id.in_(chunk))).rowcount
            conn.execute(delete(passes).where(passes.c.item_id.in_(chunk)))
            conn.execute(delete(slots).where(slots.c.item_id.in_(chunk)))
            conn.execute(delete(audit).where(audit.c.item_id.in_(chunk)))
            conn.execute(delete(items).where(items.c.id.in_(chunk)))
        if ids:
            conn.execute(
                audit.insert(),
                {
                    "ts": time.time(),
                    "actor": actor,
                    "action": "purge",
                    "item_id": None,
                    "slot_id": None,
                    "detail": json.dumps({"items": len(ids), "labels": n_labels}),
                },
            )
    if ids and store.engine.dialect.name == "sqlite":
        _vacuum(store, report)
    if report is not None:
        report.store_purged = True
        report.review_items += len(ids)
        report.review_labels += n_labels
    return len(ids), n_labels


def _vacuum(store: ReviewStore, report: PurgeReport | None) -> None:
    # Deleted rows stay readable in SQLite's free pages and its WAL until the file is rebuilt.
    raw = store.engine.raw_connection()
    try:
        sqlite_conn: Any = raw.driver_connection
        for sql in ("PRAGMA wal_checkpoint(TRUNCATE)", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"):
            sqlite_conn.execute(sql)
    except sqlite3.OperationalError as exc:  # another process holds the database: say so, do not fail
        if report is not None:
            report.notes.append(
                f"review store not compacted ({exc}); run VACUUM when the dashboard is stopped"
            )
    finally:
        raw.close()


def purge(
    who: Who,
    *,
    store: ReviewStore | None = None,
    prod_logs: Collection[str | os.PathLike[str]] = (),
    results_dirs: Collection[str | os.PathLike[str]] = (),
) -> PurgeReport:
    """Purge ``who`` from every place given; the CLI's ``purge`` command."""
    report = PurgeReport()
    for path in prod_logs:
        purge_log(path, who, report)
    if store is not None:
        purge_store(store, who, report=report)
    for folder in results_dirs:
        purge_results(folder, who, report)
    return report
