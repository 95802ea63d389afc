"""Durable run state: the checkpoint per source, and the lock that keeps two runs from overlapping.

The checkpoint is a watermark: every row of the source timestamped before it has been judged (or was
not sampled, or was malformed and counted) and written back. It is replaced atomically (write, fsync,
rename), so a run killed at any instant leaves the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from monitor.errors import LockedError, MonitorError

__all__ = ["Checkpoint", "RunLock", "StateFile"]


@dataclass(frozen=True)
class Checkpoint:
    """Where the next run starts for one source: ``watermark`` for judging, ``queued_until`` for the queue."""

    source: str
    watermark: datetime | None = None
    queued_until: datetime | None = None
    run_id: str | None = None
    updated: datetime | None = None

    def advanced(self, *, run_id: str, watermark: datetime | None = None,
                 queued_until: datetime | None = None) -> Checkpoint:
        """A copy with the given marks moved forward (a mark never moves back)."""
        def later(old: datetime | None, new: datetime | None) -> datetime | None:
            return old if new is None or (old is not None and old >= new) else new

        return replace(self, watermark=later(self.watermark, watermark),
                       queued_until=later(self.queued_until, queued_until),
                       run_id=run_id, updated=datetime.now(UTC))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


class StateFile:
    """``<state_dir>/checkpoint.json``: one :class:`Checkpoint` per source name."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _all(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as exc:  # cannot happen through save(); a hand edit gone wrong
            raise MonitorError(f"{self.path} is not valid JSON ({exc}); fix it or delete it to start over") from exc
        return data.get("sources", {}) if isinstance(data, dict) else {}

    def load(self, source: str) -> Checkpoint:
        """The checkpoint of ``source`` (empty before its first run)."""
        entry = self._all().get(source) or {}
        return Checkpoint(source, _parse(entry.get("watermark")), _parse(entry.get("queued_until")),
                          entry.get("run_id"), _parse(entry.get("updated")))

    def save(self, checkpoint: Checkpoint) -> None:
        """Replace the file atomically with ``checkpoint`` stored under its source."""
        sources = self._all()
        sources[checkpoint.source] = {
            "watermark": _iso(checkpoint.watermark),
            "queued_until": _iso(checkpoint.queued_until),
            "run_id": checkpoint.run_id,
            "updated": _iso(checkpoint.updated),
        }
        write_atomic(self.path, json.dumps({"sources": sources}, indent=2).encode())


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class RunLock:
    """An exclusive ``flock`` on ``<state_dir>/monitor.lock`` for the length of a run.

    The kernel drops the lock when the process dies, so a killed run never leaves a stale lock.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fh: IO[str] | None = None

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")  # held open (and locked) for the whole run
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise LockedError(f"another monitor run holds {self.path} ({holder}); two runs must not overlap — "
                              "wait for it, or lengthen the schedule's interval") from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "started": datetime.now(UTC).isoformat(timespec="seconds")}))
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
