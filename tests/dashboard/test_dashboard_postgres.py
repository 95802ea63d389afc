"""The review store on a real, throwaway Postgres server (skipped when Postgres or psycopg is missing).

The server is a private cluster from :class:`tracing.pg_cluster.PostgresCluster`: ``initdb`` into a
temporary folder, started on a free 127.0.0.1 port, stopped and deleted by the fixture. Install with
``apt-get install postgresql`` and ``pip install "psycopg[binary]"``.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from dashboard_helpers import sample_items

from review import ReviewStore
from tracing.pg_cluster import PostgresCluster, PostgresClusterError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    pytest.importorskip("psycopg", reason='needs the psycopg driver: pip install "psycopg[binary]"')
    try:  # no server binaries, or root without a postgres user / runuser: skip with the fix
        cluster = PostgresCluster(max_connections=50)
    except PostgresClusterError as exc:
        pytest.skip(str(exc))
    with cluster as pg:
        yield pg.database_url("postgres", driver="psycopg")


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[ReviewStore]:
    store = ReviewStore(pg_url, lease_seconds=60)
    from review._schema import metadata

    metadata.drop_all(store.engine)  # a clean schema per test
    metadata.create_all(store.engine)
    yield store
    store.close()


def test_postgres_round_trip(pg_store: ReviewStore) -> None:
    assert pg_store.engine.dialect.name == "postgresql"
    assert pg_store.add_items(sample_items(5, overlap=2)) == (5, 0)
    assert pg_store.add_items(sample_items(6, overlap=2)) == (1, 5)
    lease = pg_store.claim_next("alice")
    assert lease is not None
    pg_store.submit(lease, score=4, note="ok")
    skip = pg_store.claim_next("alice")
    assert skip is not None
    pg_store.skip(skip, "later")
    other = pg_store.claim_next("bob")
    assert other is not None and other.item_id == lease.item_id  # the second slot of the first item
    [label] = pg_store.labels()
    assert (label.reviewer, label.score) == ("alice", 4.0)
    assert [e.action for e in pg_store.audit_log()] == ["skip", "label"]
    stats = {s.queue: s for s in pg_store.queue_stats()}
    assert stats["escalation"].done == 1 and stats["escalation"].leased == 1


def test_postgres_concurrent_claims_skip_locked(pg_store: ReviewStore) -> None:
    """8 threads (8 pooled connections) claim and submit over 300 items: no item claimed twice."""
    pg_store.add_items(sample_items(300))

    def reviewer(name: str) -> list[int]:
        got = []
        while (lease := pg_store.claim_next(name)) is not None:
            got.append(lease.item_id)
            pg_store.submit(lease, score=3.0)
        return got

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {f"r{i}": pool.submit(reviewer, f"r{i}") for i in range(8)}
        claimed = {name: f.result(timeout=120) for name, f in futures.items()}  # re-raises a thread's error
    everything = [i for got in claimed.values() for i in got]
    assert len(everything) == len(set(everything)) == 300
    assert len(pg_store.labels()) == 300
    assert sum(1 for got in claimed.values() if got) > 1


def test_postgres_tabs_of_one_reviewer_never_take_one_case_twice(pg_store: ReviewStore) -> None:
    """4 reviewers x 3 tabs over cases queued in escalation and calibration: each reviewer labels a case once."""
    from test_dashboard_cases import concurrent_check

    concurrent_check(pg_store)
