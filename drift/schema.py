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
