"""Run a local, locked-down Arize Phoenix server: ``python -m tracing.phoenix_server start|stop|status``.

The server lives in its own virtual environment, one per machine and user and shared by every project
(``~/.cache/evalharness/phoenix-venv``, under ``$XDG_CACHE_HOME`` when set; created with ``python -m venv``
+ ``pip install arize-phoenix==PHOENIX_VERSION`` when missing, one install at a time) because the
full server package makes ``import phoenix.otel`` take 13–17 s; the harness itself only needs the
OpenTelemetry exporter and ``arize-phoenix-client``. ``EVALHARNESS_PHOENIX_VENV`` points at an
existing server venv instead. The database is SQLite in a project-local working directory
(``.evalharness/phoenix`` by default, next to a ``phoenix.pid.json`` that ``stop``/``status`` read),
or PostgreSQL with ``--database postgresql://user[:password]@host:port/dbname`` (Phoenix's
``PHOENIX_SQL_DATABASE_URL``; the venv gets the ``asyncpg`` driver through ``arize-phoenix[pg]``).
``python -m tracing.pg_cluster start`` gives a throwaway local PostgreSQL for that.

Lock-down (environment set for the server; see :data:`LOCKDOWN_ENV`): bound to 127.0.0.1;
telemetry pixels, external resources (web fonts, CDN, WASM download), the MCP server, the agent
assistant and its bash/web/GitHub tools, and all code sandboxes are off; migrations are not
logged; ``.env.phoenix`` discovery from parent folders is off; ``PHOENIX_*``/``OTEL_*`` variables
of the calling shell are not inherited, nor is anything but a few basics (``PATH``, ``HOME``,
locale, temp folder, certificates), so no API key reaches the server. Known gap: Phoenix 20.26
binds its OTLP gRPC receiver on all interfaces (``[::]``) with no setting to change it; it is
given a free port, and nothing in the harness uses it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tracing.errors import PhoenixServerError
from tracing.project import project_root

PHOENIX_VERSION = "20.26.1"
VENV_ENV = "EVALHARNESS_PHOENIX_VENV"
WORKDIR_ENV = "EVALHARNESS_PHOENIX_WORKDIR"
DEFAULT_PORT = 6006
PID_FILE = "phoenix.pid.json"
LOG_FILE = "phoenix.log"

LOCKDOWN_ENV: dict[str, str] = {
    "PHOENIX_HOST": "127.0.0.1",
    "PHOENIX_TELEMETRY_ENABLED": "false",  # FullStory / Scarf pixels
    "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",  # web fonts, telemetry, WASM sandbox download
    "PHOENIX_ENABLE_MCP_SERVER": "false",  # the /mcp endpoint
    "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",  # the /chat assistant
    "PHOENIX_AGENTS_DISABLE_BASH": "true",  # server-side bash tool
    "PHOENIX_AGENTS_DISABLE_WEB_ACCESS": "true",
    "PHOENIX_AGENTS_DISABLE_GITHUB": "true",
    "PHOENIX_AGENTS_ENABLE_MCP_CODE_MODE": "false",
    "PHOENIX_ENABLE_MCP_CODE_MODE": "false",
    "PHOENIX_ALLOWED_SANDBOX_PROVIDERS": "NONE",  # WASM, E2B, Docker, ... code sandboxes
    "PHOENIX_LOG_MIGRATIONS": "false",
    "PHOENIX_DISCOVER_CONFIG": "false",  # no .env.phoenix lookup in parent folders
    "PHOENIX_ENABLE_PROMETHEUS": "false",
}


def default_workdir() -> Path:
    """``$EVALHARNESS_PHOENIX_WORKDIR``, else ``<project root>/.evalharness/phoenix`` (already git-ignored)."""
    if chosen := os.environ.get(WORKDIR_ENV):
        return Path(chosen).resolve()
    return project_root() / ".evalharness" / "phoenix"


def shared_venv() -> Path:
    """The one server venv of this machine and user, shared by every project:
    ``$XDG_CACHE_HOME/evalharness/phoenix-venv`` (``~/.cache/evalharness/phoenix-venv`` without it)."""
    cache = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(cache) if cache and Path(cache).is_absolute() else Path.home() / ".cache"
    return base / "evalharness" / "phoenix-venv"


def server_venv(venv: str | os.PathLike[str] | None = None) -> Path:
    """The server venv: argument, ``$EVALHARNESS_PHOENIX_VENV``, else the user's shared one (:func:`shared_venv`).

    A checkout set up before the venv was shared keeps ``<project root>/.venv-phoenix``: it is used while
    the shared venv holds no server, so nothing is installed a second time.
    """
    chosen = venv or os.environ.get(VENV_ENV)
    if chosen:
        return Path(chosen).expanduser().resolve()
    shared = shared_venv()
    legacy = project_root() / ".venv-phoenix"
    if not (shared / "bin" / "phoenix").exists() and (legacy / "bin" / "phoenix").exists():
        return legacy
    return shared


def has_postgres_driver(venv: str | os.PathLike[str] | None = None) -> bool:
    """True when the server venv holds ``asyncpg``, the driver Phoenix uses for ``postgresql://`` databases."""
    return any(server_venv(venv).glob("lib/python*/site-packages/asyncpg/__init__.py"))


def ensure_server_venv(
    venv: str | os.PathLike[str] | None = None, *, install: bool = True, postgres_driver: bool = True
) -> Path:
    """Return the ``phoenix`` executable, creating the venv and installing the server if missing.

    With ``postgres_driver`` (the default; ``install`` uses it) a venv that lacks ``asyncpg`` gets it
    (``arize-phoenix[pg]``), so an older venv becomes able to serve from PostgreSQL.
    """
    root = server_venv(venv)
    if install and root != shared_venv() and not (venv or os.environ.get(VENV_ENV)):
        root = _share_legacy(root)
    exe = root / "bin" / "phoenix"
    need_server = not exe.exists()
    need_driver = postgres_driver and not has_postgres_driver(root)
    if not need_server and not need_driver:
        return exe
    if not install:
        if need_server:
            raise PhoenixServerError(
                f"no Phoenix server in {root}; run `python -m tracing.phoenix_server install` or set {VENV_ENV}"
            )
        raise PhoenixServerError(
            f"the Phoenix server in {root} lacks the PostgreSQL driver asyncpg; run "
            f"`python -m tracing.phoenix_server install` (installs arize-phoenix[pg]=={PHOENIX_VERSION})"
        )
    with _install_lock(root):  # checked again under the lock: another process may have installed it meanwhile
        return _install(root, need_server=not exe.exists(), need_driver=postgres_driver and not has_postgres_driver(root))


def _share_legacy(legacy: Path) -> Path:
    """Link the shared venv's place to a project's older ``.venv-phoenix``, so every project finds that server."""
    shared = shared_venv()
    try:
        shared.parent.mkdir(parents=True, exist_ok=True)
        shared.symlink_to(legacy, target_is_directory=True)
    except OSError:
        return legacy  # another process linked or installed it meanwhile, or the cache folder is read-only
    print(f"the Phoenix server in {legacy} is now shared by every project through {shared}", file=sys.stderr)
    return shared


@contextlib.contextmanager
def _install_lock(root: Path) -> Iterator[None]:
    """One install at a time into ``root`` (projects share the venv; two test sessions may start at once)."""
    import fcntl

    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f"{root.name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _install(root: Path, *, need_server: bool, need_driver: bool) -> Path:
    """Create ``root`` and install the server (or add its PostgreSQL driver); the ``phoenix`` executable."""
    exe = root / "bin" / "phoenix"
    if not need_server and not need_driver:
        return exe
    what = f"arize-phoenix[pg]=={PHOENIX_VERSION}"
    if need_server:
        print(f"installing {what} into {root} (a few minutes, once)", file=sys.stderr)
    else:
        print(f"adding the PostgreSQL driver ({what}) to {root}", file=sys.stderr)
    try:
        if not (root / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
        subprocess.run(
            [
                str(root / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                what,
            ],
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise PhoenixServerError(f"could not install the Phoenix server into {root}: {exc}") from exc
    if not exe.exists():
        raise PhoenixServerError(f"arize-phoenix installed into {root} but {exe} is missing")
    if need_driver and not has_postgres_driver(root):
        raise PhoenixServerError(f"{what} installed into {root} but asyncpg is missing from it")
    return exe


_DATABASE_FIX = (
    "pass postgresql://user[:password]@host:port/dbname (e.g. from `python -m tracing.pg_cluster start "
    "--database phoenix`) or a path to a SQLite file"
)


def database_url(database: str | os.PathLike[str]) -> str:
    """Validate ``--database`` and return the ``PHOENIX_SQL_DATABASE_URL`` for it.

    Accepts ``postgresql://user[:password]@host[:port]/dbname`` (also ``postgresql+driver://``; Phoenix
    always uses asyncpg), ``sqlite:///path`` or a plain path to a SQLite file (made absolute; its
    folder is created). Anything else raises :class:`PhoenixServerError` naming the value (password masked).
    """
    text = os.fspath(database).strip()
    if not text:
        raise PhoenixServerError(f"--database is empty; {_DATABASE_FIX}")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme == "postgresql" or scheme.startswith("postgresql+"):
        shown = mask_database_url(text)
        try:
            parts = urllib.parse.urlsplit(text)
            _ = parts.port  # raises on a port that is not a number in 0-65535
        except ValueError as exc:
            raise PhoenixServerError(
                f"--database {shown!r} is not a valid URL ({exc}); {_DATABASE_FIX}"
            ) from None
        if not parts.hostname:
            raise PhoenixServerError(f"--database {shown!r} names no host; {_DATABASE_FIX}")
        if not parts.path.strip("/"):
            raise PhoenixServerError(
                f"--database {shown!r} names no database (the /dbname part); {_DATABASE_FIX}"
            )
        return text
    if scheme in ("postgres", "pg"):
        raise PhoenixServerError(
            f"--database {mask_database_url(text)!r}: write the scheme as postgresql://, not {scheme}://"
        )
    if scheme == "sqlite":
        if not text.startswith("sqlite:///") or len(text) <= len("sqlite:///"):
            raise PhoenixServerError(f"--database {text!r} is not sqlite:///path/to/file.db; {_DATABASE_FIX}")
        return text
    if scheme:
        raise PhoenixServerError(
            f"--database {mask_database_url(text)!r} uses {scheme}://, which Phoenix does not support; {_DATABASE_FIX}"
        )
    path = Path(text).expanduser().resolve()
    if path.is_dir():
        raise PhoenixServerError(
            f"--database {text!r} is a folder; give a SQLite file inside it (e.g. {path / 'phoenix.db'}) "
            "or use --workdir for the default database"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def mask_database_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (what ``status`` prints and the pid file keeps)."""
    try:
        parts = urllib.parse.urlsplit(url)
        password = parts.password
    except ValueError:
        password = None
        parts = None
    if parts is None or password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def _is_postgres(url: str | None) -> bool:
    return url is not None and url.lower().startswith("postgresql")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something listens on ``host:port`` (or holds it bound).

    The probe binds with ``SO_REUSEADDR``, as the server itself (uvicorn) does: connections of a stopped
    server left in TIME_WAIT (about 60 s on Linux) do not keep the port from a new server, so they must not
    make the probe say "in use"; a socket that listens on the port still makes the bind fail."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _healthy(url: str, timeout_s: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=timeout_s) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def _is_our_phoenix(pid: int, workdir: Path) -> bool:
    """True when ``pid`` is a ``phoenix serve`` whose working directory is ``workdir`` (no PID reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return _pid_alive(pid)  # no /proc (not Linux): trust the pid file
    return b"serve" in cmdline and f"PHOENIX_WORKING_DIR={workdir}".encode() in env


@dataclass(frozen=True)
class PhoenixProcess:
    """A running Phoenix server started by :func:`start_phoenix`."""

    pid: int
    port: int
    grpc_port: int
    workdir: Path
    host: str = "127.0.0.1"
    database: str = ""  # the database URL with its password masked; "" is SQLite in the workdir
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def url(self) -> str:
        """Base URL of the UI and of the REST/OTLP API (``/v1/traces``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def database_label(self) -> str:
        """Which database the server uses, password masked (what ``status`` prints)."""
        return self.database or f"SQLite {self.workdir / 'phoenix.db'}"

    @property
    def log_path(self) -> Path:
        """The server's combined stdout/stderr."""
        return self.workdir / LOG_FILE

    def is_alive(self) -> bool:
        """True while the server process exists."""
        if self._popen is not None:
            return self._popen.poll() is None
        return _pid_alive(self.pid)

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop the server by PID (SIGTERM, then SIGKILL after ``timeout_s``) and remove the pid file."""
        if self.is_alive() and _is_our_phoenix(self.pid, self.workdir):
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while self.is_alive() and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.is_alive():
                os.kill(self.pid, signal.SIGKILL)
                if self._popen is not None:
                    self._popen.wait(5)
        elif self._popen is not None:
            self._popen.poll()
        pid_file = self.workdir / PID_FILE
        try:
            if json.loads(pid_file.read_text()).get("pid") == self.pid:
                pid_file.unlink()
        except (OSError, ValueError):
            pass


# What the server process inherits from the caller: enough to run Python and find certificates, and
# nothing else, so API keys (OPENAI_API_KEY, PHOENIX_API_KEY, AWS_*, ...) never reach Phoenix, its
# playground or its log.
_INHERITED = frozenset(
    ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP")
    + ("LD_LIBRARY_PATH", "SSL_CERT_FILE", "SSL_CERT_DIR", "SYSTEMROOT")
)


def server_env(port: int, grpc_port: int, workdir: Path, database: str | None = None) -> dict[str, str]:
    """The server's whole environment: a few inherited basics (no secrets), the lock-down, ports and workdir.

    ``database`` (a URL from :func:`database_url`) becomes ``PHOENIX_SQL_DATABASE_URL``; without it
    Phoenix uses SQLite in the workdir.
    """
    env = {k: v for k, v in os.environ.items() if k in _INHERITED or k.startswith("LC_")}
    env.update(LOCKDOWN_ENV)
    env.update({"PHOENIX_PORT": str(port), "PHOENIX_GRPC_PORT": str(grpc_port)})
    env["PHOENIX_WORKING_DIR"] = str(workdir)
    if database is not None:
        env["PHOENIX_SQL_DATABASE_URL"] = database
    return env


def start_phoenix(
    port: int = DEFAULT_PORT,
    workdir: str | os.PathLike[str] | None = None,
    *,
    venv: str | os.PathLike[str] | None = None,
    grpc_port: int | None = None,
    timeout_s: float = 120.0,
    install: bool = True,
    database: str | os.PathLike[str] | None = None,
) -> PhoenixProcess:
    """Start a locked-down ``phoenix serve`` on 127.0.0.1:``port`` and wait until ``/healthz`` answers.

    ``workdir`` holds the log, the pid file and (without ``database``) the SQLite database (default
    ``.evalharness/phoenix`` in the project root). ``database`` is a ``postgresql://`` URL or a SQLite
    path (see :func:`database_url`). Raises :class:`PhoenixServerError` when ``database`` is malformed,
    the port is taken, the server exits (an unreachable database does that, with the log's tail), or
    it is not healthy within ``timeout_s``.
    """
    host = "127.0.0.1"
    db_url = database_url(database) if database is not None else None
    shown_db = mask_database_url(db_url) if db_url is not None else ""
    work = Path(workdir).resolve() if workdir is not None else default_workdir()
    existing = phoenix_status(work)
    if existing is not None:
        raise PhoenixServerError(
            f"a Phoenix started from {work} is already running at {existing.url} (pid {existing.pid}); "
            "stop it first or use another --workdir"
        )
    if _port_in_use(port, host):
        raise PhoenixServerError(f"port {port} on {host} is already in use; choose another with --port")
    exe = ensure_server_venv(venv, install=install, postgres_driver=_is_postgres(db_url))
    work.mkdir(parents=True, exist_ok=True)
    grpc = grpc_port if grpc_port is not None else free_port(host)
    env = server_env(port, grpc, work, db_url)
    log = open(work / LOG_FILE, "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        popen = subprocess.Popen(
            [str(exe), "serve"],
            env=env,
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the CLI that started it; stopped by PID
        )
    finally:
        log.close()
    proc = PhoenixProcess(
        pid=popen.pid, port=port, grpc_port=grpc, workdir=work, host=host, database=shown_db, _popen=popen
    )
    (work / PID_FILE).write_text(
        json.dumps(
            {
                "pid": popen.pid,
                "port": port,
                "grpc_port": grpc,
                "url": proc.url,
                "database": shown_db,  # password masked: the pid file never holds a secret
                "started_at": time.time(),
            }
        )
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            (work / PID_FILE).unlink(missing_ok=True)
            hint = ""
            if _is_postgres(db_url):
                hint = (
                    f" with database {shown_db}: is PostgreSQL running there, does the database exist and "
                    "does it accept this user? (a throwaway one: python -m tracing.pg_cluster start --database phoenix)"
                )
            raise PhoenixServerError(
                f"Phoenix exited with code {popen.returncode} during start-up{hint}; "
                f"last log lines:\n{_tail(proc.log_path)}"
            )
        if _healthy(proc.url):
            return proc
        time.sleep(0.25)
    proc.stop()
    raise PhoenixServerError(
        f"Phoenix did not answer {proc.url}/healthz within {timeout_s:.0f}s; last log lines:\n{_tail(proc.log_path)}"
    )


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Refused|Timeout)\w*: \S")


def _tail(path: Path, lines: int = 15) -> str:
    """The log's last ``lines`` lines, preceded by its last exception lines when the tail misses them.

    Phoenix ends a failed start with a banner; the cause (``ConnectionRefusedError: ...``,
    ``InvalidCatalogNameError: database "x" does not exist``) sits above it in the traceback.
    """
    try:
        all_lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    tail = all_lines[-lines:]
    causes = [ln for ln in all_lines[:-lines] if _EXCEPTION_LINE.match(ln)]
    head = ["errors in the log:", *dict.fromkeys(causes[-3:]), "..."] if causes else []
    return "\n".join([*head, *tail])


def phoenix_status(workdir: str | os.PathLike[str] | None = None) -> PhoenixProcess | None:
    """The server recorded in ``workdir``'s pid file if it is still running, else None."""
    work = Path(workdir).resolve() if workdir is not None else default_workdir()
    try:
        info = json.loads((work / PID_FILE).read_text())
        pid, port, grpc = int(info["pid"]), int(info["port"]), int(info["grpc_port"])
        database = str(info.get("database") or "")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _pid_alive(pid) or not _is_our_phoenix(pid, work):
        return None
    return PhoenixProcess(pid=pid, port=port, grpc_port=grpc, workdir=work, database=database)


def running_url(workdir: str | os.PathLike[str] | None = None) -> str | None:
    """The URL of the server recorded in ``workdir``'s pid file while it runs (what ``status`` prints), else None.

    ``tracing.annotate_spans``, ``tracing.setup`` and the dashboard fall back to it when no endpoint is
    configured, so a server started with ``--port`` is found without exporting anything.
    """
    proc = phoenix_status(workdir)
    return None if proc is None else proc.url


def stop_phoenix(workdir: str | os.PathLike[str] | None = None) -> bool:
    """Stop the server recorded in ``workdir``; False when none was running."""
    proc = phoenix_status(workdir)
    if proc is None:
        return False
    proc.stop()
    return True


def main(argv: list[str] | None = None) -> int:
    """Command line: ``start [--port N] [--workdir DIR] [--venv DIR] [--database URL]``, ``stop``, ``status``, ``install``."""
    parser = argparse.ArgumentParser(
        prog="python -m tracing.phoenix_server",
        description="Run a local, locked-down Arize Phoenix server in its own virtual environment (UI and HTTP API on 127.0.0.1).",
    )
    parser.add_argument("command", choices=["start", "stop", "status", "install"])
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="HTTP port (UI, REST, OTLP); default 6006"
    )
    parser.add_argument("--grpc-port", type=int, default=None, help="OTLP gRPC port; default: a free port")
    parser.add_argument(
        "--workdir",
        default=None,
        help=f"database/log/pid folder; default ${WORKDIR_ENV} or .evalharness/phoenix",
    )
    parser.add_argument("--venv", default=None, help=f"server venv; default ${VENV_ENV}, else the user's shared "
                        "~/.cache/evalharness/phoenix-venv")
    parser.add_argument(
        "--database",
        default=None,
        help="start: postgresql://user[:password]@host:port/dbname or a SQLite file path "
        "(PHOENIX_SQL_DATABASE_URL); default SQLite in the workdir",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for /healthz")
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            print(ensure_server_venv(args.venv))
            return 0
        if args.command == "start":
            proc = start_phoenix(
                args.port,
                args.workdir,
                venv=args.venv,
                grpc_port=args.grpc_port,
                timeout_s=args.timeout,
                database=args.database,
            )
            print(f"Phoenix running at {proc.url} (pid {proc.pid}, log in {proc.workdir})")
            print(f"database: {proc.database_label}")
            print(f"export PHOENIX_COLLECTOR_ENDPOINT={proc.url}")
            return 0
        if args.command == "stop":
            stopped = stop_phoenix(args.workdir)
            print("Phoenix stopped" if stopped else "no Phoenix running from this workdir")
            return 0
        running = phoenix_status(args.workdir)
        if running is None:
            print("Phoenix is not running")
            return 1
        healthy = _healthy(running.url)
        print(
            f"Phoenix running at {running.url} (pid {running.pid}){'' if healthy else ' but /healthz does not answer'}"
        )
        print(f"database: {running.database_label}")
        return 0 if healthy else 1
    except PhoenixServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
