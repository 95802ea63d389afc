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

from .errors import ConfigError, InputFormatError, SchemaError
from .ks_counts import (  # re-exported: drift.profile was their home
    KS_HIST_BINS,
    KS_MAX_DISTINCT,
    SCIPY_MAX_AUTO_N,
    KSReference,
    ks_finish,
    ks_from_value_counts,
    ks_reference,
    ks_result,
    value_counts_sorted,
)
from .results import CategoricalSummary, NumericSummary

__all__ = ["KS_HIST_BINS", "KS_MAX_DISTINCT", "SCHEMA_VERSION", "SCIPY_MAX_AUTO_N", "FeatureProfile", "KSReference",
           "Profile", "ks_finish", "ks_from_value_counts", "ks_reference", "ks_result", "value_counts_sorted"]

#: Version of the profile file format; :meth:`Profile.load` refuses other versions.
SCHEMA_VERSION = 1
Kind = Literal["numeric", "categorical", "embedding"]


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
    #: the raw columns of the reference input (before feature extraction), to name columns on one side only
    columns: tuple[str, ...] = ()

    def definitions(self) -> dict[str, Any]:
        """What the features are, as a comparison depends on it: per feature its kind, dtype, bins and text
        column, plus the profile's bins and the time, label and judge-score columns (not the counts)."""
        feats = {f.name: {"kind": f.kind, "dtype": f.dtype, "text_column": f.text_column,
                          "bins": len(f.numeric.edges) - 1 if f.numeric is not None else None}
                 for f in self.features}
        return {"features": feats, "bins": self.bins, "time_column": self.time_column,
                "label_column": self.label_column, "judge_score_column": self.judge_score_column,
                "judge_pass_threshold": self.judge_pass_threshold}

    def definition_differences(self, other: Profile) -> list[str]:
        """How ``other``'s feature definitions differ from this profile's, one phrase each (empty: none)."""
        mine, theirs = self.definitions(), other.definitions()
        out = []
        a, b = mine.pop("features"), theirs.pop("features")
        only_a, only_b = [n for n in a if n not in b], [n for n in b if n not in a]
        if only_a:
            out.append(f"features only in {self.source or 'the first profile'}: {only_a}")
        if only_b:
            out.append(f"features only in {other.source or 'the second profile'}: {only_b}")
        for name in (n for n in a if n in b):
            for key in ("kind", "dtype", "bins", "text_column"):
                if a[name][key] != b[name][key] and (key != "dtype" or (a[name][key] and b[name][key])):
                    out.append(f"{name}: {key} {a[name][key]!r} vs {b[name][key]!r}")
        out.extend(f"{key} {mine[key]!r} vs {theirs[key]!r}" for key in mine if mine[key] != theirs[key])
        return out

    def check_same_definitions(self, other: Profile) -> None:
        """Refuse (:class:`SchemaError`) to compare with ``other`` when their feature definitions differ,
        saying what differs: their counts would not measure the same things."""
        diff = self.definition_differences(other)
        if diff:
            names = [p.source or "an unnamed source" for p in (self, other)]
            raise SchemaError(f"the profiles from {names[0]} and {names[1]} define their features differently: "
                              + "; ".join(diff)
                              + ". Refit both with the same config (python -m drift profile --config ...)")

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

    def extra_features(self, current: Mapping[str, str]) -> list[str]:
        """Numeric or categorical columns of ``current`` (as :meth:`check_schema` takes it) that an inferred
        profile does not have (none for a profile whose columns were listed in a config)."""
        known = {f.name for f in self.features}
        return sorted(c for c, k in current.items() if k in ("numeric", "categorical") and c not in known) \
            if self.schema_inferred else []

    def check_schema(self, current: Mapping[str, str], *, where: str = "current data", missing_ok: bool = False) -> None:
        """Raise :class:`SchemaError` listing every feature that differs from ``current`` (column name to
        ``"numeric"`` / ``"categorical"`` / ``"text"`` (a string column with too many values to be a category) /
        ``"other"``; only numeric and categorical columns count as extra).

        Missing: a profiled feature the current data lacks; type changed: numeric in one, not in the other;
        extra: (inferred profiles only) a feature column the reference did not have. ``missing_ok``: only a
        changed type is refused here (the message still lists the rest)."""
        missing, changed = [], []
        for f in self.features:
            if f.kind == "embedding":
                continue  # vectors are checked when embedded
            got = current.get(f.name)
            if got is None:
                missing.append(f.name)
            elif got != f.kind and not (f.kind == "categorical" and got == "text"):
                changed.append(f"{f.name} ({f.kind} in the profile, {got} in the {where})")
        extra = self.extra_features(current)
        if missing_ok and not changed:  # the caller reports features on one side only (drift.schema.SchemaDiff)
            return
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
        if not hasattr(detector, "detectors_"):
            raise ConfigError("the detector is not fitted; call fit(reference) before building its profile")
        dtypes = dtypes or {}
        feats: list[FeatureProfile] = []
        for col in detector.schema.columns:
            dt = dtypes.get(col, "")
            if col in detector.skipped_:
                feats.append(FeatureProfile(col, detector.schema.kind_of(col), dt, skipped=detector.skipped_[col]))
            else:  # each fitted column detector knows its own reference (drift.detectors imports this module)
                feats.append(detector.detectors_[col].feature_profile(dtype=dt, ks_max_distinct=ks_max_distinct))
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
            "judge_pass_threshold": self.judge_pass_threshold, "columns": list(self.columns),
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
                       created_at=str(raw.get("created_at", "")), columns=tuple(map(str, raw.get("columns") or ())))
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
