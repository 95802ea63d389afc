"""The review store on real SQLite (WAL): leases, versions, overlap, skips, flags, the audit log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from dashboard_helpers import FakeClock, sample_items
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite

from review import DuplicateLabel, InvalidLabel, LeaseLost, NoSuchItem, ReviewStore
from review.errors import ConfigError
from review.store import claim_statement


def test_sqlite_runs_in_wal_mode_with_busy_timeout(store: ReviewStore, tmp_path: Path) -> None:
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000  # writers wait in BEGIN
    raw = sqlite3.connect(tmp_path / "review.sqlite")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persisted in the file
    raw.close()


def test_durability_setting(tmp_path: Path) -> None:
    full = ReviewStore(tmp_path / "a.sqlite")
    normal = ReviewStore(tmp_path / "b.sqlite", sqlite_synchronous="NORMAL")
    with full.engine.connect() as a, normal.engine.connect() as b:
        assert a.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL by default
        assert b.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    full.close()
    normal.close()
    with pytest.raises(ConfigError, match="sqlite_synchronous"):
        ReviewStore(tmp_path / "c.sqlite", sqlite_synchronous="OFF")


def test_add_items_is_idempotent(store: ReviewStore) -> None:
    assert store.add_items(sample_items(5)) == (5, 0)
    assert store.add_items(sample_items(7)) == (2, 5)
    assert store.count_items() == 7
    # The same source id in another queue is another item.
    assert store.add_items(sample_items(3, queue="audit")) == (3, 0)
    assert store.count_items() == 10


def test_claim_order_and_exclusivity(store: ReviewStore) -> None:
    store.add_items(sample_items(3))
    a = store.claim_next("alice")
    b = store.claim_next("bob")
    c = store.claim_next("carol")
    assert a is not None and b is not None and c is not None
    assert len({a.item_id, b.item_id, c.item_id}) == 3
    assert store.claim_next("dave") is None  # everything is leased


def test_priority_orders_claims(store: ReviewStore) -> None:
    from dataclasses import replace

    items = sample_items(3)
    items[2] = replace(items[2], priority=5.0)
    store.add_items(items)
    lease = store.claim_next("alice")
    assert lease is not None and store.get_item(lease.item_id).source_id == "case-2"


def test_claim_returns_the_lease_already_held(store: ReviewStore) -> None:
    store.add_items(sample_items(3))
    first = store.claim_next("alice")
    again = store.claim_next("alice")
    assert first is not None and again is not None
    assert (again.slot_id, again.version) == (first.slot_id, first.version)
    assert store.active_lease("alice") is not None and store.active_lease("alice").slot_id == first.slot_id
    assert store.active_lease("bob") is None


def test_submit_writes_label_and_audit_row(store: ReviewStore) -> None:
    store.add_items(sample_items(1))
    lease = store.claim_next("alice")
    assert lease is not None
    store.submit(lease, score=4, note="clear and correct")
    [label] = store.labels()
    assert (label.reviewer, label.score, label.note, label.kind) == (
        "alice",
        4.0,
        "clear and correct",
        "label",
    )
    [entry] = store.audit_log()
    assert (entry.actor, entry.action, entry.item_id, entry.detail["score"]) == (
        "alice",
        "label",
        lease.item_id,
        4,
    )
    with pytest.raises(LeaseLost):
        store.submit(lease, score=3)  # the slot is done: a second submit with the old lease is refused
    assert len(store.labels()) == 1


def test_expired_lease_returns_to_queue_and_old_holder_is_refused(
    store: ReviewStore, clock: FakeClock
) -> None:
    store.add_items(sample_items(1))
    old = store.claim_next("alice")
    assert old is not None
    assert store.claim_next("bob") is None
    clock.advance(61)
    new = store.claim_next("bob")
    assert new is not None and new.item_id == old.item_id and new.version > old.version
    with pytest.raises(LeaseLost, match="no longer current"):
        store.submit(old, score=2)
    with pytest.raises(LeaseLost):
        store.heartbeat(old)
    store.submit(new, score=5)
    assert [(r.reviewer, r.score) for r in store.labels()] == [("bob", 5.0)]


def test_late_submit_accepted_when_nobody_took_over(store: ReviewStore, clock: FakeClock) -> None:
    store.add_items(sample_items(1))
    lease = store.claim_next("alice")
    assert lease is not None
    clock.advance(3600)
    store.submit(lease, score=3)
    assert len(store.labels()) == 1


def test_heartbeat_extends_lease(store: ReviewStore, clock: FakeClock) -> None:
    store.add_items(sample_items(1))
    lease = store.claim_next("alice")
    assert lease is not None
    clock.advance(50)
    lease = store.heartbeat(lease)
    clock.advance(50)  # 100 s after the claim, but only 50 after the heartbeat
    assert store.claim_next("bob") is None
    store.submit(lease, score=1)


def test_overlap_gives_each_item_to_n_distinct_reviewers(store: ReviewStore) -> None:
    store.add_items(sample_items(2, overlap=2))
    got = {}
    for who in ("alice", "bob", "carol", "dave"):
        lease = store.claim_next(who)
        assert lease is not None
        got[who] = lease.item_id
        store.submit(lease, score=3)
    assert sorted(got.values()) == sorted([1, 1, 2, 2])
    assert store.claim_next("erin") is None
    # nobody labelled the same item twice
    pairs = [(r.item_id, r.reviewer) for r in store.labels()]
    assert len(pairs) == len(set(pairs)) == 4


def test_reviewer_never_gets_second_slot_of_same_item(store: ReviewStore) -> None:
    store.add_items(sample_items(1, overlap=3))
    lease = store.claim_next("alice")
    assert lease is not None
    store.submit(lease, score=2)
    assert store.claim_next("alice") is None
    assert store.claim_next("bob") is not None


def test_labels_unique_per_item_and_reviewer_at_the_database(store: ReviewStore) -> None:
    store.add_items(sample_items(1, overlap=2))
    lease = store.claim_next("alice")
    assert lease is not None
    store.submit(lease, score=2)
    # Force a second slot of the same item into alice's hands behind the claim logic's back.
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE review_slots SET state='leased', reviewer='alice', version=version+1 WHERE state='open'"
        )
    forced = store.active_lease("alice")
    assert forced is not None
    with pytest.raises(DuplicateLabel, match="unique per"):
        store.submit(forced, score=3)
    assert len(store.labels()) == 1
    assert [e.action for e in store.audit_log()] == ["label"]  # the failed submit left no audit row


def test_label_and_audit_are_one_transaction(store: ReviewStore) -> None:
    """Fault injection: if the audit insert fails, the label and the slot change roll back too."""
    store.add_items(sample_items(1))
    lease = store.claim_next("alice")
    assert lease is not None

    def fail_on_audit(conn, cursor, statement, params, context, executemany):
        if statement.startswith("INSERT INTO review_audit"):
            raise RuntimeError("disk full (injected)")

    event.listen(store.engine, "before_cursor_execute", fail_on_audit)
    with pytest.raises(RuntimeError, match="injected"):
        store.submit(lease, score=4)
    event.remove(store.engine, "before_cursor_execute", fail_on_audit)
    assert store.labels() == []
    assert store.active_lease("alice") is not None  # still leased: the slot update rolled back
    store.submit(lease, score=4)
    assert len(store.labels()) == 1 and len(store.audit_log()) == 1


def test_skip_returns_item_to_others_only(store: ReviewStore) -> None:
    store.add_items(sample_items(1))
    lease = store.claim_next("alice")
    assert lease is not None
    store.skip(lease, "not my language")
    assert store.claim_next("alice") is None
    other = store.claim_next("bob")
    assert other is not None and other.item_id == lease.item_id
    assert store.audit_log()[0].action == "skip"


def test_flag_needs_a_note_and_counts_as_answer(store: ReviewStore) -> None:
    store.add_items(sample_items(1))
    lease = store.claim_next("alice")
    assert lease is not None
    with pytest.raises(InvalidLabel, match="note"):
        store.flag(lease, "  ")
    store.flag(lease, "output is in the wrong language")
    [label] = store.labels()
    assert label.kind == "flag" and label.score is None
    assert store.queue_stats()[0].flagged == 1


def test_invalid_labels_are_refused(store: ReviewStore) -> None:
    from review import NewItem

    store.add_items(
        [NewItem(queue="q", source_id="x", input="i", output="o", scale=(1, 5), categories=("good", "bad"))]
    )
    lease = store.claim_next("alice")
    assert lease is not None
    with pytest.raises(InvalidLabel, match=r"score 7 .* outside its scale 1\.\.5"):
        store.submit(lease, score=7)
    with pytest.raises(InvalidLabel, match="'meh' .* not one of"):
        store.submit(lease, category="meh")
    with pytest.raises(InvalidLabel, match="empty"):
        store.submit(lease)
    store.submit(lease, category="good")


def test_admin_releases(store: ReviewStore, clock: FakeClock) -> None:
    store.add_items(sample_items(3))
    a = store.claim_next("alice")
    store.claim_next("bob")
    assert a is not None
    assert {h.reviewer for h in store.holders()} == {"alice", "bob"}
    assert store.release_reviewer("bob", actor="admin") == 1
    assert {h.reviewer for h in store.holders()} == {"alice"}
    clock.advance(61)
    assert store.holders()[0].expired
    assert store.release_expired(actor="admin") == 1
    assert store.holders() == []
    assert [e.action for e in store.audit_log()] == ["release_expired", "release"]


def test_queue_stats(store: ReviewStore) -> None:
    store.add_items(sample_items(2, queue="calibration", overlap=2))
    store.add_items(sample_items(3, queue="audit"))
    lease = store.claim_next("alice", queue="calibration")
    assert lease is not None
    store.submit(lease, score=3)
    stats = {s.queue: s for s in store.queue_stats()}
    assert (stats["calibration"].items, stats["calibration"].slots, stats["calibration"].done) == (2, 4, 1)
    assert stats["calibration"].items_done == 0  # one of two reviewers done
    assert (stats["audit"].items, stats["audit"].open) == (3, 3)


def test_unknown_item_and_bad_arguments(store: ReviewStore, tmp_path: Path) -> None:
    with pytest.raises(NoSuchItem, match="42"):
        store.get_item(42)
    with pytest.raises(ConfigError, match="reviewer"):
        store.claim_next("  ")
    with pytest.raises(ConfigError, match="lease_seconds"):
        ReviewStore(tmp_path / "x.sqlite", lease_seconds=0)
    with pytest.raises(ConfigError, match="not usable"):
        ReviewStore("nosuchdialect://x")


def test_postgres_claim_uses_skip_locked_and_returning() -> None:
    sql = str(claim_statement("alice", 0.0, 60.0, "audit").compile(dialect=postgresql.dialect()))
    assert "FOR UPDATE OF cand SKIP LOCKED" in sql
    assert sql.startswith("UPDATE review_slots SET")
    assert "RETURNING review_slots.id, review_slots.item_id, review_slots.version" in sql
    lite = str(claim_statement("alice", 0.0, 60.0).compile(dialect=sqlite.dialect()))
    assert "FOR UPDATE" not in lite and "RETURNING" in lite


def test_postgres_insert_uses_on_conflict() -> None:
    from sqlalchemy.dialects.postgresql import insert

    from review._schema import items

    sql = str(
        insert(items)
        .on_conflict_do_nothing(index_elements=["queue", "source_id"])
        .compile(dialect=postgresql.dialect())
    )
    assert "ON CONFLICT (queue, source_id) DO NOTHING" in sql


def test_writer_waits_for_the_lock_then_gives_up(
    store: ReviewStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holding the write lock delays a claim; past the deadline the claim fails loudly."""
    import threading
    import time

    import review._engine as store_mod

    store.add_items(sample_items(2))
    blocker = sqlite3.connect(tmp_path / "review.sqlite", isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, lambda: blocker.execute("COMMIT")).start()
    t0 = time.monotonic()
    lease = store.claim_next("alice")
    assert lease is not None and time.monotonic() - t0 >= 0.25

    monkeypatch.setattr(store_mod, "_BUSY_TIMEOUT_MS", 200)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Exception, match="database is locked"):
            store.claim_next("bob")
    finally:
        blocker.execute("COMMIT")
        blocker.close()
    assert store.claim_next("bob") is not None
