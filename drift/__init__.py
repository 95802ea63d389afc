"""Drift detection over logged LLM production data: PSI, KS, JS, categorical and embedding drift,
detectors fitted on a reference, windows over time, concept drift from labels, and a scheduled
report (``python -m drift report``). Heavy dependencies (pandas, duckdb, torch, evidently) are
imported only where used."""

from .categorical import chi2, js_categorical, psi_categorical
from .chunked import drift_parquet, summarize_parquet
from .concept import ConceptWindow, concept_drift, two_proportion_ztest, wilson_interval
from .detectors import (
    CategoricalDriftDetector,
    DatasetDriftDetector,
    EmbeddingDriftDetector,
    NumericDriftDetector,
    Thresholds,
)
from .embedding import classifier_auc, mean_embedding_distance, mmd
from .embeddings import TextEmbedder
from .errors import (
    ConfigError,
    DataQualityWarning,
    DriftError,
    EmptyDataError,
    InputFormatError,
    LowPowerWarning,
    MissingDependencyError,
    SchemaError,
)
from .features import llm_features, spans_to_log
from .io import load_frame, prepare
from .numeric import js, js_from_counts, ks, ks_from_counts, psi, psi_from_counts
from .phoenix import load_phoenix_spans
from .results import CategoricalSummary, DatasetDrift, DriftResult, FeatureDrift, NumericSummary
from .schema import Schema
from .windows import drift_over_time, ops_panel, split_windows

__all__ = [
    "psi", "js", "ks", "psi_from_counts", "js_from_counts", "ks_from_counts",
    "psi_categorical", "js_categorical", "chi2",
    "mmd", "classifier_auc", "mean_embedding_distance", "TextEmbedder",
    "NumericDriftDetector", "CategoricalDriftDetector", "EmbeddingDriftDetector", "DatasetDriftDetector",
    "Thresholds", "Schema",
    "DriftResult", "FeatureDrift", "DatasetDrift", "NumericSummary", "CategoricalSummary",
    "drift_parquet", "summarize_parquet",
    "split_windows", "drift_over_time", "ops_panel", "concept_drift", "ConceptWindow",
    "wilson_interval", "two_proportion_ztest",
    "load_frame", "prepare", "llm_features", "spans_to_log", "load_phoenix_spans",
    "DriftError", "SchemaError", "EmptyDataError", "InputFormatError", "ConfigError", "MissingDependencyError",
    "LowPowerWarning", "DataQualityWarning",
]
