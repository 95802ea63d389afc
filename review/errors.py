"""Errors raised by the review library.

Hierarchy (catch the base class to handle every review error)::

    ReviewError
    ├── ConfigError        a results file, a production row, a sample rate or an option is malformed
    │                      (also a tracing.errors.ConfigError, the rooms' shared base)
    ├── TranscriptError    a stored conversation or trajectory that cannot be shown
    └── StoreError         the review store refused an operation
        ├── LeaseLost      the lease expired and was taken by someone else, or was released
        ├── NoSuchItem     an item id that is not in the store
        ├── InvalidLabel   a score outside the item's scale or an unknown category
        └── DuplicateLabel the reviewer already labelled this item
"""

from __future__ import annotations

from tracing.errors import ConfigError as SharedConfigError

__all__ = [
    "ConfigError",
    "DuplicateLabel",
    "InvalidLabel",
    "LeaseLost",
    "NoSuchItem",
    "ReviewError",
    "StoreError",
    "TranscriptError",
]


class ReviewError(Exception):
    """Base class of every error raised by :mod:`review`."""


class ConfigError(ReviewError, SharedConfigError, ValueError):
    """A configuration value, input file or option is malformed; the message names it.

    Also a ``tracing.errors.ConfigError``, the shared base of every room's configuration errors."""


class TranscriptError(ReviewError, ValueError):
    """A transcript or trajectory that cannot be shown; the message says what is wrong with it."""


class StoreError(ReviewError):
    """The review store refused an operation."""


class LeaseLost(StoreError):
    """A submit, skip or heartbeat came with a lease that is no longer the current one."""


class NoSuchItem(StoreError, KeyError):
    """An item id that the store does not hold."""


class DuplicateLabel(StoreError):
    """The (item, reviewer) pair is already labelled; labels are unique per pair."""


class InvalidLabel(StoreError, ValueError):
    """A label whose score is outside the item's scale, or whose category is not offered."""
