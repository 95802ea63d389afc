"""A reviewer process for the stress test: claim and submit until the store is done.

Usage: python dashboard_stress_worker.py DB NAME LOG LEASE_SECONDS [--hang-after N]

Every claim and every completed submit is appended to LOG (one line each, flushed) so the test can
check that no item was claimed twice and no acknowledged label was lost. With ``--hang-after N`` the
worker submits N items, claims one more, logs ``hang``, and sleeps until it is killed.
"""

from __future__ import annotations

import sys
import time

from review.store import ReviewStore


def main(argv: list[str]) -> int:
    db, name, log_path, lease_s = argv[0], argv[1], argv[2], float(argv[3])
    hang_after = int(argv[5]) if len(argv) > 5 and argv[4] == "--hang-after" else None
    store = ReviewStore(db, lease_seconds=lease_s)
    done = 0
    with open(log_path, "a", buffering=1) as log:
        while True:
            lease = store.claim_next(name)
            if lease is None:
                stats = store.queue_stats()
                if sum(s.open + s.leased for s in stats) == 0:
                    return 0
                time.sleep(0.05)  # someone else's lease may still expire and come back
                continue
            log.write(f"claim {lease.item_id} {lease.slot_id} {lease.version}\n")
            if hang_after is not None and done >= hang_after:
                log.write(f"hang {lease.item_id}\n")
                time.sleep(3600)  # killed here, holding the lease
            store.submit(lease, score=float(1 + lease.item_id % 5), note=name)
            log.write(f"submit {lease.item_id}\n")
            done += 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
