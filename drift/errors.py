"""Errors and warnings raised by :mod:`drift`.

Hierarchy (catch ``DriftError`` to catch them all)::

    DriftError(Exception)
    ├── SchemaError(DriftError, ValueError)      a column is missing, has the wrong type, or schemas differ
    ├── EmptyDataError(DriftError, ValueError)   nothing left to compare (empty input or all values missing)
    ├── InputFormatError(DriftError, ValueError) a file or row cannot be read as logged data
    ├── ConfigError(DriftError, ValueError)      a parameter or config file value is invalid (also the harness's
    │                                            shared ``tracing.errors.ConfigError``)
    ├── MissingDependencyError(DriftError, ImportError)  an optional extra is not installed
    └── ExtraFailedError(DriftError, RuntimeError)  an optional extra (Evidently) failed on this input

    LowPowerWarning(UserWarning)                 a sample is too small for the test to detect drift reliably

Every message names the offending column, file or value and says what to do. Dropped NaN/inf,
unseen categories and constant columns are not warnings: they are counted in the results
(``FeatureDrift.dropped``, ``details["unseen"]``, ``FeatureDrift.warnings``) and shown in the report.
"""

from __future__ import annotations

from tracing.errors import ConfigError as SharedConfigError


class DriftError(Exception):
    """Base class of every error raised by :mod:`drift`."""


class SchemaError(DriftError, ValueError):
    """A column is missing, has an unusable type, or reference and current schemas differ."""


class EmptyDataError(DriftError, ValueError):
    """No usable values remain to compare (empty window, or a column that is entirely missing)."""


class InputFormatError(DriftError, ValueError):
    """A file or a logged row cannot be read (unknown extension, malformed JSON, bad timestamp)."""


class ConfigError(DriftError, SharedConfigError, ValueError):
    """A parameter or config value is invalid (bins < 2, threshold out of range, unknown window)."""


class MissingDependencyError(DriftError, ImportError):
    """An optional dependency is needed for this call; the message names the pip extra to install."""


class ExtraFailedError(DriftError, RuntimeError):
    """An optional extra (Evidently's report) raised on this input; our own report is unaffected."""


class LowPowerWarning(UserWarning):
    """The sample is so small that a test will rarely detect drift; treat 'no drift' with caution."""

