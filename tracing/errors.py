"""Errors raised by :mod:`tracing`.

Hierarchy (catch the base class to handle them all)::

    TracingError                  base class; never raised itself
    ├── TracingConfigError        bad argument or environment variable (ValueError too; a ConfigError)
    ├── ProviderConflictError     an SDK TracerProvider exists and setup() was told not to reuse it
    ├── AnnotationError           Phoenix refused or could not receive span annotations
    ├── PhoenixServerError        the local Phoenix server could not be installed, started or stopped
    └── ProductionLogError        production rows cannot be read: a missing or malformed JSONL log line,
                                  or Phoenix spans that cannot be fetched (ValueError too)

Export failures are deliberately *not* exceptions: spans that cannot be delivered are counted
in ``TracingHandle.dropped_spans`` so the instrumented application never fails because of tracing.

``ConfigError`` is declared here, on the harness's lowest floor, as the one shared base of every
package's configuration error (``TracingConfigError``, ``judges.errors.JudgeConfigError``,
``synth.errors.SynthConfigError``, drift's, monitor's and dashboard's): ``except ConfigError`` catches a
bad setting whichever package noticed it, while each error also stays in its own package's family.
"""

from __future__ import annotations


class ConfigError(Exception):
    """A setting (argument, config file, environment variable) is invalid; the message names it and says what
    to do. The shared base: every package's configuration error subclasses it. Never raised itself."""


class TracingError(Exception):
    """Base class of every error raised by the tracing library."""


class TracingConfigError(TracingError, ConfigError, ValueError):
    """A setup argument or environment variable has an unusable value."""


class ProviderConflictError(TracingError):
    """An SDK TracerProvider is already installed and ``use_existing_provider=False`` was given."""


class AnnotationError(TracingError):
    """Span annotations could not be written to Phoenix (unreachable, or an HTTP error)."""


class PhoenixServerError(TracingError):
    """The local Phoenix server could not be installed, started, found or stopped."""


class ProductionLogError(TracingError, ValueError):
    """Production-log rows cannot be read: the JSONL file is missing or has a malformed line (named by
    file and line), or spans cannot be fetched from Phoenix (client not installed, server refused)."""
