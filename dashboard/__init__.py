"""Human review: the review store, queue filling, agreement statistics, export, and the Streamlit app.

Start the app with ``streamlit run dashboard/app.py``; manage it with ``python -m dashboard --help``.
"""

from .agreement import CriterionAgreement, Disagreement, criterion_agreement, disagreements
from .auth import User, add_user, authenticate, hash_password, load_users, verify_password
from .config import DashboardConfig
from .errors import (
    AuthError,
    ConfigError,
    DashboardError,
    DuplicateLabel,
    InvalidLabel,
    LeaseLost,
    NoSuchItem,
    StoreError,
)
from .export import (
    export_to_phoenix,
    fewshot_rows,
    golden_rows,
    span_annotations,
    write_fewshot,
    write_golden,
)
from .fill import (
    EscalationRules,
    audit_items,
    calibration_items,
    escalation_items,
)
from .models import QUEUES, Item, JudgeView, LabelRecord, Lease, NewItem, QueueStats
from .sampling import hash_sample, stratified_hash_sample, unit_hash
from .store import ReviewStore

__all__ = [
    "QUEUES",
    "AuthError",
    "ConfigError",
    "CriterionAgreement",
    "DashboardConfig",
    "DashboardError",
    "Disagreement",
    "DuplicateLabel",
    "EscalationRules",
    "InvalidLabel",
    "Item",
    "JudgeView",
    "LabelRecord",
    "Lease",
    "LeaseLost",
    "NewItem",
    "NoSuchItem",
    "QueueStats",
    "ReviewStore",
    "StoreError",
    "User",
    "add_user",
    "audit_items",
    "authenticate",
    "calibration_items",
    "criterion_agreement",
    "disagreements",
    "escalation_items",
    "export_to_phoenix",
    "fewshot_rows",
    "golden_rows",
    "hash_password",
    "hash_sample",
    "load_users",
    "span_annotations",
    "stratified_hash_sample",
    "unit_hash",
    "verify_password",
    "write_fewshot",
    "write_golden",
]
