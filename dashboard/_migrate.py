"""Bringing a review store written by an older harness up to the current schema, on open."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from ._rows import case_key
from ._schema import items, slots


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
