"""Detectors in the style of scikit-learn: ``fit(reference)`` once, ``score(current)`` many times."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import categorical as cat
from . import numeric as num
from .binning import as_float_array, category_counts, histogram, quantile_edges, split_finite
from .decision import (
    DEFAULT_DECISION,
    Decision,
    PendingFeature,
    PendingTest,
    decide,
    verdict,
)
from .embedding_drift import as_matrix, mmd
from .errors import ConfigError, EmptyDataError, LowPowerWarning, SchemaError
from .nulls import GivenPNull
from .results import CategoricalSummary, DatasetDrift, DriftResult, FeatureDrift, NumericSummary
from .schema import Schema

logger = logging.getLogger(__name__)

NUMERIC_METHODS = ("psi", "ks", "js")
CATEGORICAL_METHODS = ("psi", "js", "chi2")


def _check_methods(methods: Sequence[str], allowed: Sequence[str], primary: str, kind: str) -> tuple[str, ...]:
    bad = [m for m in methods if m not in allowed]
    if bad:
        raise ConfigError(f"unknown {kind} drift method(s) {bad}; choose from {list(allowed)}")
    if primary not in methods:
        raise ConfigError(f"primary method {primary!r} must be one of the methods run: {list(methods)}")
    return tuple(methods)


class NumericDriftDetector:
    """Bins a numeric column at reference quantiles, then scores current windows with PSI/KS/JS.

    The verdict is the ``primary`` test's (PSI by default), decided by ``decision``: significant at these
    sample sizes (Dirichlet-multinomial or χ² null) and at least the effect floor.
    """

    def __init__(self, column: str = "value", *, bins: int = 10, methods: Sequence[str] = NUMERIC_METHODS,
                 primary: str = "psi", decision: Decision = DEFAULT_DECISION, eps: num.Eps = "auto",
                 min_samples: int = num.MIN_SAMPLES) -> None:
        self.column = column
        self.bins = bins
        self.methods = _check_methods(methods, NUMERIC_METHODS, primary, "numeric")
        self.primary = primary
        self.decision = decision
        self.eps = eps
        self.min_samples = min_samples

    def fit(self, reference: Any) -> NumericDriftDetector:
        """Learn bin edges and reference counts (and keep the sorted sample for exact KS)."""
        arr = as_float_array(reference, self.column)
        finite, n_nan, n_pos, n_neg = split_finite(arr)
        if finite.size == 0:
            raise EmptyDataError(f"reference column {self.column!r} has no finite values ({arr.size} rows); "
                                 f"fix its logging or drop it from the schema")
        # The sorted sample is kept only for exact KS; binning alone needs no sort (quantiles partition).
        ref = np.sort(finite) if "ks" in self.methods else finite
        self.sorted_reference_ = ref if "ks" in self.methods else None
        self.edges_ = quantile_edges(ref, self.bins, column=self.column)
        counts = histogram(ref, self.edges_, presorted=self.sorted_reference_ is not None)
        self.reference_summary_ = NumericSummary(tuple(self.edges_.tolist()), tuple(counts.tolist()),
                                                 n_nan, n_pos, n_neg)
        self.constant_ = bool(ref.min() == ref.max())
        return self

    def score(self, current: Any) -> FeatureDrift:
        """Compare ``current`` with the fitted reference; NaN/inf are dropped and counted."""
        return decide([[self.pending(current)]], self.decision)[0][0]

    def pending(self, current: Any) -> PendingFeature:
        """The tests of ``current`` before the family's decision (see :func:`drift.decision.decide`)."""
        if not hasattr(self, "edges_"):
            raise ConfigError(f"detector for {self.column!r} is not fitted; call fit(reference) first")
        arr = as_float_array(current, self.column)
        finite, n_nan, n_pos, n_neg = split_finite(arr)
        dropped = {"nan": n_nan, "posinf": n_pos, "neginf": n_neg}
        ref_sum = self.reference_summary_
        if finite.size == 0:
            return PendingFeature(FeatureDrift(
                self.column, "numeric", "skipped", False, self.primary, (), ref_sum.n, 0, dropped,
                reason=f"no finite current values ({arr.size} rows)", reference_summary=ref_sum))
        notes = []
        if self.constant_:
            notes.append(f"column {self.column!r} is constant in the reference; any change shows as drift")
        msg = num.warn_low_power(ref_sum.n, finite.size, self.column, self.min_samples)
        if msg:
            notes.append(msg)
        cur = np.sort(finite) if self.sorted_reference_ is not None else finite
        cc = histogram(cur, self.edges_, presorted=self.sorted_reference_ is not None)
        rc = np.asarray(ref_sum.counts)
        tests, _ = num.binned_pending(rc, cc, self.methods, binning="reference-quantiles", decision=self.decision,
                                   eps=self.eps, column=self.column, details={"edges": list(ref_sum.edges)})
        if self.sorted_reference_ is not None:
            d, p = num.ks_2samp_sorted(self.sorted_reference_, cur)
            base = DriftResult("ks", d, p, num.PVALUE_THRESHOLD, False,
                               {"method": "auto", "n_reference": int(ref_sum.n), "n_current": int(finite.size)})
            tests["ks"] = PendingTest(base, d, num.ks_null((d, p), ref_sum.n, int(finite.size)))
        cur_sum = NumericSummary(ref_sum.edges, tuple(cc.tolist()), n_nan, n_pos, n_neg)
        feature = FeatureDrift(self.column, "numeric", "ok", False, self.primary, (), ref_sum.n, int(finite.size),
                               dropped, tuple(notes), None, ref_sum, cur_sum)
        return PendingFeature(feature, tuple(tests[m] for m in self.methods), df=len(rc) - 1)


class CategoricalDriftDetector:
    """Learns reference category counts, then scores current windows with PSI/JS/chi-square."""

    def __init__(self, column: str = "value", *, methods: Sequence[str] = CATEGORICAL_METHODS,
                 primary: str = "psi", decision: Decision = DEFAULT_DECISION, eps: num.Eps = "auto",
                 min_samples: int = num.MIN_SAMPLES) -> None:
        self.column = column
        self.methods = _check_methods(methods, CATEGORICAL_METHODS, primary, "categorical")
        self.primary = primary
        self.decision = decision
        self.eps = eps
        self.min_samples = min_samples

    def fit(self, reference: Any) -> CategoricalDriftDetector:
        """Learn the reference vocabulary and counts (from values, or a :class:`CategoricalSummary`)."""
        s = reference if isinstance(reference, CategoricalSummary) else category_counts(reference, column=self.column)
        if s.n == 0:
            raise EmptyDataError(f"reference column {self.column!r} has only missing values ({s.n_missing}); "
                                 f"fix its logging or drop it from the schema")
        self.reference_summary_ = s
        self.vocabulary_ = tuple(s.counts)
        return self

    def score(self, current: Any) -> FeatureDrift:
        """Compare ``current`` with the fitted reference; unseen categories are reported."""
        return decide([[self.pending(current)]], self.decision)[0][0]

    def pending(self, current: Any) -> PendingFeature:
        """The tests of ``current`` before the family's decision (see :func:`drift.decision.decide`)."""
        if not hasattr(self, "reference_summary_"):
            raise ConfigError(f"detector for {self.column!r} is not fitted; call fit(reference) first")
        cur = current if isinstance(current, CategoricalSummary) else category_counts(current, column=self.column)
        ref = self.reference_summary_
        dropped = {"missing": cur.n_missing}
        if cur.n == 0:
            return PendingFeature(FeatureDrift(
                self.column, "categorical", "skipped", False, self.primary, (), ref.n, 0, dropped,
                reason=f"all {cur.n_missing} current values missing", reference_summary=ref))
        notes = []
        if min(ref.n, cur.n) < self.min_samples:
            notes.append(f"column {self.column!r}: only {ref.n} reference / {cur.n} current values; low power")
            warnings.warn(notes[0], LowPowerWarning, stacklevel=2)
        tests, info = cat.categorical_pending(ref, cur, self.methods, decision=self.decision, eps=self.eps,
                                              column=self.column)
        if info["unseen"]:
            notes.append(f"column {self.column!r}: {len(info['unseen'])} categories unseen in the reference: "
                         f"{', '.join(map(str, info['unseen'][:10]))}")
        feature = FeatureDrift(self.column, "categorical", "ok", False, self.primary, (), ref.n, cur.n, dropped,
                               tuple(notes), None, ref, cur)
        return PendingFeature(feature, tests, df=max(len(ref.counts) - 1, 1))


class EmbeddingDriftDetector:
    """Keeps (a subsample of) reference embeddings and tests current ones with MMD (permutation p-value).

    The smallest possible p-value is ``1 / (n_permutations + 1)``: in a family of k features Holm may need
    ``alpha / k``, so use at least ``2 k / alpha`` permutations (the report does).
    """

    def __init__(self, column: str = "embedding", *, n_permutations: int = 200, max_samples: int = 1000,
                 decision: Decision = DEFAULT_DECISION, seed: int = 0) -> None:
        self.column = column
        self.n_permutations = n_permutations
        self.max_samples = max_samples
        self.decision = decision
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
        return decide([[self.pending(current)]], self.decision)[0][0]

    def pending(self, current: Any) -> PendingFeature:
        """The MMD test of ``current`` before the family's decision."""
        if not hasattr(self, "reference_"):
            raise ConfigError(f"detector for {self.column!r} is not fitted; call fit(reference) first")
        r = mmd(self.reference_, current, n_permutations=self.n_permutations, max_samples=self.max_samples,
                threshold=self.decision.thresholds.mmd, seed=self.seed, column=self.column)
        feature = FeatureDrift(self.column, "embedding", "ok", False, "mmd", (), self.n_reference_,
                               int(r.details["n_current"]))
        return PendingFeature(feature, (PendingTest(r, r.statistic, GivenPNull(float(r.pvalue or 1.0))),))


class DatasetDriftDetector:
    """Fits one detector per schema column and decides the dataset as one family (see
    :class:`drift.DatasetDrift`): under the calibrated rule the dataset drifts when any feature drifts after
    Holm's correction (and, with ``share_threshold``, at least that share); under ``decision=drift.fixed()``
    when the share of drifted features reaches ``share_threshold`` (0.5, Evidently's default)."""

    def __init__(self, schema: Schema, *, bins: int = 10, share_threshold: float | None = None,
                 decision: Decision = DEFAULT_DECISION, numeric_methods: Sequence[str] = NUMERIC_METHODS,
                 categorical_methods: Sequence[str] = CATEGORICAL_METHODS, primary: str = "psi",
                 min_samples: int = num.MIN_SAMPLES) -> None:
        if share_threshold is not None and not 0 < share_threshold <= 1:
            raise ConfigError(f"share_threshold must be in (0, 1], got {share_threshold!r}")
        if not schema.columns:
            raise SchemaError("the schema lists no feature columns; name numeric/categorical/embedding columns")
        self.schema = schema
        self.bins = bins
        self.share_threshold = share_threshold
        self.decision = decision
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
                                           decision=self.decision, min_samples=self.min_samples)
            elif kind == "categorical":
                det = CategoricalDriftDetector(col, methods=self.categorical_methods, primary=self.primary,
                                               decision=self.decision, min_samples=self.min_samples)
            else:
                det = EmbeddingDriftDetector(col, decision=self.decision)
            try:
                self.detectors_[col] = det.fit(reference[col])
            except EmptyDataError as exc:
                # Not a log warning: the skip and its reason are in the result and the report.
                logger.info("skipping column %s: %s", col, exc)
                self.skipped_[col] = str(exc)
        self.n_reference_rows_ = len(reference)
        return self

    def score(self, current: Any) -> DatasetDrift:
        """Score every column of ``current`` and return the dataset-level verdict."""
        return self.score_series([current])[0]

    def score_series(self, frames: Sequence[Any]) -> list[DatasetDrift]:
        """Score several windows as one family: Holm's correction runs over every feature of every window,
        so under no drift the chance that *any* window alarms is at most ``decision.alpha``."""
        pending = [self.pending(f) for f in frames]
        decided = decide([p for p, _ in pending], self.decision)
        return [verdict(feats, self.decision, share_threshold=self.share_threshold,
                        n_reference_rows=self.n_reference_rows_, n_current_rows=len(frame),
                        notes=[*notes, *(w for f in feats for w in f.warnings)])
                for frame, feats, (_, notes) in zip(frames, decided, pending, strict=True)]

    def pending(self, current: Any) -> tuple[list[PendingFeature], list[str]]:
        """Every column's tests of ``current`` before the decision, and notes on skipped columns."""
        if not hasattr(self, "detectors_"):
            raise ConfigError("DatasetDriftDetector is not fitted; call fit(reference) first")
        if len(current) == 0:
            raise EmptyDataError("the current window has no rows; widen the window or check the data source")
        self._check_columns(current, "current")
        features: list[PendingFeature] = []
        notes: list[str] = []
        for col in self.schema.columns:
            if col in self.skipped_:
                features.append(PendingFeature(FeatureDrift(col, self.schema.kind_of(col), "skipped", False,  # type: ignore[arg-type]
                                                            None, reason=self.skipped_[col])))
                notes.append(f"column {col!r} skipped: {self.skipped_[col]}")
                continue
            pf = self.detectors_[col].pending(current[col])
            features.append(pf)
            if pf.feature.status == "skipped":
                notes.append(f"column {col!r} skipped: {pf.feature.reason}")
        return features, notes
