"""Drift detection over logged LLM production data: PSI, KS, JS, categorical and embedding drift,
detectors fitted on a reference, windows over time, concept drift from labels, and a scheduled
report (``python -m drift report``). Verdicts are size-aware (:class:`Decision`: significance at the
observed sample sizes, Holm across features, an effect floor, "insufficient data"). Heavy dependencies
(pandas, duckdb, torch, evidently) are imported only where used."""

from .categorical import chi2, js_categorical, psi_categorical
from .chunked import drift_parquet
from .concept import two_proportion_ztest, wilson_interval
from .decision import Decision, MinEffect
from .detectors import (
    DatasetDriftDetector,
    EmbeddingDriftDetector,
    NumericDriftDetector,
)
from .embedding_drift import classifier_auc, mean_embedding_distance, mmd
from .errors import (
    ConfigError,
    DriftError,
    EmptyDataError,
    InputFormatError,
    LowPowerWarning,
    SchemaError,
)
from .io import load_frame, prepare
from .numeric import js, js_from_counts, ks, ks_from_counts, psi, psi_from_counts
from .profile import Profile
from .results import CategoricalSummary
from .schema import Schema
from .windows import drift_over_time, ops_panel, split_windows

__all__ = [
    "CategoricalSummary",
    "ConfigError",
    "DatasetDriftDetector",
    "Decision",
    "DriftError",
    "EmbeddingDriftDetector",
    "EmptyDataError",
    "InputFormatError",
    "LowPowerWarning",
    "MinEffect",
    "NumericDriftDetector",
    "Profile",
    "Schema",
    "SchemaError",
    "chi2",
    "classifier_auc",
    "drift_over_time",
    "drift_parquet",
    "js",
    "js_categorical",
    "js_from_counts",
    "ks",
    "ks_from_counts",
    "load_frame",
    "mean_embedding_distance",
    "mmd",
    "ops_panel",
    "prepare",
    "psi",
    "psi_categorical",
    "psi_from_counts",
    "split_windows",
    "two_proportion_ztest",
    "wilson_interval",
]
