"""The report's configuration (a JSON or TOML file), validated with pydantic at the edge."""

from __future__ import annotations

import json
import os
import tomllib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError


class ThresholdConfig(BaseModel):
    """Per-method thresholds (see drift.numeric for the references)."""

    model_config = ConfigDict(extra="forbid")
    psi: float = Field(default=0.1, gt=0)
    js: float = Field(default=0.1, gt=0)
    ks: float = Field(default=0.05, gt=0, lt=1)
    chi2: float = Field(default=0.05, gt=0, lt=1)
    mmd: float = Field(default=0.05, gt=0, lt=1)


class DriftConfig(BaseModel):
    """What to compare and how. Column lists left as ``None`` are inferred: LLM logs get the LLM
    features (drift.features), other tables numeric/categorical columns by dtype."""

    model_config = ConfigDict(extra="forbid")
    numeric: list[str] | None = None
    categorical: list[str] | None = None
    embed_text: list[str] = Field(default_factory=list, description="text columns to embed, e.g. ['prompt']")
    bins: int = Field(default=10, ge=2, le=1000)
    share_threshold: float = Field(default=0.5, gt=0, le=1)
    primary: str = Field(default="psi", pattern="^(psi|js|ks|chi2)$")
    thresholds: ThresholdConfig = Field(default_factory=ThresholdConfig)
    window: str | None = None
    time_column: str = "timestamp"
    label_column: str = "label"
    judge_score_column: str = "judge_score"
    judge_pass_threshold: float = 0.5
    max_embed_rows: int = Field(default=2000, ge=10)


def load_config(path: str | os.PathLike[str] | None) -> DriftConfig:
    """Read a ``.json`` or ``.toml`` config; ``None`` gives the defaults."""
    if path is None:
        return DriftConfig()
    p = os.fspath(path)
    try:
        with open(p, "rb") as fh:
            raw: Any = tomllib.load(fh) if p.endswith(".toml") else json.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {p!r} does not exist") from exc
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config file {p!r} is not valid {'TOML' if p.endswith('.toml') else 'JSON'}: {exc}") from exc
    try:
        return DriftConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"config file {p!r}: field {where!r}: {first['msg']} (got {first.get('input')!r})") from exc
