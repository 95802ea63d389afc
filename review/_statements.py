"""The store's SQL, built once with bind parameters (the same Core statements on SQLite and Postgres)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import bindparam, exists, select, update

from ._schema import audit, items, labels, passes, slots
from .models import Lease


def claim_statement(reviewer: Any, now: Any, ttl: Any, queue: Any = None) -> sa.Update:
    """The atomic claim: lease the best open slot the reviewer may take, returning the lease.

    Arguments are values or bind parameters. Exposed so tests can compile it for Postgres
    (``FOR UPDATE SKIP LOCKED``) without a server.
    """
    cand = slots.alias("cand")
    other = slots.alias("other")
    conditions = [
        cand.c.state == "open",
        # Never two slots of one case for the same reviewer (so never two of one item, nor the same case
        # from two queues), and never an item they skipped.
        ~exists().where(other.c.case_key == cand.c.case_key, other.c.reviewer == reviewer),
        ~exists().where(passes.c.item_id == cand.c.item_id, passes.c.reviewer == reviewer),
    ]
    if queue is not None:
        conditions.append(cand.c.queue == queue)
    pick = (
        select(cand.c.id)
        .where(*conditions)
        .order_by(cand.c.priority.desc(), cand.c.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=cand)
        .scalar_subquery()
    )
    return (
        update(slots)
        .where(slots.c.id == pick, slots.c.state == "open")
        .values(state="leased", reviewer=reviewer, lease_expires=now + ttl, version=slots.c.version + 1)
        .returning(slots.c.id, slots.c.item_id, slots.c.version, slots.c.lease_expires)
    )


# Statements are built once with bind parameters: building a SQLAlchemy construct per call cost more
# than running it (profiled: ~3 ms of a 4 ms claim), and it is work done while holding the write lock.
_B_REVIEWER: sa.BindParameter[Any] = bindparam("b_reviewer")
_B_SLOT: sa.BindParameter[Any] = bindparam("b_slot")
_B_VERSION: sa.BindParameter[Any] = bindparam("b_version")
_B_EXPIRES: sa.BindParameter[Any] = bindparam("b_expires")
_B_NOW: sa.BindParameter[Any] = bindparam("b_now")
CLAIM = {
    False: claim_statement(_B_REVIEWER, _B_EXPIRES, 0.0),
    True: claim_statement(_B_REVIEWER, _B_EXPIRES, 0.0, bindparam("b_queue")),
}
HELD = (
    select(slots.c.id, slots.c.item_id, slots.c.version, slots.c.lease_expires)
    .where(slots.c.reviewer == _B_REVIEWER, slots.c.state == "leased")
    .order_by(slots.c.id)
    .limit(1)
)
EXTEND = update(slots).where(slots.c.id == _B_SLOT).values(lease_expires=_B_EXPIRES)
REOPEN_VALUES = {"state": "open", "reviewer": None, "lease_expires": None, "version": slots.c.version + 1}
SWEEP = update(slots).where(slots.c.state == "leased", slots.c.lease_expires < _B_NOW).values(REOPEN_VALUES)
# A lease is still valid while the slot is leased to the same reviewer at the same version. A late
# submit after expiry is accepted as long as nobody has taken the slot over (the version says so).
HOLDS = (
    slots.c.id == _B_SLOT,
    slots.c.reviewer == _B_REVIEWER,
    slots.c.version == _B_VERSION,
    slots.c.state == "leased",
)
HEARTBEAT = update(slots).where(*HOLDS).values(lease_expires=_B_EXPIRES)
DONE = update(slots).where(*HOLDS).values(state="done", lease_expires=None, version=slots.c.version + 1)
REOPEN = update(slots).where(*HOLDS).values(REOPEN_VALUES)
RULES = select(items.c.scale_min, items.c.scale_max, items.c.categories).where(
    items.c.id == bindparam("b_item")
)
TURN_RULES = select(items.c.scale_min, items.c.scale_max, items.c.categories, items.c.meta).where(
    items.c.id == bindparam("b_item")
)
TURN_LABELS = select(sa.func.count()).where(
    labels.c.item_id == bindparam("b_item"), labels.c.reviewer == _B_REVIEWER, labels.c.turn.is_not(None)
)
LABEL = labels.insert()
AUDIT = audit.insert()


def lease_params(lease: Lease) -> dict[str, Any]:
    return {"b_slot": lease.slot_id, "b_reviewer": lease.reviewer, "b_version": lease.version}
