"""Frozen result types shared by the drift tests, detectors and reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FeatureKind = Literal["numeric", "categorical", "embedding"]


@dataclass(frozen=True)
class DriftResult:
    """One statistical comparison of a reference and a current sample.

    ``statistic`` is the distance or test statistic; ``pvalue`` is set for tests that define one
    (KS, chi-square, MMD permutation) and ``None`` for distances (PSI, JS). ``drifted`` applies
    ``threshold`` in the direction documented by ``method``: distances drift when
    ``statistic >= threshold``, tests drift when ``pvalue < threshold``.
    """

    method: str
    statistic: float
    pvalue: float | None
    threshold: float
    drifted: bool
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (numpy scalars converted)."""
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class NumericSummary:
    """Histogram of one numeric column on fixed edges, plus the values that were dropped.

    ``edges`` has ``len(counts) + 1`` entries; the outer edges may be ``-inf``/``inf`` so that
    values outside the reference range still land in a bin. Bins are ``[e_i, e_{i+1})`` except the
    last, which is closed, as in :func:`numpy.histogram`.
    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    n_nan: int = 0
    n_posinf: int = 0
    n_neginf: int = 0

    @property
    def n(self) -> int:
        """Number of finite values counted in the bins."""
        return int(sum(self.counts))


@dataclass(frozen=True)
class CategoricalSummary:
    """Counts per category (as strings) plus the number of missing values."""

    counts: Mapping[str, int]
    n_missing: int = 0

    @property
    def n(self) -> int:
        """Number of non-missing values."""
        return int(sum(self.counts.values()))


@dataclass(frozen=True)
class FeatureDrift:
    """Drift of one column: every test run on it, the verdict, and data-quality counts.

    ``status`` is ``"ok"`` when the tests ran, ``"skipped"`` when they could not (all values
    missing, empty window); ``reason`` then says why. ``drifted`` is true when the column's
    primary test (``primary``) drifted.
    """

    column: str
    kind: FeatureKind
    status: Literal["ok", "skipped"]
    drifted: bool
    primary: str | None
    tests: tuple[DriftResult, ...] = ()
    n_reference: int = 0
    n_current: int = 0
    dropped: Mapping[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    reason: str | None = None
    reference_summary: NumericSummary | CategoricalSummary | None = None
    current_summary: NumericSummary | CategoricalSummary | None = None

    def test(self, method: str) -> DriftResult:
        """The result of ``method`` (``"psi"``, ``"ks"``, ...); raises ``KeyError`` if it was not run."""
        for result in self.tests:
            if result.method == method:
                return result
        raise KeyError(f"test {method!r} was not run on column {self.column!r}; ran {[t.method for t in self.tests]}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form without the summaries (they can be large)."""
        data = asdict(self)
        data.pop("reference_summary")
        data.pop("current_summary")
        return _jsonable(data)


@dataclass(frozen=True)
class DatasetDrift:
    """Dataset-level verdict: drifted when ``drift_share >= share_threshold``."""

    drifted: bool
    drift_share: float
    share_threshold: float
    n_features: int
    n_drifted: int
    features: tuple[FeatureDrift, ...]
    n_reference_rows: int
    n_current_rows: int
    warnings: tuple[str, ...] = ()

    def feature(self, column: str) -> FeatureDrift:
        """The result for ``column``."""
        for f in self.features:
            if f.column == column:
                return f
        raise KeyError(f"no drift result for column {column!r}; have {[f.column for f in self.features]}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return _jsonable(
            {
                "drifted": self.drifted,
                "drift_share": self.drift_share,
                "share_threshold": self.share_threshold,
                "n_features": self.n_features,
                "n_drifted": self.n_drifted,
                "n_reference_rows": self.n_reference_rows,
                "n_current_rows": self.n_current_rows,
                "warnings": list(self.warnings),
                "features": [f.to_dict() for f in self.features],
            }
        )


def _jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays and tuples into JSON-serialisable Python values; inf/nan -> str."""
    import math

    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy scalar or array
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)  # JSON has no inf/nan; keep them readable instead of failing
    return obj
