"""``monitor.toml``: the sources, the evaluator rules and where verdicts go, validated at the edge.

Relative paths in the file are taken relative to the file's own folder, so a cron job or a CI runner
can start the monitor from anywhere. See docs/monitoring.md for every key.
"""

from __future__ import annotations

import os
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from monitor.errors import ConfigError

__all__ = ["EvaluatorConfig", "MonitorConfig", "load_config", "parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*$")
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """``"30s"``, ``"10m"``, ``"24h"``, ``"7d"``, ``"2w"`` (or seconds as a number) as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=float(value))
    m = _DURATION.match(str(value))
    if m is None:
        raise ValueError(f"{value!r} is not a duration; write e.g. '30s', '10m', '24h' or '7d'")
    return timedelta(seconds=float(m.group(1)) * _UNIT_S[m.group(2)])


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
FilterValue = str | int | float | bool | list[str | int | float | bool]
ReviewReason = Literal["judge_failure", "low_confidence", "flagged", "below_pass"]
DEFAULT_REVIEW: tuple[ReviewReason, ...] = ("judge_failure", "low_confidence", "flagged")

# Filter keys as the OpenInference attribute names users know, mapped onto production-log columns.
ATTRIBUTE_COLUMNS = {
    "llm.model_name": "model",
    "session.id": "session_id",
    "user.id": "user_id",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """Where production traffic is read from, and how far back."""

    kind: Literal["phoenix", "log"]
    project: str | None = None  # phoenix: the application's project
    url: str | None = None  # phoenix: base URL (else PHOENIX_COLLECTOR_ENDPOINT, else 127.0.0.1:6006)
    path: str | None = None  # log: a .jsonl production log or a .parquet file/folder of its rows
    start: Duration = timedelta(hours=24)  # first run (no checkpoint): how far back to begin
    lookback: Duration = timedelta(minutes=10)  # re-read before the checkpoint for late spans
    settle: Duration = timedelta(seconds=30)  # leave the newest spans: Phoenix ingests asynchronously
    page_limit: int = Field(default=1000, ge=10, le=100_000)  # spans per Phoenix read
    strict: bool = False  # log: a corrupt line stops the run (default: skipped, counted and named)

    @model_validator(mode="after")
    def _where(self) -> SourceConfig:
        if self.kind == "phoenix" and not self.project:
            raise ValueError("[source] kind = 'phoenix' needs project = '<the application's Phoenix project>'")
        if self.kind == "log" and not self.path:
            raise ValueError("[source] kind = 'log' needs path = 'logs/prod.jsonl' (or a .parquet file/folder)")
        return self


class PhoenixConfig(_Strict):
    """Write-back to Phoenix: annotations on the application's spans, judge spans in their own project."""

    url: str | None = None  # default: [source] url, else PHOENIX_COLLECTOR_ENDPOINT, else 127.0.0.1:6006
    annotate: bool = True
    # true: Phoenix stores the annotations before answering (the checkpoint moves past stored verdicts only);
    # false: Phoenix queues them (about 3x the write rate; a Phoenix crash can then lose the last ones)
    sync_annotations: bool = True
    judge_project: str | None = "monitor-judges"  # "" or absent key with annotate-only: judges untraced
    timeout_s: float = Field(default=10.0, gt=0)
    retry_budget_s: float = Field(default=60.0, ge=0)


class JudgeSection(_Strict):
    """The judge model, as in ``evalharness.toml``'s ``[judge]`` (see judges/config.py)."""

    model: str = "local"
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"
    max_concurrency: int = Field(default=16, ge=1)
    requests_per_minute: float | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=5, ge=0)
    n_ctx: int = 4096
    cache: str | None = ".evalharness/cache.sqlite"  # "off" for none


class AlertConfig(_Strict):
    """When an evaluator's quality in the current window makes the run exit 1."""

    min_mean_score: float | None = None  # the mean's CI lies wholly below it
    max_fail_rate: float | None = Field(default=None, ge=0, le=1)  # the fail rate's CI lies wholly above it
    on_change: bool = True  # the mean fell or the fail rate rose significantly against the reference


class EvaluatorConfig(_Strict):
    """One online evaluator: which spans, which judge and criterion, how many, what a verdict triggers."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$")
    judge: Literal["pointwise", "geval"] = "pointwise"
    criterion: str | None = None  # default: name
    rubric: str | None = None  # pointwise (required); geval: the criterion's description
    steps: list[str] | None = None  # geval: pinned evaluation steps (else generated once and stored)
    scale: tuple[int, int] = (1, 5)
    version: str = "1"  # bump it to judge already-judged traces again (a backfill then re-judges)
    sample_rate: float | None = Field(default=None, ge=0, le=1)
    target_ci_width: float | None = Field(default=None, gt=0)  # full width of the daily mean's 95% CI
    daily_traces: int | None = Field(default=None, ge=1)  # for target_ci_width; else estimated
    score_sd: float | None = Field(default=None, gt=0)  # for target_ci_width; else estimated or bounded
    where: dict[str, FilterValue] = Field(default_factory=dict)
    annotate: bool = True
    review: list[ReviewReason] = Field(default_factory=lambda: list(DEFAULT_REVIEW))
    pass_threshold: float | None = None  # default: the middle of the scale
    max_entropy_bits: float | None = 1.5
    alert: AlertConfig = Field(default_factory=AlertConfig)

    @model_validator(mode="after")
    def _check(self) -> EvaluatorConfig:
        if (self.sample_rate is None) == (self.target_ci_width is None):
            raise ValueError(f"evaluator {self.name!r}: set exactly one of sample_rate or target_ci_width")
        if self.scale[1] <= self.scale[0]:
            raise ValueError(f"evaluator {self.name!r}: scale must be [low, high] with low < high")
        if self.judge == "pointwise" and not self.rubric:
            raise ValueError(f"evaluator {self.name!r}: a pointwise judge needs rubric = '...'")
        if self.judge == "geval" and not (self.rubric or self.steps):
            raise ValueError(f"evaluator {self.name!r}: a geval judge needs rubric (the criterion) or steps")
        if self.name == "note":
            raise ValueError("evaluator name 'note' is reserved by Phoenix; choose another")
        return self

    @property
    def metric(self) -> str:
        """What the evaluator measures: the review queue's criterion."""
        return self.criterion or self.name

    @property
    def pass_at(self) -> float:
        """Scores below this are failures (default: the middle of the scale)."""
        return self.pass_threshold if self.pass_threshold is not None else (self.scale[0] + self.scale[1]) / 2


class ScoresConfig(_Strict):
    path: str | None = None  # default: <state_dir>/scores


class ReviewConfig(_Strict):
    store: str | None = None  # SQLite path or SQLAlchemy URL of the review store; None: no queue step
    audit_rate: float = Field(default=0.0, ge=0, le=1)  # also queue this share of the rows read
    audit_stratify_by: str | None = None
    ui_url: str | None = None  # Phoenix URL shown to reviewers (default: the Phoenix url)


class QualityConfig(_Strict):
    """The judge-score series and its tests: current window against the reference before it."""

    bucket: Literal["1h", "1d"] = "1d"
    current: Duration = timedelta(days=1)
    reference: Duration = timedelta(days=7)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    slice_by: list[str] = Field(default_factory=lambda: ["model", "topic", "language"])
    min_n: int = Field(default=30, ge=2)  # fewer verdicts than this on either side: "too little data"


class DriftSection(_Strict):
    """The production drift report over the current window (``drift.report``), when a reference is given."""

    reference: str | None = None
    config: str | None = None
    window: str | None = "1h"


class TopicsSection(_Strict):
    """The topic model (``python -m monitor topics``) and its use in the scheduled run."""

    model: str | None = None  # default: <state_dir>/topics.json
    min_size: int = Field(default=8, ge=2)
    merge_distance: float = Field(default=0.5, gt=0, lt=2)
    fit_sample: int = Field(default=8_000, ge=10, le=20_000)
    drift: bool = True  # when the model exists, each input's topic is a drift feature (input_topic)


class MonitorConfig(_Strict):
    """The whole ``monitor.toml``."""

    state_dir: str = ".evalharness/monitor"
    reports_dir: str = "reports/monitor"
    batch_size: int = Field(default=128, ge=1, le=100_000)
    source: SourceConfig
    phoenix: PhoenixConfig = Field(default_factory=PhoenixConfig)
    judge: JudgeSection = Field(default_factory=JudgeSection)
    scores: ScoresConfig = Field(default_factory=ScoresConfig)
    review: ReviewConfig = Field(default_factory=ReviewConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    drift: DriftSection = Field(default_factory=DriftSection)
    topics: TopicsSection = Field(default_factory=TopicsSection)
    evaluator: list[EvaluatorConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> MonitorConfig:
        names = [e.name for e in self.evaluator]
        if len(set(names)) != len(names):
            raise ValueError(f"evaluator names must be unique, got {names}")
        judge_project = self.phoenix.judge_project
        if judge_project and self.source.kind == "phoenix" and judge_project == self.source.project:
            raise ValueError(f"[phoenix] judge_project {judge_project!r} is the application's own project; "
                             "judge spans must go to a project of their own")
        return self

    @property
    def scores_path(self) -> Path:
        return Path(self.scores.path or Path(self.state_dir) / "scores")

    @property
    def phoenix_url(self) -> str | None:
        return self.phoenix.url or self.source.url


_PATH_FIELDS = (("state_dir",), ("reports_dir",), ("source", "path"), ("scores", "path"), ("review", "store"),
                ("drift", "reference"), ("drift", "config"), ("judge", "cache"), ("topics", "model"))


def _anchor_paths(raw: dict[str, Any], folder: Path) -> None:
    """Make relative paths relative to the config file's folder (URLs and "off" stay as they are)."""
    for keys in _PATH_FIELDS:
        table: Any = raw
        for k in keys[:-1]:
            table = table.get(k) if isinstance(table.get(k), dict) else {}
        value = table.get(keys[-1])
        if (isinstance(value, str) and value and "://" not in value and value.lower() not in ("off", "none")
                and not os.path.isabs(value)):
            table[keys[-1]] = str(folder / value)


def load_config(path: str | os.PathLike[str]) -> MonitorConfig:
    """Read and validate ``monitor.toml``; raises :class:`ConfigError` naming the file and the field."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {p} does not exist; write one as in docs/monitoring.md") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from exc
    _anchor_paths(raw, p.resolve().parent)
    return config_from_dict(raw, where=str(p))


def config_from_dict(raw: dict[str, Any], *, where: str = "config") -> MonitorConfig:
    """Validate an already-parsed config (paths are used as given)."""
    try:
        return MonitorConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(x) for x in first["loc"]) or "(top level)"
        raise ConfigError(f"{where}: field {field!r}: {first['msg']}") from exc
