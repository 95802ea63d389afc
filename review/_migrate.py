"""Bringing a review store written by an older harness up to the current schema, on open."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from ._rows import case_key, trace_key
from ._schema import items, labels, slots


def add_case_keys(engine: Engine) -> None:
    """Add and fill ``case_key`` on items and slots of a store made before cases were unique per reviewer."""
    if _has_case_keys(sa.inspect(engine)):
        return
    with engine.begin() as conn:  # BEGIN IMMEDIATE on SQLite: one process upgrades, the others wait
        inspector = sa.inspect(conn)
        if _has_case_keys(inspector):
            return
        exists = " IF NOT EXISTS" if engine.dialect.name == "postgresql" else ""
        for table in (items, slots):
            if "case_key" not in {c["name"] for c in inspector.get_columns(table.name)}:
                conn.execute(sa.text(f"ALTER TABLE {table.name} ADD COLUMN{exists} case_key VARCHAR(64)"))
        rows = conn.execute(
            select(
                items.c.id, items.c.source_id, items.c.criterion, items.c.suite, items.c.meta, items.c.output
            )
        ).all()
        if rows:
            conn.execute(
                update(items)
                .where(items.c.id == sa.bindparam("b_id"))
                .values(case_key=sa.bindparam("b_key")),
                [
                    {
                        "b_id": r.id,
                        "b_key": case_key(r.source_id, r.criterion, r.suite, json.loads(r.meta), r.output),
                    }
                    for r in rows
                ],
            )
        conn.execute(
            update(slots).values(
                case_key=select(items.c.case_key).where(items.c.id == slots.c.item_id).scalar_subquery()
            )
        )
        for index in slots.indexes:
            if index.name == "ix_slots_case_reviewer":
                index.create(conn, checkfirst=True)


def _has_case_keys(inspector: sa.Inspector) -> bool:
    return all(
        "case_key" in {c["name"] for c in inspector.get_columns(table.name)} for table in (items, slots)
    )


def add_label_turns(engine: Engine) -> None:
    """Add ``turn`` to the labels of a store made before single turns could be labelled.

    The old table was unique on (item, reviewer); the current one is unique on (item, reviewer, turn) with
    a whole-item label's NULL turn counted as -1, so a reviewer keeps one label per item and gains one per
    turn. Postgres drops the old constraint; SQLite cannot drop a table constraint, so the table is rebuilt
    (nothing references it) and its rows copied with no turn. One transaction: all or nothing.
    """
    if _has_label_turns(sa.inspect(engine)):
        return
    with engine.begin() as conn:  # BEGIN IMMEDIATE on SQLite: one process upgrades, the others wait
        if _has_label_turns(sa.inspect(conn)):
            return
        index = next(i for i in labels.indexes if i.name == "uq_labels_item_reviewer_turn")
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"ALTER TABLE {labels.name} ADD COLUMN IF NOT EXISTS turn INTEGER"))
            conn.execute(sa.text(f"ALTER TABLE {labels.name} DROP CONSTRAINT IF EXISTS uq_labels_item_reviewer"))
            index.create(conn, checkfirst=True)
            return
        scratch = sa.MetaData()
        items.to_metadata(scratch)  # the copy's foreign keys resolve against these
        slots.to_metadata(scratch)
        new = labels.to_metadata(scratch, name=f"{labels.name}_new")
        new.create(conn)
        old_columns = [c.name for c in labels.columns if c.name != "turn"]
        names = ", ".join(old_columns)
        conn.execute(sa.text(f"INSERT INTO {new.name} ({names}) SELECT {names} FROM {labels.name}"))
        conn.execute(sa.text(f"DROP TABLE {labels.name}"))
        conn.execute(sa.text(f"ALTER TABLE {new.name} RENAME TO {labels.name}"))


def _has_label_turns(inspector: sa.Inspector) -> bool:
    return "turn" in {c["name"] for c in inspector.get_columns(labels.name)}


def add_trace_keys(engine: Engine) -> None:
    """Add ``trace_key`` (and its unique index per queue) to the items of a store made before production
    items were keyed by trace.

    Existing production items get their key; where one trace was already queued twice (the app's log keyed
    it by its CHAIN span, the monitor by its LLM span) the oldest item keeps the key and the later ones stay
    as they are, labels and all, with none. One transaction: all or nothing.
    """
    if _has_trace_keys(sa.inspect(engine)):
        return
    with engine.begin() as conn:  # BEGIN IMMEDIATE on SQLite: one process upgrades, the others wait
        if _has_trace_keys(sa.inspect(conn)):
            return
        exists = " IF NOT EXISTS" if engine.dialect.name == "postgresql" else ""
        conn.execute(sa.text(f"ALTER TABLE {items.name} ADD COLUMN{exists} trace_key VARCHAR(64)"))
        rows = conn.execute(
            select(items.c.id, items.c.queue, items.c.source_id, items.c.criterion, items.c.trace_id)
            .where(items.c.trace_id.is_not(None))
            .order_by(items.c.id)
        ).all()
        seen: set[tuple[str, str]] = set()
        keyed = []
        for r in rows:
            key = trace_key(r.source_id, r.criterion, r.trace_id)
            if key is not None and (r.queue, key) not in seen:
                seen.add((r.queue, key))
                keyed.append({"b_id": r.id, "b_key": key})
        if keyed:
            conn.execute(
                update(items).where(items.c.id == sa.bindparam("b_id")).values(trace_key=sa.bindparam("b_key")),
                keyed,
            )
        for index in items.indexes:
            if index.name == "uq_items_queue_trace":
                index.create(conn, checkfirst=True)


def _has_trace_keys(inspector: sa.Inspector) -> bool:
    return "trace_key" in {c["name"] for c in inspector.get_columns(items.name)}
