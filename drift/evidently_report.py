"""Save Evidently's own report of the same comparison, for teams that already use Evidently.

Evidently (0.7, imported lazily) computes its numbers with its own default binning; see
docs/drift.md for where that differs from ours. Evidently raises on columns it cannot test (an
all-missing ``judge_score``), so those are left out of its report and named; any other failure is an
:class:`~drift.errors.ExtraFailedError` (the CLI exits 2), never a crash that reads as "drift".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ExtraFailedError, MissingDependencyError
from .schema import Schema


@dataclass(frozen=True)
class EvidentlyReport:
    """Where Evidently's report was saved, and the columns left out of it with the reason."""

    path: Path
    skipped: dict[str, str]


def _untestable(reference: Any, current: Any, columns: list[str]) -> dict[str, str]:
    out = {}
    for col in columns:
        for which, frame in (("reference", reference), ("current", current)):
            if frame[col].notna().sum() == 0:
                out[col] = f"all values missing in the {which} data"
                break
    return out


_MISSING = ("the Evidently report (--evidently) needs evidently 0.7, which `pip install 'evalharness[all]'` leaves "
            "out; install `pip install 'evalharness[evidently]'`, or drop --evidently")


def require_evidently() -> None:
    """Raise the error that names the extra, before any work, when Evidently is not installed."""
    import importlib.util

    if importlib.util.find_spec("evidently") is None:
        raise MissingDependencyError(_MISSING)


def save_evidently_report(reference: Any, current: Any, schema: Schema, path: str | Path, *,
                          method: str = "psi", drift_share: float = 0.5) -> EvidentlyReport:
    """Run Evidently's ``DataDriftPreset`` with ``method`` on the schema's testable columns and save its HTML."""
    try:
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset
    except ImportError as exc:
        raise MissingDependencyError(_MISSING) from exc
    skipped = _untestable(reference, current, list(schema.numeric + schema.categorical))
    numeric = [c for c in schema.numeric if c not in skipped]
    categorical = [c for c in schema.categorical if c not in skipped]
    cols = numeric + categorical
    if not cols:
        raise ExtraFailedError(f"Evidently report: no column it can test ({skipped}); our report is complete")
    out = Path(path)
    try:
        definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
        ref = Dataset.from_pandas(reference[cols], data_definition=definition)
        cur = Dataset.from_pandas(current[cols], data_definition=definition)
        snapshot = Report([DataDriftPreset(columns=cols, method=method, drift_share=drift_share)]).run(
            current_data=cur, reference_data=ref)
        out.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(out))
    except Exception as exc:  # Evidently's own errors are many and undocumented; name it and move on
        raise ExtraFailedError(f"Evidently failed on columns {cols}: {type(exc).__name__}: {exc}. Our report "
                               f"(report.html, summary.json) is complete; drop --evidently or the column") from exc
    return EvidentlyReport(out, skipped)
