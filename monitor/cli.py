"""``python -m monitor``: the scheduled online-evaluation command. Exit 0 ok, 1 alert or drift, 2 error."""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from monitor.config import load_config, parse_duration
from monitor.errors import ConfigError, MonitorError

__all__ = ["main"]


def _when(value: str, now: datetime) -> datetime:
    """An ISO 8601 time (UTC when no offset is given), or a duration ago such as '2d' or '90m'."""
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        try:
            return now - parse_duration(value)
        except ValueError:
            raise ConfigError(f"{value!r} is neither an ISO 8601 time (2026-01-31T12:00:00Z) nor a duration "
                              "ago (2d, 90m)") from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m monitor", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="online evaluation since the checkpoint, the reports, queue filling")
    run.add_argument("--config", required=True, help="monitor.toml (see docs/monitoring.md)")
    run.add_argument("--since", help="backfill from this time (ISO 8601, or a duration ago: 7d); "
                                     "leaves the checkpoint alone")
    run.add_argument("--until", help="backfill up to this time (ISO 8601, or a duration ago)")
    run.add_argument("--no-trace-judges", action="store_true",
                     help="do not send the judges' own spans to [phoenix] judge_project")
    run.add_argument("--quiet", action="store_true", help="print only errors and the exit line")
    status = sub.add_parser("status", help="the checkpoint, pending verdicts and the lock")
    status.add_argument("--config", required=True)
    from monitor.topics_cli import add_parser

    add_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 quality alert or drift, 2 error)."""
    args = _parser().parse_args(argv)
    now = datetime.now(UTC)
    if args.command == "topics":
        from monitor.topics_cli import run

        return run(args, now, _when)
    try:
        config = load_config(args.config)
        if args.command == "status":
            return _status(config)
        since = _when(args.since, now) if args.since else None
        until = _when(args.until, now) if args.until else None
    except MonitorError as exc:
        print(f"monitor: ERROR {exc}", file=sys.stderr)
        return 2
    from monitor.runner import run_monitor

    def echo(line: str) -> None:
        if not args.quiet or " ERROR" in line or line.startswith("monitor:"):
            print(line, flush=True)

    try:
        return run_monitor(config, since=since, until=until, now=now, trace_judges=not args.no_trace_judges,
                           echo=echo).exit_code
    except Exception:  # noqa: BLE001 - a bug, not an outage: exit 2, never Python's 1 ("alert" here)
        traceback.print_exc()
        print("monitor: ERROR unexpected failure (traceback above); exit 2", file=sys.stderr)
        return 2


def _status(config: object) -> int:
    from monitor.checkpoint import StateFile
    from monitor.config import MonitorConfig
    from monitor.runner import source_for
    from monitor.scores import ScoresTable

    assert isinstance(config, MonitorConfig)
    name = source_for(config).name
    cp = StateFile(Path(config.state_dir) / "checkpoint.json").load(name)
    pending = ScoresTable(config.scores_path).pending()
    lock = Path(config.state_dir) / "monitor.lock"
    print(f"source {name}: checkpoint {cp.watermark.isoformat() if cp.watermark else 'none'}, queued until "
          f"{cp.queued_until.isoformat() if cp.queued_until else 'none'} (run {cp.run_id or 'none'})")
    print(f"pending verdict parts: {len(pending)}; scores table {config.scores_path}")
    print(f"lock {lock}: last holder {lock.read_text().strip() if lock.exists() else 'none'}")
    return 0
