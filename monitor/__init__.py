"""Online evaluation of production traces on a schedule: ``python -m monitor run --config monitor.toml``.

Judges a deterministic sample of new traces (Phoenix spans or the production log) with configured
evaluators, writes each verdict as a Phoenix annotation and a row of a Parquet scores table, sends the
doubtful ones to the review queue, and reports the judge-score series with alerts. See docs/monitoring.md.
"""

from monitor.config import EvaluatorConfig, MonitorConfig, load_config
from monitor.errors import (
    ConfigError,
    JudgeOutageError,
    LockedError,
    MonitorError,
    SourceError,
    WriteBackError,
)
from monitor.runner import RunResult, run_monitor
from monitor.scores import ScoresTable, TraceScore

__all__ = [
    "ConfigError",
    "EvaluatorConfig",
    "JudgeOutageError",
    "LockedError",
    "MonitorConfig",
    "MonitorError",
    "RunResult",
    "ScoresTable",
    "SourceError",
    "TraceScore",
    "WriteBackError",
    "load_config",
    "run_monitor",
]
