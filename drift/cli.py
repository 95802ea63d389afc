"""``python -m drift report``: the scheduled drift report. Exit 0 no drift, 1 drift, 2 error."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .errors import DriftError

logger = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m drift", description="Drift reports over logged LLM production data.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="compare current with reference; write report.html and summary.json")
    r.add_argument("--reference", required=True, help="Parquet/JSONL/CSV file, or phoenix://HOST:PORT/PROJECT")
    r.add_argument("--current", required=True, help="Parquet/JSONL/CSV file, or phoenix://HOST:PORT/PROJECT")
    r.add_argument("--out", required=True, help="output folder (created)")
    r.add_argument("--window", help="per-window drift: 1d, 1h, 15min, or a row count such as 5000")
    r.add_argument("--config", help="JSON or TOML config (columns, bins, thresholds); see docs/drift.md")
    r.add_argument("--evidently", action="store_true", help="also save Evidently's report as evidently.html")
    r.add_argument("--chunked", action="store_true",
                   help="Parquet inputs larger than memory: stream them in batches (no --window panels)")
    r.add_argument("--quiet", action="store_true", help="print nothing on success")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 no drift, 1 drift, 2 error)."""
    args = _parser().parse_args(argv)
    try:
        from .config import load_config
        from .report import run_report, write_report

        config = load_config(args.config)
        if args.chunked:
            from .errors import ConfigError
            from .report import run_report_parquet

            if args.window or args.evidently:
                raise ConfigError("--chunked does not support --window or --evidently (both need the rows in "
                                  "memory); drop them or drop --chunked")
            report = run_report_parquet(args.reference, args.current, config)
        else:
            report = run_report(args.reference, args.current, config, window=args.window)
        paths = write_report(report, args.out)
        if args.evidently:
            from .evidently_report import save_evidently_report
            from .io import load_frame, prepare
            from .report import _schema

            ref, cur = prepare(load_frame(args.reference)), prepare(load_frame(args.current))
            paths["evidently"] = save_evidently_report(ref, cur, _schema(config, ref, cur), f"{args.out}/evidently.html",
                                                       drift_share=config.share_threshold)
    except (DriftError, OSError) as exc:
        print(f"drift report failed: {exc}", file=sys.stderr)
        return 2
    v = report.verdict
    if not args.quiet:
        status = "DRIFT" if report.exit_code else "no drift"
        print(f"{status}: {v.n_drifted}/{v.n_features} features drifted (share {v.drift_share:.2f}, threshold "
              f"{v.share_threshold}); concept changed: {report.concept_changed}")
        for name, path in paths.items():
            print(f"{name}: {path}")
    return report.exit_code
