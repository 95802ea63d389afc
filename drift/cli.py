"""``python -m drift report``: the scheduled drift report.

Exit 0 no drift, 1 drift, 2 error (including a failure of the optional Evidently report, and a feature
missing in the reference or the current data that ``--allow-missing`` does not list), 3 insufficient
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

EPILOG = ("exit codes: 0 no drift, 1 drift, 2 error or a feature missing on one side (see --allow-missing), "
          "3 insufficient data (see docs/drift.md)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m drift", description="Drift reports over logged LLM production data.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("report", help="compare current with reference; write report.html and summary.json",
                       epilog=EPILOG)
    r.add_argument("--reference", help="Parquet/JSONL/CSV file, or phoenix://HOST:PORT/PROJECT (or give --profile)")
    r.add_argument("--current", required=True, help="Parquet/JSONL/CSV file, or phoenix://HOST:PORT/PROJECT; with "
                   "--engine spark also a Spark table name or a Parquet/Delta path Spark can read (s3://, dbfs:/)")
    r.add_argument("--profile", help="a stored reference profile (python -m drift profile) instead of --reference")
    r.add_argument("--save-profile", metavar="PATH", help="also save the reference profile fitted from --reference")
    r.add_argument("--engine", choices=("local", "spark"), default="local",
                   help="where the current window is counted: local (pandas, default) or spark (same numbers)")
    r.add_argument("--master", help="Spark master for --engine spark (local[*], spark://HOST:7077, yarn); default: "
                   "the active session under spark-submit or Databricks, else local[*]")
    r.add_argument("--spark-conf", action="append", default=[], metavar="KEY=VALUE", help="extra Spark setting (repeatable)")
    r.add_argument("--out", required=True, help="output folder (created)")
    r.add_argument("--window", help="per-window drift: 1d, 1h, 15min, or a row count such as 5000")
    r.add_argument("--config", help="JSON or TOML config (columns, bins, decision rule); see docs/drift.md")
    r.add_argument("--evidently", action="store_true", help="also save Evidently's report as evidently.html")
    r.add_argument("--chunked", action="store_true",
                   help="Parquet inputs larger than memory: stream them in batches (no --window panels)")
    r.add_argument("--allow-missing", action="append", default=[], metavar="FEATURES",
                   help="comma-separated features that may be missing in the reference or the current data (else "
                        "such a schema change exits 2); adds to the config's allow_missing")
    r.add_argument("--quiet", action="store_true", help="print nothing but errors; the exit code says it all")
    pr = sub.add_parser("profile", help="fit the reference profile (edges, counts, KS reference) and save it as JSON",
                        epilog="exit codes: 0 written, 2 error")
    pr.add_argument("--reference", required=True, help="Parquet/JSONL/CSV file, or phoenix://HOST:PORT/PROJECT")
    pr.add_argument("--out", required=True, help="profile file to write (JSON)")
    pr.add_argument("--config", help="JSON or TOML config (columns, bins, ks_max_distinct); see docs/drift.md")
    pr.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 no drift, 1 drift, 2 error or schema changed, 3 insufficient data)."""
    args = _parser().parse_args(argv)
    # The libraries only log; the command decides what reaches the terminal.
    logging.basicConfig(level=logging.ERROR if args.quiet else logging.WARNING, format="%(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        with warnings.catch_warnings():
            if args.quiet:
                warnings.simplefilter("ignore")
            return _run(args)
    except (DriftError, OSError, ImportError) as exc:  # ImportError: the embedder (embed) is not installed
        print(f"drift report failed: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 -- a bug, not drift: exit 2 with the traceback, never 1
        traceback.print_exc(file=sys.stderr)
        print(f"drift report failed with an unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from .config import load_config
    from .errors import ConfigError, ExtraFailedError
    from .report import fit_profile, headline, run_report, run_report_parquet, write_report

    config = load_config(args.config)
    allow = [n.strip() for item in getattr(args, "allow_missing", []) for n in item.split(",") if n.strip()]
    if allow:
        config = config.model_copy(update={"allow_missing": list(dict.fromkeys([*config.allow_missing, *allow]))})
    if args.command == "profile":
        saved = fit_profile(args.reference, config).save(args.out)
        if not args.quiet:
            print(f"profile: {saved}")
        return 0
    if (args.reference is None) == (args.profile is None):
        raise ConfigError("give exactly one of --reference (data) and --profile (a stored profile)")
    if args.save_profile and args.reference is None:
        raise ConfigError("--save-profile needs --reference (the profile is fitted from it)")
    if args.engine != "spark" and (args.master or args.spark_conf):
        raise ConfigError("--master and --spark-conf apply to --engine spark only")
    if args.evidently and args.reference is None:
        raise ConfigError("--evidently needs --reference (Evidently reads the reference rows); drop --profile")
    if args.evidently:
        from .evidently_report import require_evidently

        require_evidently()  # before the report is computed, not after
    profile = args.profile
    if args.save_profile:
        profile = fit_profile(args.reference, config)
        profile.save(args.save_profile)
    if args.chunked:
        if args.window or args.evidently or args.profile or args.engine != "local":
            raise ConfigError("--chunked does not support --window, --evidently, --profile or --engine spark (it "
                              "streams two Parquet files on one machine); drop them or drop --chunked")
        report = run_report_parquet(args.reference, args.current, config)
    elif args.engine == "spark":
        if args.evidently:
            raise ConfigError("--evidently needs the rows in memory; drop it with --engine spark")
        from .spark_backend import run_report_spark, spark_session

        conf = {}
        for item in args.spark_conf:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ConfigError(f"--spark-conf {item!r} must be KEY=VALUE, e.g. spark.executor.memory=8g")
            conf[key] = value
        spark = spark_session(args.master, conf=conf) if (args.master or conf) else None
        report = run_report_spark(args.current, config, profile=profile, reference=args.reference if profile is None
                                  else None, window=args.window, spark=spark)
    else:
        report = run_report(args.reference if profile is None else None, args.current, config, window=args.window,
                            profile=profile)
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
    if report.schema.refused:  # exit 2: said even with --quiet, on stderr like every other error
        for line in report.schema.lines():
            print(line, file=sys.stderr)
    if not args.quiet:
        print(headline(report))
        for f in report.verdict.features:
            if f.status in ("drift", "insufficient data"):
                print(f"  {f.status}: {f.column}")
        if not report.schema.refused:
            for line in report.schema.lines():
                print(line)
        for note in report.warnings:
            if note.startswith("Evidently") or "corrupt line" in note or "still being written" in note:
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
