"""Stress: 8 reviewer processes over 2,000 items on one SQLite file; one is SIGKILLed holding a lease.

Zero items claimed twice (except the killed process's item, after its lease expired), zero labels lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from dashboard_helpers import sample_items

from review import ReviewStore

pytestmark = pytest.mark.slow

WORKER = Path(__file__).with_name("dashboard_stress_worker.py")
N_ITEMS = 2000
N_PROCS = 8
LEASE_S = 60.0  # long enough that a busy reviewer never loses a lease on a contended 2-core machine
VICTIM_LEASE_S = 2.0  # the killed process's lease (a per-process setting) expires quickly


def _read_log(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def test_eight_processes_no_double_claims_no_lost_labels(tmp_path: Path) -> None:
    db = tmp_path / "stress.sqlite"
    store = ReviewStore(db)
    store.add_items(sample_items(N_ITEMS))
    logs = {f"w{i}": tmp_path / f"w{i}.log" for i in range(N_PROCS)}
    procs: dict[str, subprocess.Popen] = {}
    for name, log in logs.items():
        lease, extra = (VICTIM_LEASE_S, ["--hang-after", "20"]) if name == "w0" else (LEASE_S, [])
        procs[name] = subprocess.Popen(
            [sys.executable, str(WORKER), str(db), name, str(log), str(lease), *extra],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
    try:
        deadline = time.monotonic() + 60
        while not any(rec[0] == "hang" for rec in _read_log(logs["w0"])):
            assert procs["w0"].poll() is None, "the victim exited before hanging"
            assert time.monotonic() < deadline, "the victim never claimed its last item"
            time.sleep(0.05)
        procs["w0"].send_signal(signal.SIGKILL)  # killed while holding a lease, mid-review
        procs["w0"].wait(timeout=10)
        for name, proc in procs.items():
            if name != "w0":
                assert proc.wait(timeout=150) == 0, f"worker {name} failed"
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)

    claims: dict[int, list[str]] = defaultdict(list)
    acknowledged: set[tuple[int, str]] = set()
    hung_item = None
    for name, log in logs.items():
        for rec in _read_log(log):
            if rec[0] == "claim":
                claims[int(rec[1])].append(name)
            elif rec[0] == "submit":
                acknowledged.add((int(rec[1]), name))
            elif rec[0] == "hang":
                hung_item = int(rec[1])
    assert hung_item is not None

    labels = store.labels()
    stored = {(r.item_id, r.reviewer) for r in labels}
    # Zero lost labels: every submit a worker saw succeed is in the store, and every item is labelled once.
    assert acknowledged <= stored
    assert len(labels) == N_ITEMS == len({r.item_id for r in labels})
    # Zero double claims: the only item two processes held is the killed one's, and only after expiry.
    twice = {item: who for item, who in claims.items() if len(who) > 1}
    assert set(twice) == {hung_item}, twice
    assert "w0" in twice[hung_item] and len(twice[hung_item]) == 2
    [label] = [r for r in labels if r.item_id == hung_item]
    assert label.reviewer != "w0"
    assert sum(len(who) for who in claims.values()) == N_ITEMS + 1
    # Each label has its audit row, and nothing is left open or leased.
    assert sum(1 for e in store.audit_log(limit=10 * N_ITEMS) if e.action == "label") == N_ITEMS
    assert all(s.open == 0 and s.leased == 0 for s in store.queue_stats())
    # Every process took part.
    assert all(any(rec[0] == "submit" for rec in _read_log(log)) for log in logs.values())
    store.close()
