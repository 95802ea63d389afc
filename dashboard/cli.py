"""``python -m dashboard``: add users, serve the app, fill the queues, export labels, release stale claims,
purge an end user's data."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from review.errors import ReviewError

from .config import DashboardConfig
from .errors import DashboardError

__all__ = ["main"]


def _parser(cfg: DashboardConfig) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m dashboard",
        description="Human review: add users, serve the app, fill the queues, export labels, release stale "
        "claims, purge an end user's data. See docs/review.md.",
    )
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
    f.add_argument("--strict", action="store_true",
                   help="stop at a corrupt log line (exit 2) instead of skipping, counting and naming it")
    f.add_argument("--phoenix-url", help="read production requests (root spans) from this Phoenix server")
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
    e.add_argument("--redact", action="store_true", help="mask e-mails, phones, card numbers and keys in the "
                   "exported rows' text (the tracing redactor's rules); ids, reviewers and times are kept")
    e.add_argument(
        "--phoenix",
        metavar="ENDPOINT",
        nargs="?",
        const="",
        help="also send HUMAN span annotations to Phoenix: this URL, or with no value the one tracing.setup() "
        "would use (PHOENIX_COLLECTOR_ENDPOINT, else the server `python -m tracing.phoenix_server start` ran)",
    )

    r = sub.add_parser("release-expired", help="return expired leases to their queues")
    r.add_argument("--db", default=cfg.db)

    g = sub.add_parser(
        "purge",
        help="delete an end user's rows (by user.id or session id) from production logs, the review store "
        "and results files",
    )
    g.add_argument("--user-id", action="append", default=[], help="the app's user.id (repeatable)")
    g.add_argument("--session-id", action="append", default=[], help="a session.id (repeatable)")
    g.add_argument(
        "--prod-log", action="append", default=[], type=Path, help="JSONL production log (repeatable)"
    )
    g.add_argument(
        "--results-dir",
        action="append",
        default=[],
        type=Path,
        help="folder of results JSON files (repeatable)",
    )
    g.add_argument("--db", default=cfg.db, help="the review store (default: as for fill)")
    g.add_argument("--no-store", action="store_true", help="leave the review store alone")

    s = sub.add_parser("serve", help="start the dashboard (streamlit run) on loopback, refusing unsafe files")
    s.add_argument("--port", type=int, default=8501)
    s.add_argument("--address", default="127.0.0.1", help="listen address (default loopback only)")
    s.add_argument("--db", default=cfg.db)
    s.add_argument("--users", type=Path, default=cfg.users)
    s.add_argument("--results", type=Path, default=cfg.results_dir)
    s.add_argument("--datasets", type=Path, default=cfg.datasets)
    s.add_argument("--synth-dir", type=Path, default=cfg.synth_dir,
                   help=f"the only folder generated sets are queued from (default {cfg.synth_dir})")
    s.add_argument("--topics-report", type=Path, default=cfg.topics_report,
                   help="the topics.json (or its folder) the Topics page shows, written by python -m monitor "
                   f"topics report (default {cfg.topics_report})")
    s.add_argument(
        "--trusted-proxy",
        action="append",
        default=list(cfg.trusted_proxies),
        metavar="ADDRESS",
        help="a reverse proxy whose X-Forwarded-For names the client (repeatable); without one the server "
        "trusts no forwarded header and the socket peer is the client",
    )
    return p


def shown_db(db: str) -> str:
    """A store path or URL as it may be printed: a password in a URL becomes ``***``."""
    if "://" not in db:
        return db
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(db).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unparseable store URL>"


def serve_command(args: argparse.Namespace) -> list[str]:
    """The ``streamlit run`` command line ``serve`` executes."""
    app = Path(__file__).resolve().parent / "app.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.address", args.address, "--server.port", str(args.port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal",
        "--", "--db", args.db, "--users", str(args.users), "--results", str(args.results),
        "--datasets", str(args.datasets), "--synth-dir", str(args.synth_dir),
        "--topics-report", str(args.topics_report),
    ]  # fmt: skip


def serve_env(args: argparse.Namespace, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment ``serve`` starts Streamlit with: the server trusts forwarded headers from the
    configured proxies only (none by default), and the app knows which ones those are."""
    env = dict(os.environ if base is None else base)
    proxies = ",".join(dict.fromkeys(p.strip() for p in args.trusted_proxy if p.strip()))
    env["FORWARDED_ALLOW_IPS"] = proxies  # uvicorn's trust; empty: no peer's header is believed
    env["EVALHARNESS_TRUSTED_PROXIES"] = proxies
    return env


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (2 for bad input, with the reason on stderr)."""
    cfg = DashboardConfig.from_env()
    args = _parser(cfg).parse_args(argv)
    try:
        return _run(args)
    except (DashboardError, ReviewError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "add-user":
        from .auth import add_user, check_password_policy

        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"password for {args.name}: ")
            if getpass.getpass("again: ") != password:
                print("error: the two passwords differ", file=sys.stderr)
                return 2
        check_password_policy(password, args.name)  # a ConfigError: exit 2 with the reason
        user = add_user(args.users, args.name, password, role=args.role, email=args.email)
        print(f"user {user.name!r} ({user.role}) written to {args.users} (mode 0600)")
        return 0
    if args.command == "serve":
        return _serve(args)

    from review.store import ReviewStore

    if args.command == "purge" and (args.no_store or ("://" not in args.db and not Path(args.db).exists())):
        return _purge(None, args)  # no store to purge (and none is created by looking for it)

    store = ReviewStore(args.db)
    try:
        if args.command == "fill":
            return _fill(store, args)
        if args.command == "export":
            from review.export import export_to_phoenix, write_fewshot, write_golden

            records = store.labels()
            redactor = None
            if args.redact:
                from tracing.redaction import Redactor

                redactor = Redactor()
            for (kind, crit), path in write_golden(records, args.datasets, redactor=redactor).items():
                print(f"golden {kind}/{crit}: {path}")
            for crit, path in write_fewshot(records, args.datasets, k=args.fewshot_k, redactor=redactor).items():
                print(f"few-shot {crit}: {path}")
            if args.phoenix is not None:
                from tracing._config import resolve_base_url
                from tracing.errors import TracingError

                try:
                    n = export_to_phoenix(records, resolve_base_url(args.phoenix or None))
                except TracingError as exc:
                    print(f"error: {exc}", file=sys.stderr)
                    return 2
                print(f"phoenix: {n} HUMAN annotations")
            return 0
        if args.command == "purge":
            return _purge(store, args)
        n = store.release_expired(actor="cli")
        print(f"released {n} expired leases")
        return 0
    finally:
        store.close()


def _fill(store: object, args: argparse.Namespace) -> int:
    from experiments.errors import ResultsError
    from experiments.record import load_run
    from review.escalation import EscalationRules
    from review.fill import (
        FillReport,
        audit_items,
        calibration_items,
        escalation_items,
        rows_from_phoenix,
    )
    from review.store import ReviewStore

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
    from tracing.production_log import LogProblems, iter_rows

    try:
        rows: list[dict[str, Any]] = []
        for path in args.prod_log:
            problems = LogProblems()
            rows += iter_rows(path, strict=args.strict, problems=problems)
            if (note := problems.summary()) is not None:  # skipped lines are named, never silent
                print(f"warning: {note}", file=sys.stderr)
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
    print(f"filled {shown_db(args.db)}: {FillReport(added, present) or 'nothing selected'}")
    return 0


def _purge(store: object, args: argparse.Namespace) -> int:
    from review.purge import Who, purge
    from review.store import ReviewStore

    assert store is None or isinstance(store, ReviewStore)
    who = Who(frozenset(args.user_id), frozenset(args.session_id))
    if not (args.prod_log or args.results_dir or store is not None):
        print("error: nothing to purge: give --prod-log, --results-dir, or drop --no-store", file=sys.stderr)
        return 2
    report = purge(who, store=store, prod_logs=args.prod_log, results_dirs=args.results_dir)
    print("\n".join(report.lines()))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .auth import check_private, load_users

    check_private(args.users)  # a ConfigError: exit 2 with the chmod to run
    if not load_users(args.users):
        print(
            f"error: no users in {args.users}; add one with `python -m dashboard add-user NAME`",
            file=sys.stderr,
        )
        return 2
    cmd = serve_command(args)
    os.execve(cmd[0], cmd, serve_env(args))  # replaces this process: Ctrl+C stops Streamlit itself
    return 0  # pragma: no cover - execv does not return
