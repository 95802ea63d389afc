"""``python -m drift report``: the scheduled drift report.

Exit 0 no drift, 1 drift, 2 error (including a failure of the optional Evidently report), 3 insufficient
data. Any unexpected exception also exits 2: Python's own exit status for a crash is 1, which would read as
"drift" to a cron job.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .errors import DriftError

if TYPE_CHECKING:
    from .config import DriftConfig
    from .evidently_report import EvidentlyReport

logger = logging.getLogger(__name__)

EPILOG = "exit codes: 0 no drift, 1 drift, 2 error, 3 insufficient data (see docs/drift.md)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m drift", description="Drift reports over logged LLM production data.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="compare current with reference; write report.html and summary.json",
                       epilog=EPILOG)
    r.add_argument("--reference", required=True, help="Parquet/JSONL/CSV file, or phoenix://HOST:PORT/PROJECT")
    r.add_argument("--current", required=True, help="Parquet/JSONL/CSV file, or phoenix://HOST:PORT/PROJECT")
    r.add_argument("--out", required=True, help="output folder (created)")
    r.add_argument("--window", help="per-window drift: 1d, 1h, 15min, or a row count such as 5000")
    r.add_argument("--config", help="JSON or TOML config (columns, bins, decision rule); see docs/drift.md")
    r.add_argument("--evidently", action="store_true", help="also save Evidently's report as evidently.html")
    r.add_argument("--chunked", action="store_true",
                   help="Parquet inputs larger than memory: stream them in batches (no --window panels)")
    r.add_argument("--quiet", action="store_true", help="print nothing but errors; the exit code says it all")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 no drift, 1 drift, 2 error, 3 insufficient data)."""
    args = _parser().parse_args(argv)
    # The libraries only log; the command decides what reaches the terminal.
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.WARNING, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        with warnings.catch_warnings():
            if args.quiet:
                warnings.simplefilter("ignore")
            return _run(args)
    except (DriftError, OSError) as exc:
        print(f"drift report failed: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 -- a bug, not drift: exit 2 with the traceback, never 1
        traceback.print_exc(file=sys.stderr)
        print(f"drift report failed with an unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from .config import load_config
    from .errors import ConfigError, ExtraFailedError
    from .report import headline, run_report, run_report_parquet, write_report

    config = load_config(args.config)
    if args.chunked:
        if args.window or args.evidently:
            raise ConfigError("--chunked does not support --window or --evidently (both need the rows in "
                              "memory); drop them or drop --chunked")
        report = run_report_parquet(args.reference, args.current, config)
    else:
        report = run_report(args.reference, args.current, config, window=args.window)
    extra_error: ExtraFailedError | None = None
    evidently_path = None
    if args.evidently:
        try:
            ev = _evidently(args, config)
        except ExtraFailedError as exc:
            extra_error = exc
        else:
            evidently_path = ev.path
            if ev.skipped:
                note = "Evidently report leaves out " + "; ".join(f"{c} ({why})" for c, why in ev.skipped.items())
                report = dataclasses.replace(report, warnings=(*report.warnings, note))
    paths = write_report(report, args.out)
    if evidently_path is not None:
        paths["evidently"] = evidently_path
    if extra_error is not None:
        print(f"drift report written to {args.out}, but the optional Evidently report failed: {extra_error}",
              file=sys.stderr)
        return 2
    if not args.quiet:
        print(headline(report))
        for f in report.verdict.features:
            if f.status in ("drift", "insufficient data"):
                print(f"  {f.status}: {f.column}")
        for note in report.warnings:
            if note.startswith("Evidently"):
                print(note)
        for name, path in paths.items():
            print(f"{name}: {path}")
    return report.exit_code


def _evidently(args: argparse.Namespace, config: DriftConfig) -> EvidentlyReport:
    from .evidently_report import save_evidently_report
    from .io import load_frame, prepare
    from .report import _schema

    ref, cur = prepare(load_frame(args.reference)), prepare(load_frame(args.current))
    return save_evidently_report(ref, cur, _schema(config, ref, cur), f"{args.out}/evidently.html",
                                 drift_share=config.share_threshold or 0.5)
