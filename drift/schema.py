"""Which columns are drift features, and of which kind."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import SchemaError


@dataclass(frozen=True)
class Schema:
    """Feature columns by kind. Columns not listed are ignored by the dataset detector."""

    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    embedding: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        seen: dict[str, str] = {}
        for kind in ("numeric", "categorical", "embedding"):
            cols = getattr(self, kind)
            if isinstance(cols, str):
                raise SchemaError(f"Schema.{kind} must be a list of column names, got the string {cols!r}; "
                                  f"write {kind}=[{cols!r}]")
            object.__setattr__(self, kind, tuple(cols))
            for c in cols:
                if c in seen:
                    raise SchemaError(f"column {c!r} is listed as both {seen[c]} and {kind}; list it once")
                seen[c] = kind

    @property
    def columns(self) -> tuple[str, ...]:
        """All feature columns in schema order."""
        return self.numeric + self.categorical + self.embedding

    def kind_of(self, column: str) -> str:
        """``"numeric"``, ``"categorical"`` or ``"embedding"``."""
        for kind in ("numeric", "categorical", "embedding"):
            if column in getattr(self, kind):
                return kind
        raise SchemaError(f"column {column!r} is not in the schema")

    @classmethod
    def infer(cls, frame: Any, *, exclude: Iterable[str] = (), max_categories: int = 1000) -> Schema:
        """Infer a schema from a pandas DataFrame: numeric dtypes are numeric, strings/booleans/
        categories are categorical (dropped when they have more than ``max_categories`` distinct
        values, as free text or ids would), vector cells are embeddings."""
        import numpy as np
        import pandas as pd

        skip = set(exclude)
        numeric: list[str] = []
        categorical: list[str] = []
        embedding: list[str] = []
        for col in frame.columns:
            if col in skip:
                continue
            s = frame[col]
            if pd.api.types.is_bool_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
                categorical.append(col)
            elif pd.api.types.is_numeric_dtype(s):
                numeric.append(col)
            elif pd.api.types.is_datetime64_any_dtype(s):
                continue
            else:
                first = s.dropna().head(1)
                if len(first) and isinstance(first.iloc[0], (list, tuple, np.ndarray)):
                    embedding.append(col)
                elif s.nunique(dropna=True) <= max_categories:
                    categorical.append(col)
        return cls(tuple(numeric), tuple(categorical), tuple(embedding))


@dataclass(frozen=True)
class SchemaDiff:
    """What the reference and the current data do not share.

    ``features_missing_in_*``: features with values on one side and none on the other (the column absent, or
    every value missing); ``columns_only_in_*``: raw columns of one input that the other lacks (a renamed
    column shows up as one of each). A missing feature makes the report exit 2 unless it is in ``allowed``
    (``--allow-missing`` / the config's ``allow_missing``); columns on one side only are named, not refused.
    """

    features_missing_in_current: tuple[str, ...] = ()
    features_missing_in_reference: tuple[str, ...] = ()
    columns_only_in_reference: tuple[str, ...] = ()
    columns_only_in_current: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()

    @property
    def missing_in_current(self) -> tuple[str, ...]:
        """Features and columns the reference has and the current data lacks."""
        return tuple(dict.fromkeys(self.features_missing_in_current + self.columns_only_in_reference))

    @property
    def missing_in_reference(self) -> tuple[str, ...]:
        """Features and columns the current data has and the reference lacks."""
        return tuple(dict.fromkeys(self.features_missing_in_reference + self.columns_only_in_current))

    @property
    def refused(self) -> tuple[str, ...]:
        """Missing features not allowed to be missing: the report exits 2 when there is any."""
        missing = self.features_missing_in_current + self.features_missing_in_reference
        return tuple(f for f in missing if f not in self.allowed)

    @property
    def changed(self) -> bool:
        """True when the two sides differ at all (allowed or not)."""
        return bool(self.missing_in_current or self.missing_in_reference)

    def lines(self) -> list[str]:
        """The differences in words, one line each (the terminal and the report's warnings)."""
        out = []
        for names, what in ((self.features_missing_in_reference, "feature(s) missing in the reference"),
                            (self.features_missing_in_current, "feature(s) missing in the current data")):
            if names:
                notes = [f"{n} (allowed)" if n in self.allowed else n for n in names]
                out.append(f"schema: {what}: {', '.join(notes)}")
        for names, where in ((self.columns_only_in_reference, "reference"), (self.columns_only_in_current, "current data")):
            if names:
                out.append(f"schema: column(s) only in the {where}: {', '.join(names)}")
        if self.refused:
            out.append(f"schema: refused (exit 2): {', '.join(self.refused)} missing on one side; if that is "
                       f"expected, pass --allow-missing {','.join(self.refused)} (or allow_missing in the config)")
        return out

    def to_dict(self) -> dict[str, Any]:
        """The ``schema`` section of ``summary.json``."""
        return {"missing_in_current": list(self.missing_in_current),
                "missing_in_reference": list(self.missing_in_reference),
                "allowed": list(self.allowed), "refused": list(self.refused),
                "features_missing_in_current": list(self.features_missing_in_current),
                "features_missing_in_reference": list(self.features_missing_in_reference),
                "columns_only_in_reference": list(self.columns_only_in_reference),
                "columns_only_in_current": list(self.columns_only_in_current)}


def schema_diff(features: Iterable[str], reference_present: Iterable[str], current_present: Iterable[str], *,
                reference_columns: Iterable[str] = (), current_columns: Iterable[str] = (),
                allowed: Iterable[str] = ()) -> SchemaDiff:
    """The :class:`SchemaDiff` of ``features`` given the features with values on each side, and the raw
    columns of each input (empty: not known, e.g. an old profile). A feature missing on both sides is no
    difference (it is skipped as before)."""
    ref, cur = set(reference_present), set(current_present)
    feats = list(dict.fromkeys(features))
    ref_cols, cur_cols = list(dict.fromkeys(reference_columns)), list(dict.fromkeys(current_columns))
    only_ref = tuple(c for c in ref_cols if c not in set(cur_cols)) if cur_cols else ()
    only_cur = tuple(c for c in cur_cols if c not in set(ref_cols)) if ref_cols else ()
    return SchemaDiff(tuple(f for f in feats if f in ref and f not in cur),
                      tuple(f for f in feats if f in cur and f not in ref),
                      only_ref, only_cur, tuple(dict.fromkeys(allowed)))


def present_features(frame: Any, columns: Iterable[str]) -> list[str]:
    """The ``columns`` of a pandas frame that exist and hold at least one value."""
    return [c for c in columns if c in frame.columns and bool(frame[c].notna().any())]
