"""Frozen result types shared by the drift tests, detectors and reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FeatureKind = Literal["numeric", "categorical", "embedding"]
#: ``drift``: the primary test is significant after the multiple-testing correction and the effect is at least
#: the floor; ``ok``: no drift and the test had the target power against the stated shift; ``insufficient data``:
#: no drift found, but too few values to have found the stated shift; ``skipped``: the test could not run.
FeatureStatus = Literal["drift", "ok", "insufficient data", "skipped"]
DatasetStatus = Literal["drift", "no drift", "insufficient data"]


@dataclass(frozen=True)
class DriftResult:
    """One statistical comparison of a reference and a current sample.

    ``statistic`` is the distance or test statistic and ``pvalue`` its p-value under "no drift" at these
    sample sizes (``details["null"]`` says how it was computed). Under the calibrated rule (the default)
    ``drifted`` is ``adjusted_pvalue <= alpha`` (Holm-adjusted across the features tested together; the raw
    p-value for a single test) **and** ``effect >= threshold``, the effect-size floor; ``critical_value`` is
    the value the statistic had to reach at the level this test was run at (``details["level"]``). Under the
    fixed rule ``threshold`` is the old fixed line: distances drift when ``statistic >= threshold``, tests when
    ``pvalue < threshold``.
    """

    method: str
    statistic: float
    pvalue: float | None
    threshold: float
    drifted: bool
    details: Mapping[str, Any] = field(default_factory=dict)
    critical_value: float | None = None
    effect: float | None = None
    adjusted_pvalue: float | None = None

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

    ``status`` is one of :data:`FeatureStatus`; ``reason`` says why a column was skipped. ``drifted`` is true
    when the column's primary test (``primary``) drifted. ``power`` is the primary test's approximate power
    against the stated shift at these sizes and ``rows_needed`` the current rows that would reach the target
    power (``None`` when the reference itself is too small).
    """

    column: str
    kind: FeatureKind
    status: FeatureStatus
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
    power: float | None = None
    rows_needed: int | None = None

    @property
    def scored(self) -> bool:
        """True when the tests ran (every status but ``skipped``)."""
        return self.status != "skipped"

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
    """Dataset-level verdict.

    Calibrated rule: ``drifted`` when at least one feature drifted after Holm's correction across the features
    (and windows) tested together, so under no drift the dataset alarms with probability at most ``alpha``;
    with ``share_threshold`` set, also at least that share of the features. Fixed rule: drifted when
    ``drift_share >= share_threshold`` (0.5 by default). ``status`` adds ``"insufficient data"``: no drift
    found, but at least one feature had too few values to find the stated shift. ``pvalue`` is the smallest
    Holm-adjusted p-value of the primary tests (``None`` under the fixed rule).
    """

    drifted: bool
    drift_share: float
    share_threshold: float | None
    n_features: int
    n_drifted: int
    features: tuple[FeatureDrift, ...]
    n_reference_rows: int
    n_current_rows: int
    warnings: tuple[str, ...] = ()
    status: DatasetStatus = "no drift"
    pvalue: float | None = None
    alpha: float = 0.05
    rule: str = "calibrated"
    correction: str = "holm"

    @property
    def n_insufficient(self) -> int:
        """Features whose status is ``insufficient data``."""
        return sum(f.status == "insufficient data" for f in self.features)

    def strongest(self) -> list[tuple[str, str, float]]:
        """The drifted features, strongest first: ``(column, primary test, its statistic)`` ranked by the primary
        statistic (PSI by default, on the same scale for numeric and categorical features)."""
        ranked = []
        for f in self.features:
            if f.drifted and f.primary is not None:
                stat = next((t.statistic for t in f.tests if t.method == f.primary), None)
                if stat is not None:
                    ranked.append((f.column, f.primary, float(stat)))
        return sorted(ranked, key=lambda r: -r[2])

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
                "status": self.status,
                "strongest": [{"column": c, "test": m, "statistic": v} for c, m, v in self.strongest()],
                "pvalue": self.pvalue,
                "alpha": self.alpha,
                "rule": self.rule,
                "correction": self.correction,
                "n_insufficient": self.n_insufficient,
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
