"""The judges library's exceptions, in one place.

    JudgeError                      base of everything raised here
    ├── JudgeConfigError            a setting is wrong (unknown provider, bad model spec, bad file); says how to fix it
    │   └── ModelUnavailableError   the configured model cannot be loaded or reached; raised before any case runs
    ├── DatasetError                a dataset row failed validation; names file, line and field
    ├── ProviderError               a provider call failed
    │   └── RetryableProviderError  429 / 5xx / timeout: the client retries these with backoff

``JudgeConfigError`` is also a ``tracing.errors.ConfigError``, the shared base of every package's
configuration error. A reply that cannot be parsed is not an exception: it becomes a ``JudgeFailure`` that
keeps the raw text.
"""

from __future__ import annotations

from tracing.errors import ConfigError


class JudgeError(Exception):
    """Base class for errors raised by the judges library."""


class JudgeConfigError(JudgeError, ConfigError):
    """A setting is wrong; the message names it and says what to do."""


class ModelUnavailableError(JudgeConfigError):
    """The configured judge model cannot be loaded or reached."""


class DatasetError(JudgeError):
    """A dataset row is invalid; the message names the file, line and field."""


class ProviderError(JudgeError):
    """A model provider call failed."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class RetryableProviderError(ProviderError):
    """A transient failure (rate limit, server error, timeout) worth retrying."""

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after
