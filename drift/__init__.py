"""Drift detection over logged LLM production data: PSI, KS, JS, categorical and embedding drift,
detectors fitted on a reference, windows over time, concept drift from labels, and a scheduled
report (``python -m drift report``). Verdicts are size-aware (:class:`Decision`: significance at the
observed sample sizes, Holm across features, an effect floor, "insufficient data"). Heavy dependencies
(pandas, duckdb, torch, evidently) are imported only where used."""

from embed import TextEmbedder

from .categorical import chi2, js_categorical, psi_categorical
from .chunked import drift_parquet, summarize_parquet
from .concept import ConceptWindow, concept_drift, two_proportion_ztest, wilson_interval
from .decision import Decision, MinEffect, Thresholds
from .detectors import (
    CategoricalDriftDetector,
    DatasetDriftDetector,
    EmbeddingDriftDetector,
    NumericDriftDetector,
)
from .embedding_drift import classifier_auc, mean_embedding_distance, mmd
from .errors import (
    ConfigError,
    DriftError,
    EmptyDataError,
    ExtraFailedError,
    InputFormatError,
    LowPowerWarning,
    MissingDependencyError,
    SchemaError,
)
from .features import llm_features
from .io import load_frame, prepare
from .ks_counts import KSReference, ks_from_value_counts
from .numeric import js, js_from_counts, ks, ks_from_counts, psi, psi_from_counts
from .profile import FeatureProfile, Profile
from .results import CategoricalSummary, DatasetDrift, DriftResult, FeatureDrift, NumericSummary
from .schema import Schema
from .windows import drift_over_time, ops_panel, split_windows

__all__ = [
    "CategoricalDriftDetector",
    "CategoricalSummary",
    "ConceptWindow",
    "ConfigError",
    "DatasetDrift",
    "DatasetDriftDetector",
    "Decision",
    "DriftError",
    "DriftResult",
    "EmbeddingDriftDetector",
    "EmptyDataError",
    "ExtraFailedError",
    "FeatureDrift",
    "FeatureProfile",
    "InputFormatError",
    "KSReference",
    "LowPowerWarning",
    "MinEffect",
    "MissingDependencyError",
    "NumericDriftDetector",
    "NumericSummary",
    "Profile",
    "Schema",
    "SchemaError",
    "TextEmbedder",
    "Thresholds",
    "chi2",
    "classifier_auc",
    "concept_drift",
    "drift_over_time",
    "drift_parquet",
    "js",
    "js_categorical",
    "js_from_counts",
    "ks",
    "ks_from_counts",
    "ks_from_value_counts",
    "llm_features",
    "load_frame",
    "mean_embedding_distance",
    "mmd",
    "ops_panel",
    "prepare",
    "psi",
    "psi_categorical",
    "psi_from_counts",
    "split_windows",
    "summarize_parquet",
    "two_proportion_ztest",
    "wilson_interval",
]
