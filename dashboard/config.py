"""Where the dashboard keeps its store and users, read from the environment (CLI flags override)."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

__all__ = ["DashboardConfig"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DashboardConfig:
    """Paths and settings shared by the app and the CLI.

    Environment: ``EVALHARNESS_REVIEW_DB`` (file path or SQLAlchemy URL), ``EVALHARNESS_USERS`` (TOML),
    ``EVALHARNESS_DATASETS`` (export folder), ``EVALHARNESS_RESULTS`` (the eval runs' results folder, read by
    the Runs page), ``EVALHARNESS_LEASE_SECONDS``, ``EVALHARNESS_SQLITE_SYNC`` (FULL or NORMAL),
    ``EVALHARNESS_LOGIN_TTL`` (seconds a login is remembered across refreshes; 0: only while the tab is
    open), the throttle's ``EVALHARNESS_LOGIN_*`` (see :class:`dashboard.logins.LoginPolicy`),
    ``EVALHARNESS_TRUSTED_PROXIES`` (comma-separated addresses of reverse proxies whose ``X-Forwarded-For``
    names the client; unset: none, the socket peer is the client), ``EVALHARNESS_SYNTH_DIR`` (the only
    folder the Synthetic page reads generated sets from, default ``synth_out``), ``EVALHARNESS_TOPICS_REPORT``
    (the one topics report the Topics page reads: a ``topics.json`` written by ``python -m monitor topics
    report``, or the folder holding it; default ``reports/monitor/topics/topics.json``), and
    ``EVALHARNESS_PHOENIX_ENDPOINT``; without it the Phoenix URL resolves as for ``tracing.annotate_spans``:
    ``PHOENIX_COLLECTOR_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_*``, then the server that
    ``python -m tracing.phoenix_server start`` recorded, then http://127.0.0.1:6006.
    """

    db: str = ".evalharness/review.sqlite"
    users: Path = Path(".evalharness/users.toml")
    datasets: Path = Path("datasets")
    results_dir: Path = Path("results")
    lease_seconds: float = 600.0
    phoenix_endpoint: str = "http://127.0.0.1:6006"
    sqlite_synchronous: str = "FULL"
    login_ttl_s: float = 8 * 3600.0
    trusted_proxies: tuple[str, ...] = ()
    synth_dir: Path = Path("synth_out")
    topics_report: Path = Path("reports/monitor/topics/topics.json")

    @classmethod
    def from_env(cls) -> DashboardConfig:
        """Read the configuration from ``EVALHARNESS_*`` variables, with the defaults above. A relative path is
        relative to the project root (the nearest folder up with pyproject.toml or .git), as the eval runs'
        results are, so ``python -m dashboard`` finds the same store and runs from any folder of the project."""
        from tracing.project import project_root, resolve

        env = os.environ
        root = project_root()

        def path(var: str, default: Path | str) -> Path:
            return resolve(env.get(var) or str(default), root)

        db = env.get("EVALHARNESS_REVIEW_DB", cls.db)
        return cls(
            db=db if "://" in db else str(resolve(db, root)),
            users=path("EVALHARNESS_USERS", cls.users),
            datasets=path("EVALHARNESS_DATASETS", cls.datasets),
            results_dir=path("EVALHARNESS_RESULTS", cls.results_dir),
            lease_seconds=_seconds(env, "EVALHARNESS_LEASE_SECONDS", cls.lease_seconds),
            phoenix_endpoint=env.get("EVALHARNESS_PHOENIX_ENDPOINT") or _phoenix_endpoint(),
            sqlite_synchronous=env.get("EVALHARNESS_SQLITE_SYNC", cls.sqlite_synchronous).upper(),
            login_ttl_s=_seconds(env, "EVALHARNESS_LOGIN_TTL", cls.login_ttl_s),
            trusted_proxies=tuple(
                p.strip() for p in env.get("EVALHARNESS_TRUSTED_PROXIES", "").split(",") if p.strip()
            ),
            synth_dir=path("EVALHARNESS_SYNTH_DIR", cls.synth_dir),
            topics_report=path("EVALHARNESS_TOPICS_REPORT", cls.topics_report),
        )


def _seconds(env: os._Environ[str], var: str, default: float) -> float:
    raw = env.get(var, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= 0:
        raise ConfigError(f"{var}={raw!r} is not a number of seconds")
    return value


def _phoenix_endpoint() -> str:
    from tracing._config import DEFAULT_ENDPOINT, resolve_base_url
    from tracing.errors import TracingConfigError

    try:
        return resolve_base_url(None)
    except TracingConfigError as exc:  # a bad PHOENIX_* variable must not take the review pages down
        log.warning("%s; the dashboard links to %s instead", exc, DEFAULT_ENDPOINT)
        return DEFAULT_ENDPOINT
