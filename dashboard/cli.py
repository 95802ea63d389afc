"""``python -m dashboard``: add users, fill the queues, export labels, release stale claims."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path

from .config import DashboardConfig
from .errors import DashboardError

__all__ = ["main"]


def _parser(cfg: DashboardConfig) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dashboard", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    u = sub.add_parser("add-user", help="add or replace a dashboard user (password hashed with scrypt)")
    u.add_argument("name")
    u.add_argument("--role", choices=["reviewer", "admin"], default="reviewer")
    u.add_argument("--email", help="the OIDC e-mail that maps to this user when st.login is configured")
    u.add_argument("--password-stdin", action="store_true", help="read the password from stdin (no prompt)")
    u.add_argument("--users", type=Path, default=cfg.users, help=f"users file (default {cfg.users})")

    f = sub.add_parser("fill", help="fill the review queues (idempotent: rerunning adds no duplicates)")
    f.add_argument("--db", default=cfg.db, help=f"store path or SQLAlchemy URL (default {cfg.db})")
    f.add_argument("--results", action="append", default=[], type=Path, help="eval results JSON (repeatable)")
    f.add_argument(
        "--prod-log", action="append", default=[], type=Path, help="production JSONL log (repeatable)"
    )
    f.add_argument("--phoenix-url", help="read production LLM spans from this Phoenix server")
    f.add_argument("--phoenix-project", default="default", help="Phoenix project to read spans from")
    f.add_argument(
        "--audit-rate", type=float, default=0.02, help="share of production rows to audit (0.02 = 2%%)"
    )
    f.add_argument("--stratify-by", help="row field to stratify the audit sample by, e.g. topic")
    f.add_argument("--min-per-stratum", type=int, default=1)
    f.add_argument("--calibration-rate", type=float, default=0.05)
    f.add_argument("--calibration-reviewers", type=int, default=2)
    f.add_argument("--max-entropy", type=float, default=1.0, help="escalate above this label entropy (bits)")
    f.add_argument(
        "--min-top-mass", type=float, default=0.5, help="escalate when the top label has less mass"
    )
    f.add_argument(
        "--max-panel-range", type=float, default=0.25, help="escalate when a panel spans more of the scale"
    )

    e = sub.add_parser("export", help="write golden JSONL and few-shot files; optionally annotate Phoenix")
    e.add_argument("--db", default=cfg.db)
    e.add_argument("--datasets", type=Path, default=cfg.datasets)
    e.add_argument("--fewshot-k", type=int, default=6)
    e.add_argument("--phoenix", metavar="ENDPOINT", help="also send HUMAN span annotations to this Phoenix")

    r = sub.add_parser("release-expired", help="return expired leases to their queues")
    r.add_argument("--db", default=cfg.db)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 for bad input, with the reason on stderr)."""
    cfg = DashboardConfig.from_env()
    args = _parser(cfg).parse_args(argv)
    try:
        return _run(args)
    except DashboardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "add-user":
        from .auth import add_user

        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"password for {args.name}: ")
            if getpass.getpass("again: ") != password:
                print("error: the two passwords differ", file=sys.stderr)
                return 2
        user = add_user(args.users, args.name, password, role=args.role, email=args.email)
        print(f"user {user.name!r} ({user.role}) written to {args.users}")
        return 0

    from .store import ReviewStore

    store = ReviewStore(args.db)
    try:
        if args.command == "fill":
            return _fill(store, args)
        if args.command == "export":
            from .export import export_to_phoenix, write_fewshot, write_golden

            records = store.labels()
            for (kind, crit), path in write_golden(records, args.datasets).items():
                print(f"golden {kind}/{crit}: {path}")
            for crit, path in write_fewshot(records, args.datasets, k=args.fewshot_k).items():
                print(f"few-shot {crit}: {path}")
            if args.phoenix:
                from tracing.errors import TracingError

                try:
                    n = export_to_phoenix(records, args.phoenix)
                except TracingError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    return 2
                print(f"phoenix: {n} HUMAN annotations")
            return 0
        n = store.release_expired(actor="cli")
        print(f"released {n} expired leases")
        return 0
    finally:
        store.close()


def _fill(store: object, args: argparse.Namespace) -> int:
    from experiments.errors import ResultsError
    from experiments.record import load_run

    from .fill import (
        EscalationRules,
        FillReport,
        audit_items,
        calibration_items,
        escalation_items,
        rows_from_phoenix,
    )
    from .store import ReviewStore

    assert isinstance(store, ReviewStore)
    if not (args.results or args.prod_log or args.phoenix_url):
        print("error: nothing to fill from: give --results, --prod-log or --phoenix-url", file=sys.stderr)
        return 2
    rules = EscalationRules(args.max_entropy, args.min_top_mass, args.max_panel_range)
    new = []
    for path in args.results:
        try:
            results = load_run(path)
        except ResultsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        new += escalation_items(results, rules)
        new += calibration_items(results, rate=args.calibration_rate, reviewers=args.calibration_reviewers)
    from tracing.errors import ProductionLogError
    from tracing.production_log import iter_rows

    try:
        rows = [row for path in args.prod_log for row in iter_rows(path)]
        if args.phoenix_url:
            rows += rows_from_phoenix(args.phoenix_project, base_url=args.phoenix_url)
    except ProductionLogError as exc:  # a malformed log line or an unreachable Phoenix is bad input: exit 2
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if rows:
        new += audit_items(
            rows, rate=args.audit_rate, stratify_by=args.stratify_by, min_per_stratum=args.min_per_stratum
        )
    added: dict[str, int] = {}
    present: dict[str, int] = {}
    for queue in sorted({it.queue for it in new}):
        a, p = store.add_items(it for it in new if it.queue == queue)
        added[queue], present[queue] = a, p
    print(f"filled {args.db}: {FillReport(added, present) or 'nothing selected'}")
    return 0
