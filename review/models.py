"""Frozen records that move between the review store, the queue fillers and the pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "QUEUES",
    "AuditEntry",
    "Holder",
    "Item",
    "JudgeView",
    "LabelRecord",
    "Lease",
    "NewItem",
    "QueueStats",
]

#: The three queues the harness fills (a store accepts any queue name; these are the ones the UI knows).
QUEUES = ("escalation", "calibration", "audit")


@dataclass(frozen=True)
class JudgeView:
    """One judge's verdict on an item, as shown to the reviewer."""

    judge_model: str
    score: float | None = None
    label_probs: dict[str, float] | None = None
    reasoning: str | None = None


@dataclass(frozen=True)
class NewItem:
    """An item to enqueue. ``(queue, source_id)`` is unique, and so is a production item's (queue, trace,
    criterion): enqueuing it twice adds it once."""

    queue: str
    source_id: str
    input: str
    output: str
    context: str | None = None
    expected: str | None = None
    criterion: str = "overall"
    suite: str | None = None
    scale: tuple[float, float] | None = None
    categories: tuple[str, ...] = ()
    judge_score: float | None = None
    judges: tuple[JudgeView, ...] = ()
    reason: str = ""
    priority: float = 0.0
    overlap: int = 1
    trace_id: str | None = None
    span_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Item:
    """An item as stored, with its id."""

    id: int
    queue: str
    source_id: str
    input: str
    output: str
    context: str | None
    expected: str | None
    criterion: str
    suite: str | None
    scale: tuple[float, float] | None
    categories: tuple[str, ...]
    judge_score: float | None
    judges: tuple[JudgeView, ...]
    reason: str
    priority: float
    overlap: int
    trace_id: str | None
    span_id: str | None
    meta: dict[str, Any]
    created: float


@dataclass(frozen=True)
class Lease:
    """A reviewer's claim on one slot of an item until ``expires`` (epoch seconds).

    ``version`` changes whenever the slot changes hands; a submit must present the current one.
    """

    slot_id: int
    item_id: int
    reviewer: str
    version: int
    expires: float


@dataclass(frozen=True)
class LabelRecord:
    """A stored human label joined with the facts about its item that agreement and export need."""

    item_id: int
    queue: str
    source_id: str
    criterion: str
    reviewer: str
    kind: str  # "label" or "flag"
    score: float | None
    category: str | None
    note: str
    created: float
    judge_score: float | None
    input: str
    output: str
    context: str | None
    expected: str | None
    trace_id: str | None
    span_id: str | None
    # What the export needs to place a label in a dataset: the item's suite, scale, offered categories
    # and meta (eval items carry ``case_id`` and the dataset ``kind`` there).
    suite: str | None = None
    scale: tuple[float, float] | None = None
    categories: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)
    # None: a label of the whole item (case); a number: the index of the one conversation turn it labels.
    turn: int | None = None


@dataclass(frozen=True)
class QueueStats:
    """Sizes and progress of one queue; a slot is one (item, reviewer) assignment."""

    queue: str
    items: int
    items_done: int
    slots: int
    open: int
    leased: int
    done: int
    flagged: int


@dataclass(frozen=True)
class Holder:
    """Who holds which lease right now (expired leases are still listed until swept)."""

    reviewer: str
    item_id: int
    slot_id: int
    queue: str
    expires: float
    expired: bool


@dataclass(frozen=True)
class AuditEntry:
    """One row of the audit log."""

    id: int
    ts: float
    actor: str
    action: str
    item_id: int | None
    detail: dict[str, Any]
