"""The review store: items, leases, labels and the audit log, on SQLite (WAL) or Postgres.

Concurrency model (why it is safe with many reviewers and many processes):

* A claim is one ``UPDATE review_slots ... WHERE id = (SELECT ... LIMIT 1) RETURNING ...``. On SQLite the
  write transaction is opened with ``BEGIN IMMEDIATE``, so writers are serialised by the database lock
  and two claimers can never pick the same slot; on Postgres the sub-select carries ``FOR UPDATE SKIP
  LOCKED`` so concurrent claimers skip each other's rows instead of queueing behind them.
* Every process (and, through the pool, every thread) uses its own connection; SQLite runs in WAL mode so
  readers never block the writer, and writers wait for the lock instead of failing (``_engine.py``).
* A submit checks the lease version and writes the label and its audit row in one transaction.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ._engine import dialect_insert, engine_for, serialize
from ._migrate import add_case_keys, add_label_turns, add_trace_keys
from ._rows import item_from_row, item_row, label_from_row
from ._schema import audit, items, labels, metadata, passes, slots
from ._statements import (
    AUDIT,
    CLAIM,
    DONE,
    EXTEND,
    HEARTBEAT,
    HELD,
    LABEL,
    REOPEN,
    RULES,
    SWEEP,
    TURN_LABELS,
    TURN_RULES,
    claim_statement,
    lease_params,
)
from .errors import ConfigError, DuplicateLabel, InvalidLabel, LeaseLost, NoSuchItem
from .models import AuditEntry, Holder, Item, LabelRecord, Lease, NewItem, QueueStats
from .transcript import turn_indices

__all__ = ["DEFAULT_LEASE_SECONDS", "ReviewStore", "claim_statement"]

log = logging.getLogger(__name__)


#: How long a claim stays with a reviewer without a heartbeat.
DEFAULT_LEASE_SECONDS = 600.0


class ReviewStore:
    """Items to review, reviewers' leases on them, their labels and an audit log.

    Open with a file path (SQLite, WAL) or a SQLAlchemy URL. Create one store per process; it is safe
    to share between threads of that process (each thread gets its own pooled connection).
    ``sqlite_synchronous`` trades durability for speed on SQLite (see docs/review.md for numbers).
    """

    def __init__(
        self,
        target: str | Path,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
        sqlite_synchronous: str = "FULL",
    ) -> None:
        if lease_seconds <= 0:
            raise ConfigError(f"lease_seconds must be positive, got {lease_seconds!r}")
        if sqlite_synchronous not in ("FULL", "NORMAL"):
            raise ConfigError(
                f"sqlite_synchronous must be FULL (labels survive power loss) or NORMAL (faster; they survive "
                f"a crashed process), got {sqlite_synchronous!r}"
            )
        self.engine = engine_for(target, sqlite_synchronous)
        self.lease_seconds = float(lease_seconds)
        self._clock = clock
        metadata.create_all(self.engine)
        add_case_keys(self.engine)
        add_label_turns(self.engine)
        add_trace_keys(self.engine)

    def close(self) -> None:
        """Close all pooled connections."""
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    # ---------------------------------------------------------------- filling

    def add_items(self, new_items: Iterable[NewItem]) -> tuple[int, int]:
        """Enqueue items; those whose ``(queue, source_id)`` is already stored are skipped, and so are
        production items whose (queue, trace, criterion) is (``_rows.trace_key``), whichever tool queued it.

        Returns ``(added, already_present)``. Each added item gets ``overlap`` open slots.
        """
        rows = [item_row(it, self._clock()) for it in new_items]
        if not rows:
            return 0, 0
        insert = dialect_insert(self.engine)
        added = 0
        with self._tx() as conn:
            for start in range(0, len(rows), 2000):
                chunk = rows[start : start + 2000]
                stmt = (
                    insert(items)
                    .on_conflict_do_nothing()  # (queue, source_id) or (queue, trace_key) already stored
                    .returning(items.c.id, items.c.queue, items.c.priority, items.c.overlap, items.c.case_key)
                )
                got = conn.execute(stmt, chunk).all()
                slot_rows = [
                    {
                        "item_id": r.id,
                        "queue": r.queue,
                        "priority": r.priority,
                        "state": "open",
                        "version": 0,
                        "case_key": r.case_key,
                    }
                    for r in got
                    for _ in range(r.overlap)
                ]
                if slot_rows:
                    conn.execute(slots.insert(), slot_rows)
                added += len(got)
        return added, len(rows) - added

    # ---------------------------------------------------------------- leases

    def active_lease(self, reviewer: str) -> Lease | None:
        """The lease this reviewer holds, if any (so a refreshed page finds its item again)."""
        with self.engine.connect() as conn:
            row = conn.execute(HELD, {"b_reviewer": reviewer}).first()
        return None if row is None else Lease(row.id, row.item_id, reviewer, row.version, row.lease_expires)

    def claim_next(self, reviewer: str, *, queue: str | None = None) -> Lease | None:
        """Lease the next slot for ``reviewer`` (their current lease if they hold one); None if none left."""
        _check_reviewer(reviewer)
        now = self._clock()
        expires = now + self.lease_seconds
        with self._tx() as conn:
            # Inside the write transaction, so two tabs of one reviewer cannot both take a new item (or
            # two items of one case). SQLite's BEGIN IMMEDIATE serialises every writer; Postgres (read
            # committed) needs the reviewer's own lock, else both tabs see "holds nothing" at once.
            serialize(conn, f"claim:{reviewer}")
            held = conn.execute(HELD, {"b_reviewer": reviewer}).first()
            if held is not None:
                conn.execute(EXTEND, {"b_slot": held.id, "b_expires": expires})
                return Lease(held.id, held.item_id, reviewer, held.version, expires)
            self._sweep(conn, now)
            params = {"b_reviewer": reviewer, "b_expires": expires}
            if queue is not None:
                params["b_queue"] = queue
            row = conn.execute(CLAIM[queue is not None], params).first()
        if row is None:
            return None
        return Lease(row.id, row.item_id, reviewer, row.version, row.lease_expires)

    def heartbeat(self, lease: Lease) -> Lease:
        """Extend a lease by the store's lease length; raises :class:`LeaseLost` if it changed hands."""
        expires = self._clock() + self.lease_seconds
        with self._tx() as conn:
            res = conn.execute(HEARTBEAT, {**lease_params(lease), "b_expires": expires})
            if res.rowcount != 1:
                raise LeaseLost(_lost_message(lease))
        return Lease(lease.slot_id, lease.item_id, lease.reviewer, lease.version, expires)

    def submit(
        self,
        lease: Lease,
        *,
        score: float | None = None,
        category: str | None = None,
        note: str = "",
    ) -> None:
        """Store the reviewer's label for the leased item, with its audit row, in one transaction."""
        with self.engine.connect() as conn:
            rules = conn.execute(RULES, {"b_item": lease.item_id}).first()
        if rules is None:
            raise NoSuchItem(f"no review item with id {lease.item_id}")
        scale = None if rules.scale_min is None else (rules.scale_min, rules.scale_max)
        _validate_label(lease.item_id, scale, tuple(json.loads(rules.categories)), score, category, note)
        self._finish(lease, "label", score, category, note)

    def label_turn(
        self,
        lease: Lease,
        turn: int,
        *,
        score: float | None = None,
        category: str | None = None,
        note: str = "",
    ) -> None:
        """Store the reviewer's label of one turn of the leased item's conversation; the lease stays held.

        ``turn`` is the turn's ``index`` in ``meta["turns"]``. One label per (item, turn) per reviewer
        (:class:`DuplicateLabel` on a second); the item is finished by :meth:`submit` (a label of the whole
        conversation) or :meth:`finish_turns` (turn labels only). The label is written with its audit row
        in one transaction, and only while the lease is current (:class:`LeaseLost` otherwise).
        """
        with self.engine.connect() as conn:
            rules = conn.execute(TURN_RULES, {"b_item": lease.item_id}).first()
        if rules is None:
            raise NoSuchItem(f"no review item with id {lease.item_id}")
        known = turn_indices(json.loads(rules.meta))
        if not known:
            raise InvalidLabel(f"item {lease.item_id} holds no conversation turns; label the whole item instead")
        if isinstance(turn, bool) or not isinstance(turn, int) or turn not in known:
            raise InvalidLabel(f"item {lease.item_id} has no turn {turn!r}; its turns are {known}")
        scale = None if rules.scale_min is None else (rules.scale_min, rules.scale_max)
        _validate_label(lease.item_id, scale, tuple(json.loads(rules.categories)), score, category, note)
        now = self._clock()
        label = {
            "item_id": lease.item_id,
            "slot_id": lease.slot_id,
            "reviewer": lease.reviewer,
            "kind": "label",
            "score": score,
            "category": category,
            "note": note,
            "lease_version": lease.version,
            "created": now,
            "turn": turn,
        }
        detail = {"turn": turn, "score": score, "category": category, "version": lease.version}
        try:
            with self._tx() as conn:
                # still this reviewer's claim (and the claim is extended: they are reading)
                res = conn.execute(HEARTBEAT, {**lease_params(lease), "b_expires": now + self.lease_seconds})
                if res.rowcount != 1:
                    raise LeaseLost(_lost_message(lease))
                conn.execute(LABEL, label)
                _audit(conn, now, lease.reviewer, "label_turn", lease.item_id, lease.slot_id, detail)
        except IntegrityError as exc:
            raise DuplicateLabel(
                f"reviewer {lease.reviewer!r} already labelled turn {turn} of item {lease.item_id}; labels are "
                "unique per (item, turn, reviewer)"
            ) from exc

    def finish_turns(self, lease: Lease) -> None:
        """Finish the leased item with the turn labels already given and no label of the whole conversation."""
        now = self._clock()
        with self._tx() as conn:
            given = conn.execute(TURN_LABELS, {"b_item": lease.item_id, "b_reviewer": lease.reviewer}).scalar_one()
            if not given:
                raise InvalidLabel(
                    f"item {lease.item_id}: label at least one turn, or label the whole conversation"
                )
            res = conn.execute(DONE, lease_params(lease))
            if res.rowcount != 1:
                raise LeaseLost(_lost_message(lease))
            _audit(conn, now, lease.reviewer, "done_turns", lease.item_id, lease.slot_id, {"turn_labels": given})

    def flag(self, lease: Lease, note: str) -> None:
        """Flag the leased item as unreviewable or problematic (the flag counts as this reviewer's answer)."""
        if not note.strip():
            raise InvalidLabel("a flag needs a note saying what is wrong with the item")
        self._finish(lease, "flag", None, None, note)

    def skip(self, lease: Lease, reason: str = "") -> None:
        """Give the slot back to the queue; this reviewer will not be offered the item again."""
        now = self._clock()
        with self._tx() as conn:
            res = conn.execute(REOPEN, lease_params(lease))
            if res.rowcount != 1:
                raise LeaseLost(_lost_message(lease))
            conn.execute(
                dialect_insert(self.engine)(passes)
                .values(item_id=lease.item_id, reviewer=lease.reviewer, created=now)
                .on_conflict_do_nothing()
            )
            _audit(conn, now, lease.reviewer, "skip", lease.item_id, lease.slot_id, {"reason": reason})

    def _finish(self, lease: Lease, kind: str, score: float | None, category: str | None, note: str) -> None:
        now = self._clock()
        label = {
            "item_id": lease.item_id,
            "slot_id": lease.slot_id,
            "reviewer": lease.reviewer,
            "kind": kind,
            "score": score,
            "category": category,
            "note": note,
            "lease_version": lease.version,
            "created": now,
        }
        detail = {"kind": kind, "score": score, "category": category, "version": lease.version}
        try:
            with self._tx() as conn:
                res = conn.execute(DONE, lease_params(lease))
                if res.rowcount != 1:
                    raise LeaseLost(_lost_message(lease))
                conn.execute(LABEL, label)
                _audit(conn, now, lease.reviewer, kind, lease.item_id, lease.slot_id, detail)
        except IntegrityError as exc:
            raise DuplicateLabel(
                f"reviewer {lease.reviewer!r} already labelled item {lease.item_id}; labels are unique "
                "per (item, reviewer)"
            ) from exc

    def _sweep(self, conn: Connection, now: float) -> int:
        res = conn.execute(SWEEP, {"b_now": now})
        if res.rowcount:
            log.info("returned %d expired leases to the queue", res.rowcount)
        return int(res.rowcount)

    # ---------------------------------------------------------------- admin

    def release_expired(self, actor: str = "system") -> int:
        """Return every expired lease to its queue now; returns how many."""
        now = self._clock()
        with self._tx() as conn:
            n = self._sweep(conn, now)
            if n:
                _audit(conn, now, actor, "release_expired", None, None, {"count": n})
        return n

    def release_reviewer(self, reviewer: str, actor: str) -> int:
        """Return every lease held by ``reviewer`` to the queue (an admin action); returns how many."""
        now = self._clock()
        with self._tx() as conn:
            res = conn.execute(
                update(slots)
                .where(slots.c.reviewer == reviewer, slots.c.state == "leased")
                .values(state="open", reviewer=None, lease_expires=None, version=slots.c.version + 1)
            )
            n = int(res.rowcount)
            if n:
                _audit(conn, now, actor, "release", None, None, {"reviewer": reviewer, "count": n})
        return n

    # ---------------------------------------------------------------- reading

    def get_item(self, item_id: int) -> Item:
        """The item with this id; raises :class:`NoSuchItem` if absent."""
        with self.engine.connect() as conn:
            row = conn.execute(select(items).where(items.c.id == item_id)).first()
        if row is None:
            raise NoSuchItem(f"no review item with id {item_id}")
        return item_from_row(row)

    def queue_stats(self) -> list[QueueStats]:
        """Per-queue sizes and progress, sorted by queue name."""
        with self.engine.connect() as conn:
            slot_rows = conn.execute(
                select(slots.c.queue, slots.c.state, func.count()).group_by(slots.c.queue, slots.c.state)
            ).all()
            item_rows = conn.execute(select(items.c.queue, func.count()).group_by(items.c.queue)).all()
            open_items = conn.execute(
                select(slots.c.queue, func.count(sa.distinct(slots.c.item_id)))
                .where(slots.c.state != "done")
                .group_by(slots.c.queue)
            ).all()
            flag_rows = conn.execute(
                select(items.c.queue, func.count(sa.distinct(labels.c.item_id)))
                .join(items, items.c.id == labels.c.item_id)
                .where(labels.c.kind == "flag")
                .group_by(items.c.queue)
            ).all()
        counts: dict[str, dict[str, int]] = {}
        for q, state, n in slot_rows:
            counts.setdefault(q, {})[state] = n
        n_items: dict[str, int] = {q: n for q, n in item_rows}
        n_open_items: dict[str, int] = {q: n for q, n in open_items}
        n_flag: dict[str, int] = {q: n for q, n in flag_rows}
        out = []
        for q in sorted(set(n_items) | set(counts)):
            c = counts.get(q, {})
            total = n_items.get(q, 0)
            out.append(
                QueueStats(
                    queue=q,
                    items=total,
                    items_done=total - n_open_items.get(q, 0),
                    slots=sum(c.values()),
                    open=c.get("open", 0),
                    leased=c.get("leased", 0),
                    done=c.get("done", 0),
                    flagged=n_flag.get(q, 0),
                )
            )
        return out

    def holders(self) -> list[Holder]:
        """Every lease currently held, oldest expiry first."""
        now = self._clock()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(slots.c.reviewer, slots.c.item_id, slots.c.id, slots.c.queue, slots.c.lease_expires)
                .where(slots.c.state == "leased")
                .order_by(slots.c.lease_expires)
            ).all()
        return [Holder(r[0], r[1], r[2], r[3], r[4], r[4] < now) for r in rows]

    def labels(
        self,
        *,
        criterion: str | None = None,
        queue: str | None = None,
        item_id: int | None = None,
        reviewer: str | None = None,
        visible_to: str | None = None,
    ) -> list[LabelRecord]:
        """Stored labels (and flags) joined with their items, in label order; ``turn`` set on a turn's label.

        ``visible_to``: only the items that reviewer has labelled themselves (blind calibration: nobody
        sees another reviewer's name or score on an item before their own label is in).
        """
        q = (
            select(
                labels.c.item_id,
                items.c.queue,
                items.c.source_id,
                items.c.criterion,
                labels.c.reviewer,
                labels.c.kind,
                labels.c.score,
                labels.c.category,
                labels.c.note,
                labels.c.created,
                items.c.judge_score,
                items.c.input,
                items.c.output,
                items.c.context,
                items.c.expected,
                items.c.trace_id,
                items.c.span_id,
                items.c.suite,
                items.c.scale_min,
                items.c.scale_max,
                items.c.categories,
                items.c.meta,
                labels.c.turn,
            )
            .join(items, items.c.id == labels.c.item_id)
            .order_by(labels.c.id)
        )
        if criterion is not None:
            q = q.where(items.c.criterion == criterion)
        if queue is not None:
            q = q.where(items.c.queue == queue)
        if item_id is not None:
            q = q.where(labels.c.item_id == item_id)
        if reviewer is not None:
            q = q.where(labels.c.reviewer == reviewer)
        if visible_to is not None:
            own = select(labels.c.item_id).where(labels.c.reviewer == visible_to, labels.c.kind == "label")
            q = q.where(labels.c.item_id.in_(own))
        with self.engine.connect() as conn:
            return [label_from_row(r) for r in conn.execute(q).all()]

    def audit_log(self, *, item_id: int | None = None, limit: int = 1000) -> list[AuditEntry]:
        """The newest audit rows first (optionally for one item)."""
        q = select(audit).order_by(audit.c.id.desc()).limit(limit)
        if item_id is not None:
            q = q.where(audit.c.item_id == item_id)
        with self.engine.connect() as conn:
            return [
                AuditEntry(r.id, r.ts, r.actor, r.action, r.item_id, json.loads(r.detail))
                for r in conn.execute(q).all()
            ]

    def count_items(self) -> int:
        """How many items the store holds, over all queues."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(items)).scalar_one())


# ---------------------------------------------------------------- helpers


def _lost_message(lease: Lease) -> str:
    return (
        f"lease on item {lease.item_id} (slot {lease.slot_id}, version {lease.version}) held by "
        f"{lease.reviewer!r} is no longer current: it expired and was taken over, or was released; "
        "claim the next item"
    )


def _audit(
    conn: Connection,
    ts: float,
    actor: str,
    action: str,
    item_id: int | None,
    slot_id: int | None,
    detail: dict[str, Any],
) -> None:
    row = {"ts": ts, "actor": actor, "action": action, "item_id": item_id, "slot_id": slot_id}
    conn.execute(AUDIT, {**row, "detail": json.dumps(detail)})


def _check_reviewer(reviewer: str) -> None:
    if not isinstance(reviewer, str) or not reviewer.strip():
        raise ConfigError(f"reviewer must be a non-empty name, got {reviewer!r}")


def _validate_label(
    item_id: int,
    scale: tuple[float, float] | None,
    categories: tuple[str, ...],
    score: float | None,
    category: str | None,
    note: str,
) -> None:
    if score is None and category is None and not note.strip():
        raise InvalidLabel(f"label for item {item_id} is empty: give a score, a category or a note")
    if score is not None and scale is not None and not scale[0] <= score <= scale[1]:
        raise InvalidLabel(
            f"score {score!r} for item {item_id} is outside its scale {scale[0]:g}..{scale[1]:g}"
        )
    if category is not None and categories and category not in categories:
        raise InvalidLabel(f"category {category!r} for item {item_id} is not one of {list(categories)}")
