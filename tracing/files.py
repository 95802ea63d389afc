"""Files and folders that only their owner can read (prompts, replies, labels are personal data).

Every writer of the harness that holds such text creates it through these helpers, whatever the umask:

* :func:`private_dir` creates the missing folders of a path as 0700 (folders that exist are left as they are:
  they are the user's, such as the project root);
* :func:`private_file` creates a file as 0600 (an existing one is set to 0600), for writers that open it
  themselves (an append-only log, a SQLite database, pytest's JUnit XML);
* :func:`write_private_text` writes a whole file atomically (readers never see half a file) as 0600;
* :func:`private_sqlite` is :func:`private_file` for a SQLite database: SQLite creates its ``-wal``, ``-shm``
  and ``-journal`` files with the database file's mode, so they are 0600 too (ones left by an older version
  are set to 0600).
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700

__all__ = ["DIR_MODE", "FILE_MODE", "private_dir", "private_file", "private_sqlite", "write_private_text"]


def private_dir(path: str | os.PathLike[str]) -> Path:
    """``path`` as a folder, its missing levels created 0700; returns it."""
    p = Path(path)
    missing: list[Path] = []
    q = p
    while not q.exists():
        missing.append(q)
        if q.parent == q:
            break
        q = q.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, DIR_MODE)
        except FileExistsError:  # another process made it in between: it is theirs to have set
            continue
        os.chmod(d, DIR_MODE)  # os.mkdir's mode is masked by the umask
    return p


def private_file(path: str | os.PathLike[str]) -> Path:
    """``path`` created empty as 0600 (its folder as :func:`private_dir`), or set to 0600 when it exists."""
    p = Path(path)
    private_dir(p.parent)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return p


def private_sqlite(path: str | os.PathLike[str]) -> Path:
    """A SQLite database file as :func:`private_file`, and its side files that exist set to 0600."""
    p = private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        side = p.with_name(p.name + suffix)
        try:
            os.chmod(side, FILE_MODE)
        except FileNotFoundError:
            pass
    return p


def write_private_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically as a 0600 file (its folder as :func:`private_dir`)."""
    p = Path(path)
    private_dir(p.parent)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "w", encoding=encoding) as fh:
            os.fchmod(fh.fileno(), FILE_MODE)
            fh.write(text)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(p)
    return p
