"""The monitor's errors: one hierarchy, each message naming the input at fault and the fix.

``MonitorError``
  ``ConfigError``      the TOML config is invalid (field named), or a flag contradicts it
  ``LockedError``      another run holds the lock (its pid and start time named)
  ``SourceError``      production spans or rows could not be read within the retry budget
  ``WriteBackError``   Phoenix refused or did not answer annotations within the retry budget
  ``JudgeOutageError`` the judge provider failed (after the client's retries); finished verdicts are kept
"""

from __future__ import annotations

from tracing.errors import ConfigError as _SharedConfigError


class MonitorError(Exception):
    """Base of every error the monitor raises on purpose."""


class ConfigError(MonitorError, _SharedConfigError):
    """The config file (or a command-line flag) is invalid."""


class LockedError(MonitorError):
    """Another monitor run holds the lock; two schedules must not overlap."""


class SourceError(MonitorError):
    """Spans or log rows could not be read (Phoenix down or slow beyond the retry budget, log unreadable)."""


class WriteBackError(MonitorError):
    """Verdicts could not be written back (Phoenix annotations) within the retry budget."""


class JudgeOutageError(MonitorError):
    """The judge provider failed mid-batch; the verdicts finished before it are written, the rest are not."""
