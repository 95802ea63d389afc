"""A throwaway local PostgreSQL cluster for development and tests: ``python -m tracing.pg_cluster start|stop|status``.

:class:`PostgresCluster` runs ``initdb`` into a folder (a new temporary one by default), starts the
server with ``pg_ctl`` on a free 127.0.0.1 port (TCP only, no Unix socket; ``fsync``, synchronous
commit and full-page writes off: fast, and not crash-safe, which a throwaway cluster need not be),
and on exit stops it by ``pg_ctl stop`` (then by PID if that fails) and deletes the folder::

    from tracing.pg_cluster import PostgresCluster

    with PostgresCluster() as pg:
        print(pg.url)  # postgresql://postgres@127.0.0.1:<port>/postgres
        pg.create_database("phoenix")

Authentication is ``trust`` for the superuser ``postgres``: anything on this machine can connect,
so keep such a cluster for throwaway data. Postgres refuses to run as root; when run as root the
server runs as the ``postgres`` system user (through ``runuser``), which then owns the folder.

Binaries: ``bin_dir``, else ``$EVALHARNESS_PG_BIN``, else the newest ``/usr/lib/postgresql/*/bin``,
else ``pg_ctl`` on ``PATH``. Missing binaries raise :class:`PostgresClusterError` naming the fix
(``apt-get install postgresql``).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from tracing.errors import TracingError
from tracing.phoenix_server import _pid_alive, free_port

PG_BIN_ENV = "EVALHARNESS_PG_BIN"
STATE_FILE = "cluster.json"
LOG_FILE = "postgres.log"
SERVER_USER = "postgres"  # the system user the server runs as when we are root
SUPERUSER = "postgres"  # the database superuser initdb creates


class PostgresClusterError(TracingError):
    """A throwaway PostgreSQL cluster could not be found, created, started or stopped."""


def find_pg_bin(bin_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``createdb``; raises with the install command if none."""
    tried: list[str] = []
    candidates: list[Path] = []
    for chosen, origin in ((bin_dir, "bin_dir"), (os.environ.get(PG_BIN_ENV), f"${PG_BIN_ENV}")):
        if chosen:
            folder = Path(chosen)
            if not all((folder / exe).exists() for exe in ("initdb", "pg_ctl", "createdb")):
                raise PostgresClusterError(
                    f"{origin}={str(chosen)!r} holds no initdb/pg_ctl/createdb; point it at PostgreSQL's "
                    "bin folder (e.g. /usr/lib/postgresql/15/bin) or install the server: apt-get install postgresql"
                )
            return folder
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else -1,
    )
    candidates += [p.parent for p in reversed(versions)]
    tried.append("/usr/lib/postgresql/*/bin")
    if which := shutil.which("pg_ctl"):
        candidates.append(Path(which).parent)
    tried.append("PATH")
    for folder in candidates:
        if all((folder / exe).exists() for exe in ("initdb", "pg_ctl", "createdb")):
            return folder
    raise PostgresClusterError(
        f"no PostgreSQL server binaries (initdb, pg_ctl) in {' or '.join(tried)}; install them with "
        f"`apt-get install postgresql` (Debian/Ubuntu) or set {PG_BIN_ENV} to their folder"
    )


def _as_server_user() -> list[str]:
    """The command prefix that runs a program as the server user: empty unless we are root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresClusterError(
            f"running as root, and Postgres refuses to run as root, but there is no {SERVER_USER!r} user "
            f"to run it as; `apt-get install postgresql` creates it, or run as an unprivileged user"
        ) from None
    if shutil.which("runuser") is None:
        raise PostgresClusterError(
            "running as root without `runuser` (util-linux) to start Postgres as the postgres user; "
            "install util-linux or run as an unprivileged user"
        )
    return ["runuser", "-u", SERVER_USER, "--"]


class PostgresCluster:
    """A private PostgreSQL server in ``directory`` (a fresh temporary folder by default) on 127.0.0.1.

    ``start()`` creates the cluster if the folder holds none and starts it (waiting until it accepts
    connections); ``stop()`` stops it and, unless ``keep=True``, deletes the cluster's files and then
    the folder if nothing else is in it. As a context manager it does both. ``port=None`` picks a free port.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str] | None = None,
        *,
        port: int | None = None,
        bin_dir: str | os.PathLike[str] | None = None,
        keep: bool = False,
        max_connections: int = 100,
        timeout_s: float = 120.0,
    ) -> None:
        if port is not None and not (0 < port < 65536):
            raise PostgresClusterError(
                f"port {port!r} is not a TCP port; pass 1-65535, or None for a free one"
            )
        self.bin_dir = find_pg_bin(bin_dir)
        self._chosen_dir = Path(directory).resolve() if directory is not None else None
        self.directory: Path | None = self._chosen_dir
        self.port: int | None = port
        self.keep = keep
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        self.pid: int | None = None
        self._as_user = _as_server_user()

    # -- what callers use -------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:<port>/postgres`` (libpq form; Phoenix and psycopg take it)."""
        return self.database_url(SUPERUSER)

    def database_url(self, database: str, driver: str | None = None) -> str:
        """The URL of ``database`` on this cluster; ``driver="psycopg"`` gives SQLAlchemy's ``postgresql+psycopg://``."""
        if self.port is None:
            raise PostgresClusterError(
                "the cluster is not started; call start() or use it as a context manager"
            )
        scheme = "postgresql" if driver is None else f"postgresql+{driver}"
        return f"{scheme}://{SUPERUSER}@{self.host}:{self.port}/{database}"

    @property
    def data_dir(self) -> Path:
        return self._dir() / "data"

    @property
    def log_path(self) -> Path:
        return self._dir() / LOG_FILE

    def create_database(self, name: str) -> str:
        """Create database ``name`` (``createdb``) and return its URL."""
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise PostgresClusterError(
                f"database name {name!r} must be letters, digits, '_' or '-'; choose e.g. 'phoenix'"
            )
        self._run(
            [str(self.bin_dir / "createdb"), "-h", self.host, "-p", str(self.port), "-U", SUPERUSER, name],
            as_user=False,
            what=f"create database {name!r}",
        )
        return self.database_url(name)

    def is_running(self) -> bool:
        return self.pid is not None and _pid_alive(self.pid)

    # -- life cycle -------------------------------------------------------------------------------
    def start(self) -> Self:
        """Create the cluster if needed and start it; raises :class:`PostgresClusterError` with the log's tail."""
        if self.directory is None:
            self.directory = Path(tempfile.mkdtemp(prefix="evalharness-pg-"))
            if self._as_user:
                self.directory.chmod(0o711)  # the server user may enter it, not list it
        if self._as_user:
            self._check_reachable_by_server_user(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._as_user:  # the server user owns only what it writes: the data folder and the log
            self.data_dir.mkdir(mode=0o700, exist_ok=True)
            self.log_path.touch()
            for path in (self.data_dir, self.log_path):
                shutil.chown(path, user=SERVER_USER)
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-A",
                    "trust",
                    "-U",
                    SUPERUSER,
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                what="initdb",
            )
        chosen_port = self.port
        for attempt in range(3):  # a free port can be taken between finding it and binding it
            self.port = chosen_port or free_port(self.host)
            opts = (
                f"-p {self.port} -c listen_addresses={self.host} -c unix_socket_directories='' "
                f"-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                f"-c max_connections={self.max_connections}"
            )
            try:
                self._run(
                    [
                        str(self.bin_dir / "pg_ctl"),
                        "-D",
                        str(self.data_dir),
                        "-o",
                        opts,
                        "-l",
                        str(self.log_path),
                        "-t",
                        str(int(self.timeout_s)),
                        "-w",
                        "start",
                    ],
                    what=f"start PostgreSQL on {self.host}:{self.port}",
                )
                break
            except PostgresClusterError:
                if chosen_port is not None or attempt == 2 or "in use" not in _tail(self.log_path, 5):
                    raise
        self.pid = self._read_pid()
        if self.pid is None:
            raise PostgresClusterError(f"PostgreSQL started but wrote no postmaster.pid in {self.data_dir}")
        (self._dir() / STATE_FILE).write_text(
            json.dumps({"pid": self.pid, "port": self.port, "url": self.url, "bin_dir": str(self.bin_dir)})
        )
        return self

    def stop(self, *, keep: bool | None = None) -> None:
        """Stop the server (``pg_ctl stop -m fast``, then SIGQUIT/SIGKILL by PID) and delete the folder unless kept."""
        if self.directory is None:
            return
        if self.data_dir.exists():
            subprocess.run(
                [
                    *self._as_user,
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "stop",
                ],
                check=False,
                capture_output=True,
                timeout=60,
            )
        pid = self.pid
        if pid is not None and _pid_alive(pid):
            for sig, wait_s in ((signal.SIGQUIT, 10.0), (signal.SIGKILL, 5.0)):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + wait_s
                while _pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if not _pid_alive(pid):
                    break
        self.pid = None
        (self._dir() / STATE_FILE).unlink(missing_ok=True)
        if not (self.keep if keep is None else keep):
            self.delete()

    def delete(self) -> None:
        """Delete the cluster's files (data, log, state) and its folder if that is then empty; stop it first."""
        if self.directory is None:
            return
        shutil.rmtree(self.data_dir, ignore_errors=True)
        for name in (LOG_FILE, STATE_FILE):
            (self.directory / name).unlink(missing_ok=True)
        try:
            self.directory.rmdir()  # only when empty: a folder the caller chose keeps anything else in it
        except OSError:
            pass
        self.directory = self._chosen_dir

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- helpers ----------------------------------------------------------------------------------
    def _dir(self) -> Path:
        if self.directory is None:
            raise PostgresClusterError("the cluster has no folder yet; call start() first")
        return self.directory

    def _read_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def _run(self, cmd: list[str], *, what: str, as_user: bool = True) -> None:
        full = [*self._as_user, *cmd] if as_user else cmd
        try:
            done = subprocess.run(
                full, check=False, capture_output=True, text=True, timeout=self.timeout_s + 30
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresClusterError(f"could not {what}: {exc}") from exc
        if done.returncode != 0:
            out = (done.stderr or done.stdout).strip()
            log = _tail(self.log_path) if self.directory is not None else ""
            raise PostgresClusterError(
                f"could not {what} (exit {done.returncode}): {out}"
                + (f"\nlast log lines:\n{log}" if log else "")
            )

    @staticmethod
    def _check_reachable_by_server_user(folder: Path) -> None:
        """As root, the postgres user must be able to enter every parent of ``folder``."""
        for parent in (folder, *folder.parents):
            if not parent.exists():
                continue  # created by us below, mode 0755 under the usual umask
            mode = parent.stat().st_mode
            if not mode & 0o001:
                raise PostgresClusterError(
                    f"the {SERVER_USER} user cannot enter {parent} (mode {oct(mode & 0o777)}), on the way to "
                    f"{folder}; choose a folder it can reach (e.g. --dir /tmp/evalharness-pg) or `chmod o+x {parent}`"
                )

    @classmethod
    def from_state(cls, directory: str | os.PathLike[str]) -> PostgresCluster | None:
        """The cluster that ``python -m tracing.pg_cluster start --dir`` left running in ``directory``, else None."""
        folder = Path(directory).resolve()
        try:
            info = json.loads((folder / STATE_FILE).read_text())
            pid, port, bin_dir = int(info["pid"]), int(info["port"]), info["bin_dir"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        cluster = cls(folder, port=port, bin_dir=bin_dir, keep=True)
        cluster.pid = pid
        return cluster if cluster.is_running() and cluster._read_pid() == pid else None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def default_dir() -> Path:
    """``<project root>/.evalharness/postgres`` (git-ignored), the CLI's folder."""
    from tracing.phoenix_server import project_root

    return project_root() / ".evalharness" / "postgres"


def main(argv: list[str] | None = None) -> int:
    """Command line: ``start [--dir DIR] [--port N]``, ``stop [--dir DIR] [--keep]``, ``status [--dir DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m tracing.pg_cluster",
        description="A throwaway local PostgreSQL cluster on 127.0.0.1 (trust authentication; for development and tests).",
    )
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--dir", default=None, help="cluster folder; default .evalharness/postgres")
    parser.add_argument("--port", type=int, default=None, help="TCP port on 127.0.0.1; default: a free port")
    parser.add_argument(
        "--database", default=None, help="start: also create this database and print its URL (e.g. phoenix)"
    )
    parser.add_argument("--keep", action="store_true", help="stop: keep the data for the next start")
    args = parser.parse_args(argv)
    folder = Path(args.dir).resolve() if args.dir else default_dir()
    try:
        running = PostgresCluster.from_state(folder)
        if args.command == "status":
            if running is None:
                print(f"no PostgreSQL running from {folder}")
                return 1
            print(f"PostgreSQL running at {running.url} (pid {running.pid}, data in {running.data_dir})")
            return 0
        if args.command == "stop":
            if running is None:
                print(f"no PostgreSQL running from {folder}")
                if not args.keep and (folder / "data" / "PG_VERSION").exists():
                    PostgresCluster(folder).delete()  # a stopped cluster left by `stop --keep`
                return 0
            running.stop(keep=args.keep)
            print(f"PostgreSQL stopped; {'data kept in' if args.keep else 'deleted'} {folder}")
            return 0
        if running is not None:
            print(f"PostgreSQL already running at {running.url} (pid {running.pid})")
            url = running.url
        else:
            cluster = PostgresCluster(folder, port=args.port, keep=True).start()
            print(f"PostgreSQL running at {cluster.url} (pid {cluster.pid}, data in {cluster.data_dir})")
            running, url = cluster, cluster.url
        if args.database:
            url = running.database_url(args.database)
            try:
                running.create_database(args.database)
            except PostgresClusterError as exc:
                if "already exists" not in str(exc):
                    raise
        print(url)
        return 0
    except PostgresClusterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
