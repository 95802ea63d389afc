"""One reviewer labels a case once, whichever queues it landed in: enforced at claim time by the store."""

from __future__ import annotations

import hashlib
import sqlite3
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dashboard_helpers import FakeClock

from review import LeaseLost, NewItem, ReviewStore
from review._rows import case_key


def eval_item(case_id: str, queue: str, *, overlap: int = 1, output: str = "answer", criterion: str = "quality",
              suite: str = "qa-app") -> NewItem:  # fmt: skip
    """An item as ``review.fill`` makes one (source id: suite, criterion, case and output hash)."""
    return NewItem(
        queue=queue,
        source_id=f"eval:{suite}:{criterion}:{case_id}:{hashlib.sha256(output.encode()).hexdigest()[:12]}",
        input=f"question {case_id}",
        output=output,
        criterion=criterion,
        suite=suite,
        scale=(1, 5),
        overlap=overlap,
        meta={"case_id": case_id, "kind": "rag"},
    )


def _claim_all(store: ReviewStore, who: str, queue: str | None = None) -> list[int]:
    got = []
    while (lease := store.claim_next(who, queue=queue)) is not None:
        got.append(lease.item_id)
        store.submit(lease, score=3)
    return got


def test_case_key_definition() -> None:
    base = case_key("eval:qa-app:quality:qa-03:1", "quality", "qa-app", {"case_id": "qa-03"}, "Paris.")
    # the queue and the source id's run part do not matter: the case, criterion and shown output do
    assert case_key("run:r2:qa-app:qa-03:geval", "quality", "qa-app", {"case_id": "qa-03"}, "Paris.") == base
    assert case_key("eval:x", "quality", "qa-app", {"case_id": "qa-03"}, "Lyon.") != base
    assert case_key("eval:x", "tone", "qa-app", {"case_id": "qa-03"}, "Paris.") != base
    assert case_key("eval:x", "quality", "summaries", {"case_id": "qa-03"}, "Paris.") != base
    # without a case id (production audit rows) the source id is the case
    prod = case_key("prod:00f067aa0ba902b7", "overall", None, {"case_id": "ignored", "user_id": "u1"}, "x")
    assert prod == case_key("prod:00f067aa0ba902b7", "overall", None, {}, "other text")
    assert len(base) == 64


def test_a_case_in_escalation_and_calibration_is_labelled_once_per_reviewer(store: ReviewStore) -> None:
    store.add_items([eval_item("qa-03", "escalation"), eval_item("qa-03", "calibration", overlap=2)])
    assert len(_claim_all(store, "bob")) == 1  # one of the two items, not both
    assert store.claim_next("bob", queue="calibration") is None
    assert len(_claim_all(store, "carol")) == 1
    assert len(_claim_all(store, "dan")) == 1
    assert store.claim_next("erin") is None  # 3 slots, 3 reviewers, 3 labels
    per_reviewer = Counter(r.reviewer for r in store.labels())
    assert per_reviewer == {"bob": 1, "carol": 1, "dan": 1}


def test_same_case_new_output_or_other_criterion_is_a_new_case(store: ReviewStore) -> None:
    store.add_items(
        [
            eval_item("qa-03", "escalation"),
            eval_item("qa-03", "calibration", overlap=2),
            eval_item("qa-03", "escalation", output="a new run's different answer"),
            eval_item("qa-03", "calibration", criterion="tone"),
            eval_item("qa-04", "calibration"),
        ]
    )
    assert len(_claim_all(store, "bob")) == 4


def test_production_rows_in_two_queues_are_one_case(store: ReviewStore) -> None:
    row = {"queue": "audit", "input": "q", "output": "a", "meta": {"user_id": "u1"}}
    store.add_items(
        [
            NewItem(source_id="prod:00f067aa0ba902b7", **row),  # type: ignore[arg-type]
            NewItem(source_id="prod:00f067aa0ba902b7", **{**row, "queue": "escalation"}),
        ]
    )  # type: ignore[arg-type]
    assert len(_claim_all(store, "bob")) == 1


def test_an_expired_lease_frees_the_case(store: ReviewStore, clock: FakeClock) -> None:
    store.add_items([eval_item("qa-03", "escalation"), eval_item("qa-03", "calibration")])
    held = store.claim_next("bob")
    assert held is not None
    clock.advance(61)  # bob's lease expired: the item goes back, and bob may take the case again
    other = store.claim_next("carol")
    assert other is not None
    again = store.claim_next("bob")
    assert again is not None and again.item_id != other.item_id


def test_concurrent_tabs_and_reviewers_never_label_a_case_twice_sqlite(tmp_path: Path) -> None:
    concurrent_check(ReviewStore(tmp_path / "cases.sqlite", lease_seconds=60))


def concurrent_check(store: ReviewStore, n_cases: int = 40) -> None:
    """4 reviewers with 3 tabs each claim and submit until every slot is done."""
    items = [eval_item(f"c{i:03d}", "escalation") for i in range(n_cases)]
    items += [eval_item(f"c{i:03d}", "calibration", overlap=2) for i in range(n_cases)]
    store.add_items(items)

    def tab(who: str) -> int:
        done = 0
        while (lease := store.claim_next(who)) is not None:
            try:
                store.submit(lease, score=3)
                done += 1
            except LeaseLost:
                pass  # the other tab of the same reviewer submitted this lease first
        return done

    reviewers = ["r0", "r1", "r2", "r3"]
    with ThreadPoolExecutor(max_workers=12) as pool:
        futures = [pool.submit(tab, who) for who in reviewers for _ in range(3)]
        assert sum(f.result(timeout=300) for f in futures) == 3 * n_cases
    labels = store.labels()
    keys = {r.item_id: case_key(r.source_id, r.criterion, r.suite, r.meta, r.output) for r in labels}
    per_case_reviewer = Counter((keys[r.item_id], r.reviewer) for r in labels)
    assert max(per_case_reviewer.values()) == 1, per_case_reviewer.most_common(3)
    assert len(labels) == 3 * n_cases  # every slot filled, by three different reviewers per case
    store.close()


def test_an_older_store_gets_case_keys_on_open(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    store = ReviewStore(db)
    store.add_items([eval_item("qa-03", "escalation"), eval_item("qa-03", "calibration", overlap=2)])
    store.close()
    with sqlite3.connect(db) as conn:  # the schema before case keys
        conn.execute("DROP INDEX ix_slots_case_reviewer")
        conn.execute("ALTER TABLE review_slots DROP COLUMN case_key")
        conn.execute("ALTER TABLE review_items DROP COLUMN case_key")
    store = ReviewStore(db)
    expected = case_key("x", "quality", "qa-app", {"case_id": "qa-03"}, "answer")
    with sqlite3.connect(db) as conn:
        assert {k for (k,) in conn.execute("SELECT case_key FROM review_items")} == {expected}
        assert {k for (k,) in conn.execute("SELECT case_key FROM review_slots")} == {expected}
        assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'ix_slots_case_reviewer'").fetchone()
    assert len(_claim_all(store, "bob")) == 1
    store.close()
