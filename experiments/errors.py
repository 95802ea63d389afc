"""The experiments library's exceptions, in one place.

    ExperimentError          base of everything raised here
    ├── ResultsError         a results file is missing, empty, corrupt or of another schema version
    ├── BaselineError        a baseline cannot be found, or differs from this run in a way that makes the
    │                        comparison meaningless (dataset content, judge model, scale); says what differs
    └── TaskError            a task is misconfigured or returned something that is not an output
"""

from __future__ import annotations


class ExperimentError(Exception):
    """Base class for errors raised by the experiments library."""


class ResultsError(ExperimentError):
    """A results file cannot be read; the message names the file and the fix."""


class BaselineError(ExperimentError):
    """A baseline cannot be used for this run; the message says what differs and how to proceed."""


class TaskError(ExperimentError):
    """A task is misconfigured or returned a value that is not an output; names the case and the type."""
