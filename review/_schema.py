"""Tables of the review store (SQLAlchemy Core, the same on SQLite and Postgres)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

metadata = MetaData()

items = Table(
    "review_items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("queue", String(64), nullable=False),
    Column("source_id", String(512), nullable=False),
    Column("criterion", String(128), nullable=False),
    Column("suite", String(256)),
    Column("input", Text, nullable=False),
    Column("output", Text, nullable=False),
    Column("context", Text),
    Column("expected", Text),
    Column("scale_min", Float),
    Column("scale_max", Float),
    Column("categories", Text, nullable=False, default="[]"),  # JSON list
    Column("judge_score", Float),
    Column("judges", Text, nullable=False, default="[]"),  # JSON list of JudgeView dicts
    Column("reason", Text, nullable=False, default=""),
    Column("priority", Float, nullable=False, default=0.0),
    Column("overlap", Integer, nullable=False, default=1),
    Column("trace_id", String(64)),
    Column("span_id", String(64)),
    Column("meta", Text, nullable=False, default="{}"),
    Column("created", Float, nullable=False),
    # The case an item shows (see _rows.case_key): one reviewer labels a case once, whatever its queues.
    Column("case_key", String(64)),
    # A production item's trace under its criterion (see _rows.trace_key), NULL for any other item: one
    # production item per (queue, trace, criterion), whichever tool queued it. Added by _migrate.add_trace_keys.
    Column("trace_key", String(64)),
    UniqueConstraint("queue", "source_id", name="uq_items_queue_source"),
)
# NULLs never collide in a unique index (SQLite and Postgres alike), so eval items are not constrained.
Index("uq_items_queue_trace", items.c.queue, items.c.trace_key, unique=True)

# One row per (item, reviewer position): an item with overlap N has N slots. A lease is a slot in
# state "leased" with a reviewer, an expiry and a version that changes whenever the slot changes hands.
slots = Table(
    "review_slots",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", Integer, ForeignKey("review_items.id"), nullable=False),
    Column("queue", String(64), nullable=False),  # copied from the item so the claim index covers it
    Column("priority", Float, nullable=False),
    Column("state", String(8), nullable=False, default="open"),  # open | leased | done
    Column("reviewer", String(128)),
    Column("lease_expires", Float),
    Column("version", Integer, nullable=False, default=0),
    # copied from the item so the claim's "case already yours" test is indexed
    Column("case_key", String(64)),
)
Index("ix_slots_claim_queue", slots.c.state, slots.c.queue, slots.c.priority.desc(), slots.c.id)
Index("ix_slots_claim_any", slots.c.state, slots.c.priority.desc(), slots.c.id)
Index("ix_slots_reviewer", slots.c.reviewer, slots.c.state)
Index("ix_slots_item_reviewer", slots.c.item_id, slots.c.reviewer)
Index("ix_slots_expiry", slots.c.state, slots.c.lease_expires)
Index("ix_slots_case_reviewer", slots.c.case_key, slots.c.reviewer)

labels = Table(
    "review_labels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("item_id", Integer, ForeignKey("review_items.id"), nullable=False),
    Column("slot_id", Integer, ForeignKey("review_slots.id"), nullable=False),
    Column("reviewer", String(128), nullable=False),
    Column("kind", String(8), nullable=False),  # label | flag
    Column("score", Float),
    Column("category", String(256)),
    Column("note", Text, nullable=False, default=""),
    Column("lease_version", Integer, nullable=False),
    Column("created", Float, nullable=False),
    # None: a label of the whole item (the case); a number: a label of that one turn of the item's
    # conversation (``meta["turns"]``, by the turn's ``index``). Added by _migrate.add_label_turns.
    Column("turn", Integer),
)
# One label per reviewer for the whole item and one per reviewer for each of its turns: (item, reviewer,
# turn) is unique with a whole-item label's NULL turn counted as -1 (a plain unique constraint would let
# NULLs repeat). Replaced the table constraint uq_labels_item_reviewer (item, reviewer); see _migrate.py.
Index(
    "uq_labels_item_reviewer_turn",
    labels.c.item_id,
    labels.c.reviewer,
    func.coalesce(labels.c.turn, -1),
    unique=True,
)

# Items a reviewer skipped are not offered to that reviewer again.
passes = Table(
    "review_passes",
    metadata,
    Column("item_id", Integer, ForeignKey("review_items.id"), nullable=False),
    Column("reviewer", String(128), nullable=False),
    Column("created", Float, nullable=False),
    PrimaryKeyConstraint("item_id", "reviewer"),
)

audit = Table(
    "review_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("item_id", Integer),
    Column("slot_id", Integer),
    Column("detail", Text, nullable=False, default="{}"),
)
