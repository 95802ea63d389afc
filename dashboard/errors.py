"""Errors raised by the review dashboard (the app, its sign-in and its CLI).

The review library's own errors (store, queues, export, purge) are :class:`review.ReviewError`; the CLI
reports both. Hierarchy (catch the base class to handle every dashboard error)::

    DashboardError
    ├── ConfigError        a users file, a session key, a setting or a CLI option is malformed
    │                      (also a tracing.errors.ConfigError, the rooms' shared base)
    └── AuthError          wrong user name or password, or a role that may not do this
"""

from __future__ import annotations

from tracing.errors import ConfigError as SharedConfigError

__all__ = ["AuthError", "ConfigError", "DashboardError"]


class DashboardError(Exception):
    """Base class of every error raised by :mod:`dashboard`."""


class ConfigError(DashboardError, SharedConfigError, ValueError):
    """A configuration value, file or CLI option is malformed; the message names it.

    Also a ``tracing.errors.ConfigError``, the shared base of every room's configuration errors."""


class AuthError(DashboardError):
    """Authentication or authorisation failed."""
