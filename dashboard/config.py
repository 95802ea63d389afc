"""Where the dashboard keeps its store and users, read from the environment (CLI flags override)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

__all__ = ["DashboardConfig"]


@dataclass(frozen=True)
class DashboardConfig:
    """Paths and settings shared by the app and the CLI.

    Environment: ``EVALHARNESS_REVIEW_DB`` (file path or SQLAlchemy URL), ``EVALHARNESS_USERS`` (TOML),
    ``EVALHARNESS_DATASETS`` (export folder), ``EVALHARNESS_RESULTS`` (the eval runs' results folder, read by
    the Runs page), ``EVALHARNESS_LEASE_SECONDS``, ``EVALHARNESS_PHOENIX_ENDPOINT``, ``EVALHARNESS_SQLITE_SYNC``
    (FULL or NORMAL).
    """

    db: str = ".evalharness/review.sqlite"
    users: Path = Path(".evalharness/users.toml")
    datasets: Path = Path("datasets")
    results_dir: Path = Path("results")
    lease_seconds: float = 600.0
    phoenix_endpoint: str = "http://127.0.0.1:6006"
    sqlite_synchronous: str = "FULL"

    @classmethod
    def from_env(cls) -> DashboardConfig:
        """Read the configuration from ``EVALHARNESS_*`` variables, with the defaults above."""
        env = os.environ
        raw_lease = env.get("EVALHARNESS_LEASE_SECONDS", str(cls.lease_seconds))
        try:
            lease = float(raw_lease)
        except ValueError as exc:
            raise ConfigError(f"EVALHARNESS_LEASE_SECONDS={raw_lease!r} is not a number of seconds") from exc
        return cls(
            db=env.get("EVALHARNESS_REVIEW_DB", cls.db),
            users=Path(env.get("EVALHARNESS_USERS", str(cls.users))),
            datasets=Path(env.get("EVALHARNESS_DATASETS", str(cls.datasets))),
            results_dir=Path(env.get("EVALHARNESS_RESULTS", str(cls.results_dir))),
            lease_seconds=lease,
            phoenix_endpoint=env.get("EVALHARNESS_PHOENIX_ENDPOINT", cls.phoenix_endpoint),
            sqlite_synchronous=env.get("EVALHARNESS_SQLITE_SYNC", cls.sqlite_synchronous).upper(),
        )
