"""Errors raised by the review dashboard.

Hierarchy (catch the base class to handle every dashboard error)::

    DashboardError
    ├── ConfigError        a users file, a results file or a CLI option is malformed
    ├── AuthError          wrong user name or password, or a role that may not do this
    └── StoreError         the review store refused an operation
        ├── LeaseLost      the lease expired and was taken by someone else, or was released
        ├── NoSuchItem     an item id that is not in the store
        ├── InvalidLabel   a score outside the item's scale or an unknown category
        └── DuplicateLabel the reviewer already labelled this item
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "DashboardError",
    "DuplicateLabel",
    "InvalidLabel",
    "LeaseLost",
    "NoSuchItem",
    "StoreError",
]


class DashboardError(Exception):
    """Base class of every error raised by :mod:`dashboard`."""


class ConfigError(DashboardError, ValueError):
    """A configuration value, file or CLI option is malformed; the message names it."""


class AuthError(DashboardError):
    """Authentication or authorisation failed."""


class StoreError(DashboardError):
    """The review store refused an operation."""


class LeaseLost(StoreError):
    """A submit, skip or heartbeat came with a lease that is no longer the current one."""


class NoSuchItem(StoreError, KeyError):
    """An item id that the store does not hold."""


class DuplicateLabel(StoreError):
    """The (item, reviewer) pair is already labelled; labels are unique per pair."""


class InvalidLabel(StoreError, ValueError):
    """A label whose score is outside the item's scale, or whose category is not offered."""
