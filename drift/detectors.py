"""Detectors in the style of scikit-learn: ``fit(reference)`` once, ``score(current)`` many times."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import categorical as cat
from . import numeric as num
from .binning import as_float_array, category_counts, histogram, quantile_edges, split_finite
from .embedding_drift import as_matrix, mmd
from .errors import ConfigError, EmptyDataError, LowPowerWarning, SchemaError
from .results import DatasetDrift, DriftResult, FeatureDrift, NumericSummary
from .schema import Schema

logger = logging.getLogger(__name__)

NUMERIC_METHODS = ("psi", "ks", "js")
CATEGORICAL_METHODS = ("psi", "js", "chi2")
#: Evidently's default too: the dataset drifts when half of the features drift.
SHARE_THRESHOLD = 0.5


@dataclass(frozen=True)
class Thresholds:
    """Per-method thresholds; see :mod:`drift.numeric` for the references behind the defaults."""

    psi: float = num.PSI_THRESHOLD
    js: float = num.JS_THRESHOLD
    ks: float = num.PVALUE_THRESHOLD
    chi2: float = num.PVALUE_THRESHOLD
    mmd: float = num.PVALUE_THRESHOLD


#: The default thresholds (a frozen instance, safe to share).
DEFAULT_THRESHOLDS = Thresholds()


def _check_methods(methods: Sequence[str], allowed: Sequence[str], primary: str, kind: str) -> tuple[str, ...]:
    bad = [m for m in methods if m not in allowed]
    if bad:
        raise ConfigError(f"unknown {kind} drift method(s) {bad}; choose from {list(allowed)}")
    if primary not in methods:
        raise ConfigError(f"primary method {primary!r} must be one of the methods run: {list(methods)}")
    return tuple(methods)


class NumericDriftDetector:
    """Bins a numeric column at reference quantiles, then scores current windows with PSI/KS/JS.

    The verdict is the ``primary`` test's (PSI by default: KS p-values become significant for
    negligible shifts once windows hold many thousands of rows).
    """

    def __init__(self, column: str = "value", *, bins: int = 10, methods: Sequence[str] = NUMERIC_METHODS,
                 primary: str = "psi", thresholds: Thresholds = DEFAULT_THRESHOLDS, eps: num.Eps = "auto",
                 min_samples: int = num.MIN_SAMPLES) -> None:
        self.column = column
        self.bins = bins
        self.methods = _check_methods(methods, NUMERIC_METHODS, primary, "numeric")
        self.primary = primary
        self.thresholds = thresholds
        self.eps = eps
        self.min_samples = min_samples

    def fit(self, reference: Any) -> NumericDriftDetector:
        """Learn bin edges and reference counts (and keep the sorted sample for exact KS)."""
        arr = as_float_array(reference, self.column)
        finite, n_nan, n_pos, n_neg = split_finite(arr)
        if finite.size == 0:
            raise EmptyDataError(f"reference column {self.column!r} has no finite values ({arr.size} rows); "
                                 f"fix its logging or drop it from the schema")
        self.sorted_reference_ = np.sort(finite)
        self.edges_ = quantile_edges(self.sorted_reference_, self.bins, column=self.column)
        counts = histogram(self.sorted_reference_, self.edges_, presorted=True)
        self.reference_summary_ = NumericSummary(tuple(self.edges_.tolist()), tuple(counts.tolist()),
                                                 n_nan, n_pos, n_neg)
        self.constant_ = bool(self.sorted_reference_[0] == self.sorted_reference_[-1])
        return self

    def score(self, current: Any) -> FeatureDrift:
        """Compare ``current`` with the fitted reference; NaN/inf are dropped and counted."""
        if not hasattr(self, "edges_"):
            raise ConfigError(f"detector for {self.column!r} is not fitted; call fit(reference) first")
        arr = as_float_array(current, self.column)
        finite, n_nan, n_pos, n_neg = split_finite(arr)
        dropped = {"nan": n_nan, "posinf": n_pos, "neginf": n_neg}
        ref_sum = self.reference_summary_
        if finite.size == 0:
            return FeatureDrift(self.column, "numeric", "skipped", False, self.primary, (), ref_sum.n, 0, dropped,
                                reason=f"no finite current values ({arr.size} rows)", reference_summary=ref_sum)
        notes = []
        if self.constant_:
            notes.append(f"column {self.column!r} is constant in the reference; any change shows as drift")
        msg = num.warn_low_power(ref_sum.n, finite.size, self.column, self.min_samples)
        if msg:
            notes.append(msg)
        cur_sorted = np.sort(finite)
        cc = histogram(cur_sorted, self.edges_, presorted=True)
        rc = np.asarray(ref_sum.counts)
        edges = {"edges": list(ref_sum.edges)}
        results: list[DriftResult] = []
        for m in self.methods:
            if m == "psi":
                results.append(num.psi_from_counts(rc, cc, eps=self.eps, threshold=self.thresholds.psi,
                                                   column=self.column, details=edges))
            elif m == "js":
                results.append(num.js_from_counts(rc, cc, threshold=self.thresholds.js, column=self.column,
                                                  details=edges))
            else:
                results.append(_ks_sorted(self.sorted_reference_, cur_sorted, self.thresholds.ks))
        cur_sum = NumericSummary(ref_sum.edges, tuple(cc.tolist()), n_nan, n_pos, n_neg)
        primary = next(r for r in results if r.method == self.primary)
        return FeatureDrift(self.column, "numeric", "ok", primary.drifted, self.primary, tuple(results),
                            ref_sum.n, int(finite.size), dropped, tuple(notes), None, ref_sum, cur_sum)


def _ks_sorted(ref_sorted: np.ndarray, cur_sorted: np.ndarray, threshold: float) -> DriftResult:
    d, p = num.ks_2samp_sorted(ref_sorted, cur_sorted)
    return DriftResult("ks", d, p, threshold, bool(p < threshold),
                       {"method": "auto", "n_reference": int(ref_sorted.size), "n_current": int(cur_sorted.size)})


class CategoricalDriftDetector:
    """Learns reference category counts, then scores current windows with PSI/JS/chi-square."""

    def __init__(self, column: str = "value", *, methods: Sequence[str] = CATEGORICAL_METHODS,
                 primary: str = "psi", thresholds: Thresholds = DEFAULT_THRESHOLDS, eps: num.Eps = "auto",
                 min_samples: int = num.MIN_SAMPLES) -> None:
        self.column = column
        self.methods = _check_methods(methods, CATEGORICAL_METHODS, primary, "categorical")
        self.primary = primary
        self.thresholds = thresholds
        self.eps = eps
        self.min_samples = min_samples

    def fit(self, reference: Any) -> CategoricalDriftDetector:
        """Learn the reference vocabulary and counts."""
        s = category_counts(reference, column=self.column)
        if s.n == 0:
            raise EmptyDataError(f"reference column {self.column!r} has only missing values ({s.n_missing}); "
                                 f"fix its logging or drop it from the schema")
        self.reference_summary_ = s
        self.vocabulary_ = tuple(s.counts)
        return self

    def score(self, current: Any) -> FeatureDrift:
        """Compare ``current`` with the fitted reference; unseen categories are reported."""
        if not hasattr(self, "reference_summary_"):
            raise ConfigError(f"detector for {self.column!r} is not fitted; call fit(reference) first")
        cur = category_counts(current, column=self.column)
        ref = self.reference_summary_
        dropped = {"missing": cur.n_missing}
        if cur.n == 0:
            return FeatureDrift(self.column, "categorical", "skipped", False, self.primary, (), ref.n, 0, dropped,
                                reason=f"all {cur.n_missing} current values missing", reference_summary=ref)
        notes = []
        if min(ref.n, cur.n) < self.min_samples:
            notes.append(f"column {self.column!r}: only {ref.n} reference / {cur.n} current values; low power")
        with warnings.catch_warnings():
            # The low-power warning is raised once below, not once per test.
            warnings.simplefilter("ignore", LowPowerWarning)
            results = []
            for m in self.methods:
                if m == "psi":
                    results.append(cat.psi_categorical(ref, cur, eps=self.eps, threshold=self.thresholds.psi,
                                                       column=self.column))
                elif m == "js":
                    results.append(cat.js_categorical(ref, cur, threshold=self.thresholds.js, column=self.column))
                else:
                    results.append(cat.chi2(ref, cur, threshold=self.thresholds.chi2, column=self.column))
        if notes:
            warnings.warn(notes[0], LowPowerWarning, stacklevel=2)
        unseen = results[0].details.get("unseen", [])
        if unseen:
            notes.append(f"column {self.column!r}: {len(unseen)} categories unseen in the reference: "
                         f"{', '.join(map(str, unseen[:10]))}")
        primary = next(r for r in results if r.method == self.primary)
        return FeatureDrift(self.column, "categorical", "ok", primary.drifted, self.primary, tuple(results),
                            ref.n, cur.n, dropped, tuple(notes), None, ref, cur)


class EmbeddingDriftDetector:
    """Keeps (a subsample of) reference embeddings and tests current ones with MMD."""

    def __init__(self, column: str = "embedding", *, n_permutations: int = 200, max_samples: int = 1000,
                 thresholds: Thresholds = DEFAULT_THRESHOLDS, seed: int = 0) -> None:
        self.column = column
        self.n_permutations = n_permutations
        self.max_samples = max_samples
        self.thresholds = thresholds
        self.seed = seed

    def fit(self, reference: Any) -> EmbeddingDriftDetector:
        """Store up to ``max_samples`` reference vectors."""
        x = as_matrix(reference, self.column)
        rng = np.random.default_rng(self.seed)
        self.n_reference_ = int(x.shape[0])
        self.reference_ = x[rng.choice(x.shape[0], self.max_samples, replace=False)] if x.shape[0] > self.max_samples else x
        return self

    def score(self, current: Any) -> FeatureDrift:
        """MMD permutation test of ``current`` against the stored reference vectors."""
        if not hasattr(self, "reference_"):
            raise ConfigError(f"detector for {self.column!r} is not fitted; call fit(reference) first")
        r = mmd(self.reference_, current, n_permutations=self.n_permutations, max_samples=self.max_samples,
                threshold=self.thresholds.mmd, seed=self.seed, column=self.column)
        return FeatureDrift(self.column, "embedding", "ok", r.drifted, "mmd", (r,), self.n_reference_,
                            int(r.details["n_current"]))


class DatasetDriftDetector:
    """Fits one detector per schema column; the dataset drifts when the share of drifted features
    (among those that could be scored) reaches ``share_threshold`` (0.5, Evidently's default)."""

    def __init__(self, schema: Schema, *, bins: int = 10, share_threshold: float = SHARE_THRESHOLD,
                 thresholds: Thresholds = DEFAULT_THRESHOLDS, numeric_methods: Sequence[str] = NUMERIC_METHODS,
                 categorical_methods: Sequence[str] = CATEGORICAL_METHODS, primary: str = "psi",
                 min_samples: int = num.MIN_SAMPLES) -> None:
        if not 0 < share_threshold <= 1:
            raise ConfigError(f"share_threshold must be in (0, 1], got {share_threshold!r}")
        if not schema.columns:
            raise SchemaError("the schema lists no feature columns; name numeric/categorical/embedding columns")
        self.schema = schema
        self.bins = bins
        self.share_threshold = share_threshold
        self.thresholds = thresholds
        self.numeric_methods = tuple(numeric_methods)
        self.categorical_methods = tuple(categorical_methods)
        self.primary = primary
        self.min_samples = min_samples

    def _check_columns(self, frame: Any, which: str) -> None:
        missing = [c for c in self.schema.columns if c not in frame.columns]
        if missing:
            raise SchemaError(f"{which} data lacks schema column(s) {missing}; present: {list(frame.columns)[:20]}. "
                              f"Log these columns or remove them from the schema")

    def fit(self, reference: Any) -> DatasetDriftDetector:
        """Fit every column's detector on the reference frame; all-missing columns are skipped."""
        self._check_columns(reference, "reference")
        self.detectors_: dict[str, Any] = {}
        self.skipped_: dict[str, str] = {}
        for col in self.schema.columns:
            kind = self.schema.kind_of(col)
            det: Any
            if kind == "numeric":
                det = NumericDriftDetector(col, bins=self.bins, methods=self.numeric_methods, primary=self.primary,
                                           thresholds=self.thresholds, min_samples=self.min_samples)
            elif kind == "categorical":
                det = CategoricalDriftDetector(col, methods=self.categorical_methods, primary=self.primary,
                                               thresholds=self.thresholds, min_samples=self.min_samples)
            else:
                det = EmbeddingDriftDetector(col, thresholds=self.thresholds)
            try:
                self.detectors_[col] = det.fit(reference[col])
            except EmptyDataError as exc:
                logger.warning("skipping column %s: %s", col, exc)
                self.skipped_[col] = str(exc)
        self.n_reference_rows_ = len(reference)
        return self

    def score(self, current: Any) -> DatasetDrift:
        """Score every column of ``current`` and return the dataset-level verdict."""
        if not hasattr(self, "detectors_"):
            raise ConfigError("DatasetDriftDetector is not fitted; call fit(reference) first")
        if len(current) == 0:
            raise EmptyDataError("the current window has no rows; widen the window or check the data source")
        self._check_columns(current, "current")
        features: list[FeatureDrift] = []
        notes: list[str] = []
        for col in self.schema.columns:
            if col in self.skipped_:
                features.append(FeatureDrift(col, self.schema.kind_of(col), "skipped", False, None,  # type: ignore[arg-type]
                                             reason=self.skipped_[col]))
                notes.append(f"column {col!r} skipped: {self.skipped_[col]}")
                continue
            f = self.detectors_[col].score(current[col])
            features.append(f)
            notes.extend(f.warnings)
            if f.status == "skipped":
                notes.append(f"column {col!r} skipped: {f.reason}")
        scored = [f for f in features if f.status == "ok"]
        n_drifted = sum(f.drifted for f in scored)
        share = n_drifted / len(scored) if scored else 0.0
        if not scored:
            notes.append("no column could be scored; the verdict 'no drift' means nothing here")
        return DatasetDrift(bool(scored) and share >= self.share_threshold, share, self.share_threshold,
                            len(scored), n_drifted, tuple(features), self.n_reference_rows_, len(current),
                            tuple(notes))
