"""Save Evidently's own report of the same comparison, for teams that already use Evidently.

Evidently (0.7, imported lazily) computes its numbers with its own default binning; see
docs/drift.md for where that differs from ours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import MissingDependencyError
from .schema import Schema


def save_evidently_report(reference: Any, current: Any, schema: Schema, path: str | Path, *,
                          method: str = "psi", drift_share: float = 0.5) -> Path:
    """Run Evidently's ``DataDriftPreset`` with ``method`` on the schema's columns and save its HTML."""
    try:
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset
    except ImportError as exc:
        raise MissingDependencyError("the Evidently report needs evidently 0.7; install "
                                     "`pip install 'evalharness[evidently]'`") from exc
    cols = list(schema.numeric + schema.categorical)
    definition = DataDefinition(numerical_columns=list(schema.numeric), categorical_columns=list(schema.categorical))
    ref = Dataset.from_pandas(reference[cols], data_definition=definition)
    cur = Dataset.from_pandas(current[cols], data_definition=definition)
    snapshot = Report([DataDriftPreset(columns=cols, method=method, drift_share=drift_share)]).run(
        current_data=cur, reference_data=ref)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out))
    return out
