"""Detectors in the style of scikit-learn: ``fit(reference)`` once, ``score(current)`` many times."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import categorical as cat
from . import numeric as num
from .binning import (
    as_float_array,
    canonical_categories,
    category_counts,
    histogram,
    quantile_edges,
    split_finite,
)
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
from .ks_counts import KS_MAX_DISTINCT, KSReference, ks_reference, ks_result, value_counts_sorted
from .nulls import GivenPNull, KSNull
from .profile import FeatureProfile, Profile
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
        #: The KS reference of a detector built from a profile (value counts or a fine histogram).
        self.ks_reference_: KSReference | None = None
        self.edges_ = quantile_edges(ref, self.bins, column=self.column)
        counts = histogram(ref, self.edges_, presorted=self.sorted_reference_ is not None)
        self.reference_summary_ = NumericSummary(tuple(self.edges_.tolist()), tuple(counts.tolist()),
                                                 n_nan, n_pos, n_neg)
        self.constant_ = bool(ref.min() == ref.max())
        return self

    @classmethod
    def from_profile(cls, feature: FeatureProfile, **kw: Any) -> NumericDriftDetector:
        """A fitted detector from a stored :class:`drift.profile.FeatureProfile` (its edges, counts and KS
        reference); ``kw`` as the constructor."""
        if feature.numeric is None:
            raise ConfigError(f"profile feature {feature.name!r} is not numeric ({feature.kind})")
        methods = tuple(kw.pop("methods", NUMERIC_METHODS))
        if feature.ks is None:
            methods = tuple(m for m in methods if m != "ks")
        det = cls(feature.name, methods=methods, **kw)
        det.sorted_reference_ = None
        det.ks_reference_ = feature.ks if "ks" in methods else None
        det.edges_ = np.asarray(feature.numeric.edges, dtype=np.float64)
        det.bins = len(det.edges_) - 1
        det.reference_summary_ = feature.numeric
        det.constant_ = feature.constant
        return det

    def feature_profile(self, *, dtype: str = "", ks_max_distinct: int | None = KS_MAX_DISTINCT) -> FeatureProfile:
        """The stored reference of this fitted column: edges, counts and the KS reference (a fine histogram
        when it has more than ``ks_max_distinct`` distinct values; ``None``: never)."""
        ks = self.ks_reference_
        if self.sorted_reference_ is not None:
            ks = ks_reference(self.sorted_reference_, ks_max_distinct)
        elif ks is not None and ks.kind == "values" and ks_max_distinct is not None and ks.values.size > ks_max_distinct:
            ks = ks_reference(np.repeat(ks.values, ks.counts), ks_max_distinct)
        return FeatureProfile(self.column, "numeric", dtype, numeric=self.reference_summary_, ks=ks,
                              n_reference=self.reference_summary_.n, constant=self.constant_)

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
        if finite.size == 0:
            return self.pending_from_counts(None, dropped, n_rows=arr.size)
        exact_ks = self.sorted_reference_ is not None or self.ks_reference_ is not None
        cur = np.sort(finite) if exact_ks else finite
        cc = histogram(cur, self.edges_, presorted=exact_ks)
        ks_res = None
        if self.sorted_reference_ is not None:
            d, p = num.ks_2samp_sorted(self.sorted_reference_, cur)
            ks_res = DriftResult("ks", d, p, num.PVALUE_THRESHOLD, False,
                                 {"method": "auto", "n_reference": int(self.reference_summary_.n),
                                  "n_current": int(finite.size)})
        elif self.ks_reference_ is not None:
            ks = self.ks_reference_
            if ks.kind == "values":
                values, counts = value_counts_sorted(cur)
                ks_res = ks_result(ks, finite.size, cur_values=values, cur_counts=counts)
            else:
                ks_res = ks_result(ks, finite.size, cur_counts=histogram(cur, ks.values, presorted=True))
        return self.pending_from_counts(cc, dropped, ks=ks_res)

    def pending_from_counts(self, counts: Any, dropped: dict[str, int], *, ks: DriftResult | None = None,
                            n_rows: int = 0) -> PendingFeature:
        """The tests from the current's counts on the fitted edges (``None``: no finite value), its dropped
        NaN/inf counts and its undecided KS result: what any engine that can count computes."""
        ref_sum = self.reference_summary_
        if counts is None:
            return PendingFeature(FeatureDrift(
                self.column, "numeric", "skipped", False, self.primary, (), ref_sum.n, 0, dropped,
                reason=f"no finite current values ({n_rows} rows)", reference_summary=ref_sum))
        cc = np.asarray(counts, dtype=np.int64)
        n_cur = int(cc.sum())
        notes = []
        if self.constant_:
            notes.append(f"column {self.column!r} is constant in the reference; any change shows as drift")
        msg = num.warn_low_power(ref_sum.n, n_cur, self.column, self.min_samples)
        if msg:
            notes.append(msg)
        rc = np.asarray(ref_sum.counts)
        tests, _ = num.binned_pending(rc, cc, self.methods, binning="reference-quantiles", decision=self.decision,
                                   eps=self.eps, column=self.column, details={"edges": list(ref_sum.edges)})
        if "ks" in self.methods:
            if ks is None:
                raise ConfigError(f"column {self.column!r}: KS is in the methods but no KS result was given")
            n1, n2 = int(ks.details["n_reference"]), int(ks.details["n_current"])
            null = (num.ks_null((ks.statistic, float(ks.pvalue or 0.0)), n1, n2) if ks.details.get("method") == "auto"
                    else KSNull(float(ks.pvalue or 0.0), n1 * n2 / (n1 + n2), exact=False))
            tests["ks"] = PendingTest(ks, ks.statistic, null)
        cur_sum = NumericSummary(ref_sum.edges, tuple(int(c) for c in cc), dropped["nan"], dropped["posinf"],
                                 dropped["neginf"])
        feature = FeatureDrift(self.column, "numeric", "ok", False, self.primary, (), ref_sum.n, n_cur,
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

    @classmethod
    def from_profile(cls, feature: FeatureProfile, **kw: Any) -> CategoricalDriftDetector:
        """A fitted detector from a stored :class:`drift.profile.FeatureProfile`."""
        if feature.categorical is None:
            raise ConfigError(f"profile feature {feature.name!r} is not categorical ({feature.kind})")
        return cls(feature.name, **kw).fit(feature.categorical)

    def feature_profile(self, *, dtype: str = "", ks_max_distinct: int | None = None) -> FeatureProfile:
        """The stored reference of this fitted column: its category counts."""
        return FeatureProfile(self.column, "categorical", dtype, categorical=self.reference_summary_,
                              n_reference=self.reference_summary_.n)

    def score(self, current: Any) -> FeatureDrift:
        """Compare ``current`` with the fitted reference; unseen categories are reported."""
        return decide([[self.pending(current)]], self.decision)[0][0]

    def pending(self, current: Any) -> PendingFeature:
        """The tests of ``current`` before the family's decision (see :func:`drift.decision.decide`)."""
        if not hasattr(self, "reference_summary_"):
            raise ConfigError(f"detector for {self.column!r} is not fitted; call fit(reference) first")
        cur = current if isinstance(current, CategoricalSummary) else category_counts(current, column=self.column)
        ref = self.reference_summary_
        # Reference categories first, then unseen ones sorted: the same order whatever engine counted them.
        cur = canonical_categories(ref, cur.counts, cur.n_missing)
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

    @classmethod
    def from_profile(cls, feature: FeatureProfile, **kw: Any) -> EmbeddingDriftDetector:
        """A fitted detector from the reference vectors stored in a profile."""
        if feature.embedding is None:
            raise ConfigError(f"profile feature {feature.name!r} holds no embedding vectors ({feature.kind})")
        det = cls(feature.name, **kw)
        det.n_reference_ = feature.n_reference
        det.reference_ = np.asarray(feature.embedding, dtype=np.float64)
        return det

    def feature_profile(self, *, dtype: str = "", ks_max_distinct: int | None = None) -> FeatureProfile:
        """The stored reference of this fitted column: its (subsampled) reference vectors."""
        return FeatureProfile(self.column, "embedding", dtype, embedding=self.reference_, n_reference=self.n_reference_)

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

    @classmethod
    def from_profile(cls, profile: Profile, **kw: Any) -> DatasetDriftDetector:
        """A fitted detector from a :class:`drift.Profile`: every later score reuses the stored edges, counts
        and KS reference (``kw`` as the constructor; ``bins`` comes from the profile)."""
        kw.pop("bins", None)
        det = cls(profile.schema, bins=profile.bins, **kw)
        det.detectors_ = {}
        det.skipped_ = {}
        for f in profile.features:
            if f.text_column is not None:
                continue
            if f.skipped:
                det.skipped_[f.name] = f.skipped
            elif f.kind == "numeric":
                det.detectors_[f.name] = NumericDriftDetector.from_profile(
                    f, methods=det.numeric_methods, primary=det.primary, decision=det.decision,
                    min_samples=det.min_samples)
            elif f.kind == "categorical":
                det.detectors_[f.name] = CategoricalDriftDetector.from_profile(
                    f, methods=det.categorical_methods, primary=det.primary, decision=det.decision,
                    min_samples=det.min_samples)
            else:
                det.detectors_[f.name] = EmbeddingDriftDetector.from_profile(f, decision=det.decision)
        det.n_reference_rows_ = profile.n_rows
        return det

    def to_profile(self, **kw: Any) -> Profile:
        """This fitted detector's :class:`drift.Profile` (``kw`` as :meth:`drift.Profile.from_detector`)."""
        return Profile.from_detector(self, **kw)

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
