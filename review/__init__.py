"""Human review, the library: the review store, queue filling (escalation, calibration, audit), sampling,
the one set of escalation rules, agreement statistics, exports and purge.

Production items are keyed by trace: one item per (queue, trace, criterion), whichever tool queues it.
The Streamlit app that shows the queues, and its CLI, are :mod:`dashboard`; this package imports neither
Streamlit nor the dashboard.
"""

from .agreement import criterion_agreement, disagreements
from .errors import (
    ConfigError,
    DuplicateLabel,
    InvalidLabel,
    LeaseLost,
    NoSuchItem,
    ReviewError,
)
from .escalation import EscalationRules, review_reasons
from .export import (
    export_to_phoenix,
    fewshot_rows,
    golden_rows,
    span_annotations,
    write_golden,
)
from .fill import (
    audit_items,
    calibration_items,
    escalation_items,
)
from .models import JudgeView, LabelRecord, NewItem
from .sampling import hash_sample, stratified_hash_sample, unit_hash
from .store import ReviewStore

__all__ = [
    "ConfigError",
    "DuplicateLabel",
    "EscalationRules",
    "InvalidLabel",
    "JudgeView",
    "LabelRecord",
    "LeaseLost",
    "NewItem",
    "NoSuchItem",
    "ReviewError",
    "ReviewStore",
    "audit_items",
    "calibration_items",
    "criterion_agreement",
    "disagreements",
    "escalation_items",
    "export_to_phoenix",
    "fewshot_rows",
    "golden_rows",
    "hash_sample",
    "review_reasons",
    "span_annotations",
    "stratified_hash_sample",
    "unit_hash",
    "write_golden",
]
