"""The report's configuration (a JSON or TOML file), validated with pydantic at the edge."""

from __future__ import annotations

import json
import os
import tomllib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .decision import Decision, MinEffect, Thresholds
from .errors import ConfigError


class ThresholdConfig(BaseModel):
    """The fixed rule's per-method thresholds (see drift.decision for the references)."""

    model_config = ConfigDict(extra="forbid")
    psi: float = Field(default=0.1, gt=0)
    js: float = Field(default=0.1, gt=0)
    ks: float = Field(default=0.05, gt=0, lt=1)
    chi2: float = Field(default=0.05, gt=0, lt=1)
    mmd: float = Field(default=0.05, gt=0, lt=1)


class MinEffectConfig(BaseModel):
    """Effect-size floors of the calibrated rule (see drift.decision.MinEffect)."""

    model_config = ConfigDict(extra="forbid")
    psi: float = Field(default=0.01, ge=0)
    js: float = Field(default=0.035, ge=0)
    ks: float = Field(default=0.04, ge=0, le=1)
    chi2: float = Field(default=0.1, ge=0)
    mmd: float = Field(default=0.0, ge=0)


class DecisionConfig(BaseModel):
    """How tests become verdicts (see drift.decision.Decision and docs/drift.md)."""

    model_config = ConfigDict(extra="forbid")
    rule: str = Field(default="calibrated", pattern="^(calibrated|fixed)$")
    alpha: float = Field(default=0.05, gt=0, lt=1)
    min_effect: MinEffectConfig = Field(default_factory=MinEffectConfig)
    detectable_psi: float = Field(default=0.1, gt=0)
    power: float = Field(default=0.8, gt=0, lt=1)
    seed: int = 0


class DriftConfig(BaseModel):
    """What to compare and how. Column lists left as ``None`` are inferred: LLM logs get the LLM
    features (drift.features), other tables numeric/categorical columns by dtype."""

    model_config = ConfigDict(extra="forbid")
    numeric: list[str] | None = None
    categorical: list[str] | None = None
    embed_text: list[str] = Field(default_factory=list, description="text columns to embed, e.g. ['prompt']")
    bins: int = Field(default=10, ge=2, le=1000)
    share_threshold: float | None = Field(default=None, gt=0, le=1,
                                          description="unset: any drifted feature (calibrated), 0.5 (fixed)")
    primary: str = Field(default="psi", pattern="^(psi|js|ks|chi2)$")
    decision: DecisionConfig = Field(default_factory=DecisionConfig)
    thresholds: ThresholdConfig = Field(default_factory=ThresholdConfig)
    window: str | None = None
    time_column: str = "timestamp"
    label_column: str = "label"
    judge_score_column: str = "judge_score"
    judge_pass_threshold: float = 0.5
    max_embed_rows: int = Field(default=2000, ge=10)
    allow_missing: list[str] = Field(default_factory=list,
                                     description="features that may be missing on one side (reference or current) "
                                                 "without the report exiting 2; also --allow-missing")
    ks_max_distinct: int = Field(default=100_000, ge=0,
                                 description="a stored profile keeps exact KS value counts up to this many distinct "
                                             "values per column, else a 10,000-bin histogram; 0: no limit")

    def to_decision(self) -> Decision:
        """The :class:`drift.Decision` this config describes."""
        d = self.decision
        return Decision(rule=d.rule, alpha=d.alpha, min_effect=MinEffect(**d.min_effect.model_dump()),  # type: ignore[arg-type]
                        thresholds=Thresholds(**self.thresholds.model_dump()), detectable_psi=d.detectable_psi,
                        power=d.power, seed=d.seed)


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
