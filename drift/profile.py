"""The reference profile: everything a drift comparison needs from the reference, in one small JSON file.

Fitting a detector on the reference gives a :class:`Profile`: per feature the bin edges and counts, the
NaN/inf counts, the category frequencies, what exact KS needs (the reference's counts per distinct value, or
a fine histogram when a column has more than ``ks_max_distinct`` distinct values), the embedding reference
vectors; plus the data source, its time range, the feature schema and the label statistics for concept drift.
Every later comparison reuses the stored edges, so a current window gives the same numbers whether it is
counted in pandas (``--engine local``) or in Spark (``--engine spark``, :mod:`drift.spark_backend`).

    det = drift.DatasetDriftDetector(schema).fit(reference_frame)
    drift.Profile.from_detector(det, source="ref.parquet").save("profile.json")
    det = drift.DatasetDriftDetector.from_profile(drift.Profile.load("profile.json"))

The file is versioned (``schema_version``); arrays are stored as base64 of little-endian bytes, so a
column of 100,000 distinct values costs about 2 MB and a 10-bin feature a few hundred bytes.
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np

from .binning import edges_from_quantiles, histogram
from .errors import ConfigError, InputFormatError, SchemaError
from .results import CategoricalSummary, DriftResult, NumericSummary

#: Version of the profile file format; :meth:`Profile.load` refuses other versions.
SCHEMA_VERSION = 1
#: Columns with more distinct reference values than this keep a fine histogram for KS instead of the
#: value counts (KS is then a lower bound, off by at most the largest fine bin's share).
KS_MAX_DISTINCT = 100_000
#: Bins of that fine histogram (at reference quantiles).
KS_HIST_BINS = 10_000
#: scipy's ks_2samp uses the exact distribution up to this many values per sample (method="auto").
SCIPY_MAX_AUTO_N = 10_000

Kind = Literal["numeric", "categorical", "embedding"]


# ------------------------------------------------------------------ KS from counts per distinct value

@dataclass(frozen=True, eq=False)
class KSReference:
    """The reference side of KS. ``kind="values"``: sorted distinct finite values and their counts (exact KS);
    ``kind="histogram"``: ``values`` are fine bin edges (``len(counts) + 1``) and KS is the histogram bound."""

    kind: Literal["values", "histogram"]
    values: np.ndarray
    counts: np.ndarray

    @property
    def n(self) -> int:
        """Number of finite reference values."""
        return int(self.counts.sum())

    @property
    def exact(self) -> bool:
        """True when KS against this reference is exact."""
        return self.kind == "values"


def value_counts_sorted(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values of a sorted array and their counts (one pass over run ends)."""
    if sorted_values.size == 0:
        return sorted_values.astype(np.float64), np.zeros(0, dtype=np.int64)
    ends = np.append(np.flatnonzero(sorted_values[1:] != sorted_values[:-1]), sorted_values.size - 1)
    counts = np.diff(np.concatenate([[-1], ends])).astype(np.int64)
    return sorted_values[ends].astype(np.float64), counts


def ks_reference(sorted_finite: np.ndarray, max_distinct: int | None = KS_MAX_DISTINCT,
                 hist_bins: int = KS_HIST_BINS) -> KSReference:
    """The KS reference of a sorted finite sample: value counts, or a fine histogram when the sample has
    more than ``max_distinct`` distinct values (``None``: never)."""
    values, counts = value_counts_sorted(sorted_finite)
    if max_distinct is None or values.size <= max_distinct:
        return KSReference("values", values, counts)
    qs = np.quantile(sorted_finite, np.linspace(0.0, 1.0, hist_bins + 1)[1:-1])
    edges = edges_from_quantiles(qs, float(sorted_finite[0]))
    return KSReference("histogram", edges, histogram(sorted_finite, edges, presorted=True))


def ks_from_value_counts(ref_values: np.ndarray, ref_counts: np.ndarray, cur_values: np.ndarray,
                         cur_counts: np.ndarray, *, method: str = "auto") -> tuple[float, float]:
    """Two-sided KS ``(statistic, pvalue)`` of two samples given as sorted distinct values with counts,
    equal to :func:`scipy.stats.ks_2samp` on the expanded samples.

    At or below scipy's exact-mode size the samples are expanded and scipy runs (its exact statistic is
    rounded to the lattice of ``1/lcm(n1, n2)``). Above, the ECDF difference is evaluated at every distinct
    value of both samples from cumulative counts: the same integers scipy divides, so the same floats.
    """
    n1, n2 = int(ref_counts.sum()), int(cur_counts.sum())
    if n1 == 0 or n2 == 0:
        raise ConfigError("KS needs at least one value in each sample")
    if method == "exact" or (method == "auto" and max(n1, n2) <= SCIPY_MAX_AUTO_N):
        from scipy.stats import ks_2samp

        res = ks_2samp(np.repeat(ref_values, ref_counts), np.repeat(cur_values, cur_counts), method=method)
        return float(res.statistic), float(res.pvalue)
    if method not in ("auto", "asymp"):
        raise ConfigError(f"KS method must be 'auto', 'exact' or 'asymp', got {method!r}")
    c1 = np.concatenate([[0], np.cumsum(ref_counts)])
    c2 = np.concatenate([[0], np.cumsum(cur_counts)])
    d1 = c1[1:] / n1 - c2[np.searchsorted(cur_values, ref_values, side="right")] / n2
    d2 = c1[np.searchsorted(ref_values, cur_values, side="right")] / n1 - c2[1:] / n2
    return ks_finish(max(d1.max(), d2.max()), min(d1.min(), d2.min()), n1, n2)


def ks_finish(max_diff: float, min_diff: float, n1: int, n2: int) -> tuple[float, float]:
    """Statistic and asymptotic p-value from the largest and smallest ECDF difference, as scipy's
    ``ks_2samp(method='asymp')``."""
    from scipy.stats import kstwo

    min_s = float(np.clip(-min_diff, 0, 1))
    d = float(max(max_diff, min_s))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    p = float(np.clip(kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))
    return d, p


# ------------------------------------------------------------------ the profile

@dataclass(frozen=True, eq=False)
class FeatureProfile:
    """The reference of one feature. ``skipped`` says why a feature has no reference (all values missing)."""

    name: str
    kind: Kind
    dtype: str = ""
    numeric: NumericSummary | None = None
    ks: KSReference | None = None
    categorical: CategoricalSummary | None = None
    embedding: np.ndarray | None = None
    n_reference: int = 0
    skipped: str | None = None
    text_column: str | None = None
    constant: bool = False


@dataclass(frozen=True, eq=False)
class Profile:
    """A fitted reference, saved with :meth:`save` and read with :meth:`load` (see the module docstring)."""

    features: tuple[FeatureProfile, ...]
    bins: int = 10
    n_rows: int = 0
    source: str = ""
    time_column: str = "timestamp"
    time_range: tuple[str, str] | None = None
    concept: Mapping[str, tuple[int, int]] | None = None
    label_column: str = "label"
    judge_score_column: str = "judge_score"
    judge_pass_threshold: float = 0.5
    schema_inferred: bool = True
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def feature(self, name: str) -> FeatureProfile:
        """The profile of feature ``name``."""
        for f in self.features:
            if f.name == name:
                return f
        raise SchemaError(f"feature {name!r} is not in the profile; it has {[f.name for f in self.features]}")

    @property
    def schema(self) -> Any:
        """The :class:`drift.Schema` of the profiled features (text-embedding features left out)."""
        from .schema import Schema

        def names(kind: str) -> tuple[str, ...]:
            return tuple(f.name for f in self.features if f.kind == kind and f.text_column is None)

        return Schema(names("numeric"), names("categorical"), names("embedding"))

    @property
    def text_embeddings(self) -> tuple[FeatureProfile, ...]:
        """Embedding features computed from a text column (the report's ``embed_text``)."""
        return tuple(f for f in self.features if f.text_column is not None)

    # -------------------------------------------------------------- schema check

    def check_schema(self, current: Mapping[str, str], *, where: str = "current data") -> None:
        """Raise :class:`SchemaError` listing every feature that differs from ``current`` (column name to
        ``"numeric"`` / ``"categorical"`` / ``"text"`` (a string column with too many values to be a category) /
        ``"other"``; only numeric and categorical columns count as extra).

        Missing: a profiled feature the current data lacks; type changed: numeric in one, not in the other;
        extra: (inferred profiles only) a feature column the reference did not have."""
        missing, changed = [], []
        for f in self.features:
            if f.kind == "embedding":
                continue  # vectors are checked when embedded
            got = current.get(f.name)
            if got is None:
                missing.append(f.name)
            elif got != f.kind and not (f.kind == "categorical" and got == "text"):
                changed.append(f"{f.name} ({f.kind} in the profile, {got} in the {where})")
        known = {f.name for f in self.features}
        extra = sorted(c for c, k in current.items() if k in ("numeric", "categorical") and c not in known) \
            if self.schema_inferred else []
        if missing or changed or extra:
            parts = []
            if missing:
                parts.append(f"missing from the {where}: {missing}")
            if extra:
                parts.append(f"not in the profile: {extra}")
            if changed:
                parts.append(f"type changed: {changed}")
            raise SchemaError(f"the profile (from {self.source or 'an unnamed source'}) does not match the {where}: "
                              + "; ".join(parts) + ". Refit the profile on a reference with this schema "
                              "(python -m drift profile), or list the columns to compare in a config file")

    # -------------------------------------------------------------- construction

    @classmethod
    def from_detector(cls, detector: Any, *, source: str = "", time_range: tuple[str, str] | None = None,
                      concept: Mapping[str, tuple[int, int]] | None = None, schema_inferred: bool = True,
                      ks_max_distinct: int | None = KS_MAX_DISTINCT, dtypes: Mapping[str, str] | None = None,
                      extra: Sequence[FeatureProfile] = (), **kw: Any) -> Profile:
        """The profile of a fitted :class:`drift.DatasetDriftDetector` (plus ``extra`` features, e.g. text
        embeddings). Columns with more than ``ks_max_distinct`` distinct values keep a
        :data:`KS_HIST_BINS`-bin histogram for KS."""
        from .detectors import CategoricalDriftDetector, EmbeddingDriftDetector, NumericDriftDetector

        if not hasattr(detector, "detectors_"):
            raise ConfigError("the detector is not fitted; call fit(reference) before building its profile")
        dtypes = dtypes or {}
        feats: list[FeatureProfile] = []
        for col in detector.schema.columns:
            kind = detector.schema.kind_of(col)
            dt = dtypes.get(col, "")
            if col in detector.skipped_:
                feats.append(FeatureProfile(col, kind, dt, skipped=detector.skipped_[col]))
                continue
            det = detector.detectors_[col]
            if isinstance(det, NumericDriftDetector):
                ks = det.ks_reference_
                if det.sorted_reference_ is not None:
                    ks = ks_reference(det.sorted_reference_, ks_max_distinct)
                elif ks is not None and ks.kind == "values" and ks_max_distinct is not None \
                        and ks.values.size > ks_max_distinct:
                    ks = ks_reference(np.repeat(ks.values, ks.counts), ks_max_distinct)
                feats.append(FeatureProfile(col, "numeric", dt, numeric=det.reference_summary_, ks=ks,
                                            n_reference=det.reference_summary_.n, constant=det.constant_))
            elif isinstance(det, CategoricalDriftDetector):
                feats.append(FeatureProfile(col, "categorical", dt, categorical=det.reference_summary_,
                                            n_reference=det.reference_summary_.n))
            elif isinstance(det, EmbeddingDriftDetector):
                feats.append(FeatureProfile(col, "embedding", dt, embedding=det.reference_, n_reference=det.n_reference_))
        return cls(tuple(feats) + tuple(extra), bins=detector.bins, n_rows=detector.n_reference_rows_, source=source,
                   time_range=time_range, concept=dict(concept) if concept else None, schema_inferred=schema_inferred,
                   **kw)

    # -------------------------------------------------------------- file

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (arrays as base64)."""
        return {
            "schema_version": SCHEMA_VERSION, "kind": "drift-reference-profile", "created_at": self.created_at,
            "source": self.source, "n_rows": self.n_rows, "bins": self.bins, "time_column": self.time_column,
            "time_range": list(self.time_range) if self.time_range else None,
            "schema_inferred": self.schema_inferred,
            "concept": {k: list(v) for k, v in self.concept.items()} if self.concept else None,
            "label_column": self.label_column, "judge_score_column": self.judge_score_column,
            "judge_pass_threshold": self.judge_pass_threshold,
            "features": [_feature_dict(f) for f in self.features],
        }

    def save(self, path: str | os.PathLike[str]) -> str:
        """Write the profile as JSON to ``path``; returns the path."""
        p = os.fspath(path)
        parent = os.path.dirname(p)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(p, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, separators=(",", ":"))
        return p

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Profile:
        """Read a profile written by :meth:`save`; a missing, malformed or other-version file raises
        :class:`InputFormatError` saying what is wrong."""
        p = os.fspath(path)
        try:
            with open(p, encoding="utf-8") as fh:
                raw = json.load(fh)
        except FileNotFoundError as exc:
            raise InputFormatError(f"profile {p!r} does not exist; write one with "
                                   f"`python -m drift profile --reference DATA --out {p}`") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputFormatError(f"profile {p!r} is not JSON ({exc}); it must be a file written by "
                                   f"`python -m drift profile` or Profile.save") from exc
        return cls.from_dict(raw, where=p)

    @classmethod
    def from_dict(cls, raw: Any, *, where: str = "<dict>") -> Profile:
        """Parse :meth:`to_dict`'s output (see :meth:`load`)."""
        if not isinstance(raw, dict) or raw.get("kind") != "drift-reference-profile":
            raise InputFormatError(f"profile {where!r} is not a drift reference profile (no "
                                   f"kind='drift-reference-profile'); write one with `python -m drift profile`")
        version = raw.get("schema_version")
        if version != SCHEMA_VERSION:
            raise InputFormatError(f"profile {where!r} has schema_version {version!r}; this version of drift "
                                   f"reads version {SCHEMA_VERSION}. Refit the profile with `python -m drift profile`")
        try:
            feats = tuple(_feature_from(f) for f in raw["features"])
            tr = raw.get("time_range")
            concept = raw.get("concept")
            return cls(feats, bins=int(raw["bins"]), n_rows=int(raw["n_rows"]), source=str(raw.get("source", "")),
                       time_column=str(raw.get("time_column", "timestamp")),
                       time_range=(str(tr[0]), str(tr[1])) if tr else None,
                       concept={k: (int(v[0]), int(v[1])) for k, v in concept.items()} if concept else None,
                       label_column=str(raw.get("label_column", "label")),
                       judge_score_column=str(raw.get("judge_score_column", "judge_score")),
                       judge_pass_threshold=float(raw.get("judge_pass_threshold", 0.5)),
                       schema_inferred=bool(raw.get("schema_inferred", True)),
                       created_at=str(raw.get("created_at", "")))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise InputFormatError(f"profile {where!r} is damaged ({type(exc).__name__}: {exc}); "
                                   f"refit it with `python -m drift profile`") from exc

    def with_source(self, source: str) -> Profile:
        """A copy naming another source."""
        return replace(self, source=source)


def _b64(arr: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()).decode("ascii")


def _unb64(text: str, dtype: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<")).astype(dtype.lstrip("<"))


def _floats(values: Sequence[float]) -> list[Any]:
    # JSON has no inf: the outer edges are written as strings.
    return [v if math.isfinite(v) else ("inf" if v > 0 else "-inf") for v in values]


def _feature_dict(f: FeatureProfile) -> dict[str, Any]:
    d: dict[str, Any] = {"name": f.name, "kind": f.kind, "dtype": f.dtype, "n_reference": f.n_reference}
    if f.skipped:
        d["skipped"] = f.skipped
    if f.constant:
        d["constant"] = True
    if f.text_column:
        d["text_column"] = f.text_column
    if f.numeric is not None:
        n = f.numeric
        d["edges"] = _floats(n.edges)
        d["counts"] = list(n.counts)
        d["dropped"] = {"nan": n.n_nan, "posinf": n.n_posinf, "neginf": n.n_neginf}
    if f.ks is not None:
        d["ks"] = {"kind": f.ks.kind, "n_distinct" if f.ks.kind == "values" else "n_bins":
                   int(f.ks.counts.size), "values": _b64(f.ks.values, "<f8"), "counts": _b64(f.ks.counts, "<i8")}
    if f.categorical is not None:
        d["categories"] = list(f.categorical.counts.keys())
        d["category_counts"] = [int(v) for v in f.categorical.counts.values()]
        d["missing"] = f.categorical.n_missing
    if f.embedding is not None:
        emb = np.asarray(f.embedding, dtype=np.float64)
        as32 = emb.astype(np.float32)
        exact32 = bool(np.array_equal(as32.astype(np.float64), emb))  # sentence embeddings are float32: lossless
        dt = "<f4" if exact32 else "<f8"
        d["embedding"] = {"shape": list(emb.shape), "dtype": dt, "data": _b64(as32 if exact32 else emb, dt)}
    return d


def _feature_from(d: Mapping[str, Any]) -> FeatureProfile:
    kind = d["kind"]
    if kind not in ("numeric", "categorical", "embedding"):
        raise ValueError(f"feature {d.get('name')!r} has unknown kind {kind!r}")
    numeric = ks = cat = emb = None
    if "edges" in d:
        dropped = d.get("dropped", {})
        numeric = NumericSummary(tuple(float(e) for e in d["edges"]), tuple(int(c) for c in d["counts"]),
                                 int(dropped.get("nan", 0)), int(dropped.get("posinf", 0)), int(dropped.get("neginf", 0)))
    if "ks" in d:
        k = d["ks"]
        ks = KSReference(k["kind"], _unb64(k["values"], "<f8"), _unb64(k["counts"], "<i8"))
    if "categories" in d:
        if len(d["categories"]) != len(d["category_counts"]):
            raise ValueError(f"feature {d['name']!r}: {len(d['categories'])} categories but "
                             f"{len(d['category_counts'])} counts")
        cat = CategoricalSummary(dict(zip(d["categories"], (int(c) for c in d["category_counts"]), strict=True)),
                                 int(d.get("missing", 0)))
    if "embedding" in d:
        e = d["embedding"]
        emb = _unb64(e["data"], e["dtype"]).astype(np.float64).reshape(e["shape"])
    return FeatureProfile(str(d["name"]), kind, str(d.get("dtype", "")), numeric, ks, cat, emb,
                          int(d.get("n_reference", 0)), d.get("skipped"), d.get("text_column"),
                          bool(d.get("constant", False)))


# ------------------------------------------------------------------ helpers shared by both engines

def ks_result(ks: KSReference, n_current: int, *, cur_values: np.ndarray | None = None,
              cur_counts: np.ndarray | None = None, stat: tuple[float, float] | None = None) -> DriftResult:
    """The undecided KS result against ``ks``: from the current's value counts (or a statistic computed
    elsewhere, ``stat``) for an exact reference, from the current's counts on the fine edges otherwise."""
    from .decision import PVALUE_THRESHOLD
    from .numeric import ks_statistic_from_counts

    if ks.kind == "histogram":
        assert cur_counts is not None
        return ks_statistic_from_counts(ks.counts, cur_counts)
    if stat is None:
        assert cur_values is not None and cur_counts is not None
        stat = ks_from_value_counts(ks.values, ks.counts, cur_values, cur_counts)
    d, p = stat
    return DriftResult("ks", d, p, PVALUE_THRESHOLD, False,
                       {"method": "auto", "n_reference": ks.n, "n_current": int(n_current)})


def canonical_categories(ref: CategoricalSummary, cur: Mapping[str, int], n_missing: int) -> CategoricalSummary:
    """A current category summary in a fixed order: the reference's categories first (in its order), then
    unseen ones sorted, so sums over categories add in the same order in every engine."""
    counts = {k: int(cur[k]) for k in ref.counts if cur.get(k)}
    counts.update({k: int(cur[k]) for k in sorted(k for k in cur if k not in ref.counts and cur[k])})
    return CategoricalSummary(counts, int(n_missing))


def concept_metrics(frame: Any, label_col: str, score_col: str, pass_threshold: float) -> dict[str, tuple[int, int]]:
    """Counts behind the label panel of one frame: (successes, n) of pass rate, judge accuracy, precision and
    recall (see :mod:`drift.concept`)."""
    from .concept import _labels, _metrics

    y, judged = _labels(frame, label_col, score_col, pass_threshold)
    return _metrics(y, judged)


def concept_windows(reference: Mapping[str, tuple[int, int]], windows: Sequence[tuple[str, Mapping[str, tuple[int, int]]]],
                    *, alpha: float = 0.05, confidence: float = 0.95) -> list[Any]:
    """:func:`drift.concept_drift` from counts: one :class:`drift.ConceptWindow` per ``(label, metrics)``."""
    from .concept import ConceptWindow, _prop

    out = []
    for label, cur in windows:
        props: dict[str, Any] = {}
        for name in ("pass_rate", "accuracy", "precision", "recall"):
            if name in cur and name in reference and reference[name][1] > 0 and cur[name][1] > 0:
                props[name] = _prop(*cur[name], *reference[name], alpha, confidence)
            else:
                props[name] = None
        out.append(ConceptWindow(label, int(cur.get("pass_rate", (0, 0))[1]), props["pass_rate"], props["accuracy"],
                                 props["precision"], props["recall"]))
    return out
