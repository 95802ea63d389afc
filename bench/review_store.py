"""Benchmark the review store: claim-next and submit latency at scale, and claims/s with concurrent reviewers.

    python bench/review_store.py                    # 100,000 items, 500 timed cycles, 8 processes for 10 s
    python bench/review_store.py --quick            # 2,000 items, smoke test in a few seconds
    python bench/review_store.py --items 20000 --procs 4 --seconds 5 --json bench/out/review_store.json

The peer is a hand-written ``sqlite3`` version of the same two transactions (the claim's UPDATE ...
RETURNING and the submit's slot update + label + audit insert) on the same file: the ratio is the
cost of the store's SQLAlchemy layer and its extra checks (held-lease lookup, expiry sweep, validation).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from review.models import JudgeView, NewItem
from review.store import ReviewStore

_RAW_CLAIM = """
UPDATE review_slots SET state='leased', reviewer=?, lease_expires=?, version=version+1
WHERE id = (
    SELECT cand.id FROM review_slots AS cand
    WHERE cand.state='open'
      AND NOT EXISTS (SELECT 1 FROM review_slots AS other WHERE other.item_id=cand.item_id AND other.reviewer=?)
      AND NOT EXISTS (SELECT 1 FROM review_passes WHERE review_passes.item_id=cand.item_id
                      AND review_passes.reviewer=?)
    ORDER BY cand.priority DESC, cand.id LIMIT 1
) AND state='open'
RETURNING id, item_id, version
"""


def _items(n: int) -> list[NewItem]:
    judge = (JudgeView("judge", 3.0, {"1": 0.1, "3": 0.5, "5": 0.4}, "a short reasoning " * 5),)
    return [
        NewItem(
            queue=("escalation", "calibration", "audit")[i % 3],
            source_id=f"bench-{i}",
            input="What is the refund policy for damaged goods? " * 4,
            output="Damaged goods can be returned within 30 days for a full refund. " * 4,
            criterion="helpfulness",
            scale=(1, 5),
            judge_score=3.0,
            judges=judge,
            priority=float(i % 7),
        )
        for i in range(n)
    ]


def _pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


def _store_latency(db: Path | str, ops: int, sync: str = "FULL") -> dict[str, float]:
    store = ReviewStore(db, sqlite_synchronous=sync)
    claim, submit = [], []
    for _ in range(ops):
        t0 = time.perf_counter()
        lease = store.claim_next("bench-store")
        t1 = time.perf_counter()
        assert lease is not None
        store.submit(lease, score=4.0, note="ok")
        t2 = time.perf_counter()
        claim.append((t1 - t0) * 1e3)
        submit.append((t2 - t1) * 1e3)
    store.close()
    return _summary(claim, submit)


def _raw_latency(db: Path, ops: int, sync: str) -> dict[str, float]:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute(f"PRAGMA synchronous={sync}")  # the same durability as the store, or the ratio lies
    claim, submit = [], []
    who = "bench-raw"
    for _ in range(ops):
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        slot_id, item_id, version = conn.execute(_RAW_CLAIM, (who, time.time() + 600, who, who)).fetchone()
        conn.execute("COMMIT")
        t1 = time.perf_counter()
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        cur = conn.execute(
            "UPDATE review_slots SET state='done', lease_expires=NULL, version=version+1 "
            "WHERE id=? AND reviewer=? AND version=? AND state='leased'",
            (slot_id, who, version),
        )
        assert cur.rowcount == 1
        conn.execute(
            "INSERT INTO review_labels (item_id, slot_id, reviewer, kind, score, category, note, lease_version,"
            " created) VALUES (?, ?, ?, 'label', 4.0, NULL, 'ok', ?, ?)",
            (item_id, slot_id, who, version, now),
        )
        conn.execute(
            "INSERT INTO review_audit (ts, actor, action, item_id, slot_id, detail) VALUES (?, ?, 'label', ?, ?, ?)",
            (now, who, item_id, slot_id, json.dumps({"score": 4.0, "version": version})),
        )
        conn.execute("COMMIT")
        t2 = time.perf_counter()
        claim.append((t1 - t0) * 1e3)
        submit.append((t2 - t1) * 1e3)
    conn.close()
    return _summary(claim, submit)


def _summary(claim: list[float], submit: list[float]) -> dict[str, float]:
    return {
        "claim_ms_median": statistics.median(claim),
        "claim_ms_p95": _pct(claim, 0.95),
        "submit_ms_median": statistics.median(submit),
        "submit_ms_p95": _pct(submit, 0.95),
    }


def _worker(
    db: str, name: str, seconds: float, sync: str, ready: mp.Queue, go: object, out: mp.Queue
) -> None:
    store = ReviewStore(db, sqlite_synchronous=sync)
    ready.put(name)
    go.wait()  # type: ignore[attr-defined]  # every process has imported and opened the store by then
    end = time.time() + seconds
    n, waits = 0, []
    while time.time() < end:
        t0 = time.perf_counter()
        lease = store.claim_next(name)
        if lease is None:
            break
        store.submit(lease, score=3.0)
        waits.append((time.perf_counter() - t0) * 1e3)
        n += 1
    store.close()
    out.put((name, n, waits))


def _concurrent(db: Path | str, procs: int, seconds: float, sync: str = "FULL") -> dict[str, float]:
    ctx = mp.get_context("spawn")
    out: mp.Queue = ctx.Queue()
    ready: mp.Queue = ctx.Queue()
    go = ctx.Event()
    workers = [
        ctx.Process(target=_worker, args=(str(db), f"c{procs}-{i}", seconds, sync, ready, go, out))
        for i in range(procs)
    ]
    for w in workers:
        w.start()
    for _ in workers:
        ready.get(timeout=120)
    go.set()
    results = [out.get(timeout=seconds + 120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    total = sum(n for _, n, _ in results)
    cycles = [x for _, _, ws in results for x in ws]
    return {
        "processes": procs,
        "seconds": seconds,
        "claims": total,
        "claims_per_s": total / seconds,
        "cycle_ms_median": statistics.median(cycles) if cycles else float("nan"),
        "cycle_ms_p99": _pct(cycles, 0.99) if cycles else float("nan"),
    }


def _double_claims(db: Path | str) -> int:
    store = ReviewStore(db)
    with store.engine.connect() as conn:
        dup = conn.exec_driver_sql(
            "SELECT COUNT(*) FROM (SELECT item_id FROM review_labels GROUP BY item_id HAVING COUNT(*) > 1) AS d"
        ).scalar_one()
    store.close()
    return int(dup)


def _fill(db: Path | str, n: int) -> float:
    t0 = time.perf_counter()
    store = ReviewStore(db)
    for start in range(0, n, 10_000):
        chunk = _items(min(10_000, n - start))
        store.add_items(
            NewItem(**{**it.__dict__, "source_id": f"bench-{start + i}"}) for i, it in enumerate(chunk)
        )
    store.close()
    return time.perf_counter() - t0


def _postgres(url: str, args: argparse.Namespace) -> dict[str, object]:
    from review._schema import metadata

    store = ReviewStore(url)
    metadata.drop_all(store.engine)
    store.close()
    fill_s = _fill(url, args.items)
    lat = _store_latency(url, args.ops)
    many = _concurrent(url, args.procs, args.seconds)
    dup = _double_claims(url)
    print(
        f"Postgres: fill {fill_s:.1f} s; claim median {lat['claim_ms_median']:.3f} ms, submit median "
        f"{lat['submit_ms_median']:.3f} ms; {args.procs} processes {many['claims_per_s']:.0f} claims/s "
        f"(cycle p99 {many['cycle_ms_p99']:.1f} ms); items labelled twice: {dup}"
    )
    return {"fill_seconds": fill_s, "store": lat, "concurrent": many, "items_labelled_twice": dup}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print (and optionally write) the results."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--ops", type=int, default=500, help="timed claim+submit cycles per single-process run")
    p.add_argument("--procs", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--quick", action="store_true", help="2,000 items, 100 cycles, 2 s of concurrency")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--sync", choices=["FULL", "NORMAL"], default="FULL", help="SQLite synchronous mode")
    p.add_argument(
        "--postgres", metavar="URL", help="also run on this Postgres (its review tables are dropped!)"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.items, args.ops, args.seconds = min(args.items, 2000), 100, 2.0
    if args.items < 2 * args.ops + 100:
        p.error(f"--items {args.items} is too small for --ops {args.ops}; use at least {2 * args.ops + 100}")

    machine = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
    }
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.sqlite"
        fill_s = _fill(db, args.items)
        store = ReviewStore(db)
        n_items = store.count_items()
        store.close()
        print(f"machine: {machine}; SQLite synchronous={args.sync}")
        print(f"filled {n_items} items in {fill_s:.1f} s")

        ours = _store_latency(db, args.ops, args.sync)
        peer = _raw_latency(db, args.ops, args.sync)
        ratio_claim = ours["claim_ms_median"] / peer["claim_ms_median"]
        ratio_submit = ours["submit_ms_median"] / peer["submit_ms_median"]
        print(
            f"{'':>14} {'claim median':>13} {'claim p95':>10} {'submit median':>14} {'submit p95':>11}  (ms)"
        )
        for name, r in (("ReviewStore", ours), ("raw sqlite3", peer)):
            print(
                f"{name:>14} {r['claim_ms_median']:>13.3f} {r['claim_ms_p95']:>10.3f} "
                f"{r['submit_ms_median']:>14.3f} {r['submit_ms_p95']:>11.3f}"
            )
        print(f"ratio store/raw: claim {ratio_claim:.2f}x, submit {ratio_submit:.2f}x")

        one = _concurrent(db, 1, args.seconds, args.sync)
        many = _concurrent(db, args.procs, args.seconds, args.sync)
        dup = _double_claims(db)
        print(
            f"1 process:  {one['claims_per_s']:.0f} claims/s (claim+submit cycle median {one['cycle_ms_median']:.2f} ms)"
        )
        print(
            f"{args.procs} processes: {many['claims_per_s']:.0f} claims/s "
            f"(cycle median {many['cycle_ms_median']:.2f} ms, p99 {many['cycle_ms_p99']:.1f} ms), "
            f"{many['claims_per_s'] / one['claims_per_s']:.2f}x one process; items labelled twice: {dup}"
        )
    result = {
        "benchmark": "review_store",
        "machine": machine,
        "items": n_items,
        "sqlite_synchronous": args.sync,
        "fill_seconds": fill_s,
        "ops": args.ops,
        "store": ours,
        "raw_sqlite3": peer,
        "ratio_claim_store_vs_raw": ratio_claim,
        "ratio_submit_store_vs_raw": ratio_submit,
        "one_process": one,
        "concurrent": many,
        "concurrent_vs_one_ratio": many["claims_per_s"] / one["claims_per_s"],
        "items_labelled_twice": dup,
    }
    if args.postgres:
        result["postgres"] = _postgres(args.postgres, args)
        dup += int(result["postgres"]["items_labelled_twice"])  # type: ignore[call-overload]
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.json}")
    return 1 if dup else 0


if __name__ == "__main__":
    sys.exit(main())
