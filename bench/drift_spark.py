"""Benchmark: the current window's drift statistics in Spark vs this harness's single-machine chunked path vs
Evidently's (legacy) Spark engine, from Parquet, at several sizes in one run.

Data: N reference + N current rows x 13 columns (10 numeric + 3 categorical, half shifted), the data of
bench/drift_vs_evidently.py. Contenders, each in its own subprocess:

* ``spark``: ``drift.spark_backend.run_report_spark`` on local Spark (``--master``, default ``local[*]``), the
  reference profile stored first (fitting it on the driver is timed apart as ``profile_s``); the timed part
  reads the current Parquet in Spark and computes PSI, JS, chi-square, exact KS and the verdict.
* ``chunked``: ``drift.drift_parquet`` (pyarrow batches + DuckDB quantiles; KS from a 1000-bin histogram), reference
  and current both read inside the timed part, as it has no stored profile.
* ``evidently_spark``: Evidently 0.7's ``evidently.legacy`` Report with ``SparkEngine`` (PSI on numeric and
  categorical columns: its Spark engine has no KS); reported as not run, with the reason, when it fails.

Peak memory is the driver's: ``VmHWM`` of the Python process and, for Spark, of its JVM child.
Growth from the smallest to the largest size is reported as the log-log slope of wall time vs rows
(1.0 = linear).

    python bench/drift_spark.py --rows 1e6 --rows 1e7 --json drift_spark.json   # the full run (idle machine)
    python bench/drift_spark.py --rows 1e5 --rows 1e6                           # quick check
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

CONTENDERS = ("spark", "chunked", "evidently_spark")


def _status(pid: int | str, field: str) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the JVM py4j starts is a grandchild through spark-submit)."""
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    stat = fh.read()
                parent[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def _jvm_peak_mb() -> float:
    peaks = [_status(p, "VmHWM") for p in _descendants(os.getpid())]
    peaks = [x for x in peaks if not math.isnan(x)]
    return max(peaks) if peaks else float("nan")


def _schema() -> object:
    from drift_vs_evidently import CATEGORICAL, NUMERIC

    import drift

    return drift.Schema(numeric=tuple(NUMERIC), categorical=tuple(CATEGORICAL))


def run_spark(ref: str, cur: str, master: str, driver_memory: str) -> dict:
    from drift_vs_evidently import CATEGORICAL, NUMERIC

    from drift.config import DriftConfig
    from drift.report import fit_profile
    from drift.spark_backend import run_report_spark, spark_session

    cfg = DriftConfig(numeric=NUMERIC, categorical=CATEGORICAL)
    t0 = time.perf_counter()
    profile = fit_profile(ref, cfg)
    profile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    spark = spark_session(master, conf={"spark.driver.memory": driver_memory})
    start_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = run_report_spark(cur, cfg, profile=profile, spark=spark)
    wall = time.perf_counter() - t0
    jvm = _jvm_peak_mb()
    ks_methods = sorted({t.details.get("method", "") for f in report.verdict.features for t in f.tests if t.method == "ks"})
    spark.stop()
    return {"wall_s": wall, "profile_s": profile_s, "session_start_s": start_s, "jvm_peak_mb": jvm,
            "ks_method": ks_methods, "drifted": report.verdict.n_drifted,
            "result": {f.column: {t.method: t.statistic for t in f.tests} for f in report.verdict.features}}


def run_chunked(ref: str, cur: str) -> dict:
    import drift

    t0 = time.perf_counter()
    res = drift.drift_parquet(ref, cur, _schema())  # type: ignore[arg-type]
    return {"wall_s": time.perf_counter() - t0, "drifted": res.n_drifted, "ks_method": ["histogram-asymp"],
            "result": {f.column: {t.method: t.statistic for t in f.tests} for f in res.features}}


def run_evidently_spark(ref: str, cur: str, master: str, driver_memory: str) -> dict:
    import warnings

    warnings.simplefilter("ignore")
    from drift_vs_evidently import CATEGORICAL, NUMERIC

    from drift.spark_backend import spark_session

    try:
        from evidently.legacy.metrics import DataDriftTable
        from evidently.legacy.pipeline.column_mapping import ColumnMapping
        from evidently.legacy.report import Report
        from evidently.legacy.spark.engine import SparkEngine
    except ImportError as exc:
        return {"ran": False, "reason": f"Evidently has no Spark engine here: {exc}"}
    spark = spark_session(master, conf={"spark.driver.memory": driver_memory})
    t0 = time.perf_counter()
    try:
        r, c = spark.read.parquet(ref), spark.read.parquet(cur)
        report = Report(metrics=[DataDriftTable(num_stattest="psi", cat_stattest="psi")])
        report.run(reference_data=r, current_data=c, engine=SparkEngine,
                   column_mapping=ColumnMapping(numerical_features=NUMERIC, categorical_features=CATEGORICAL))
        res = report.as_dict()["metrics"][0]["result"]
    except Exception as exc:  # noqa: BLE001 -- the peer's failure is a result, not a crash of the benchmark
        return {"ran": False, "reason": f"Evidently's Spark engine failed: {type(exc).__name__}: {str(exc)[:300]}"}
    wall = time.perf_counter() - t0
    jvm = _jvm_peak_mb()
    spark.stop()
    drifts = res.get("drift_by_columns", {})
    return {"wall_s": wall, "jvm_peak_mb": jvm, "ks_method": ["none (no KS on Spark)"],
            "drifted": res.get("number_of_drifted_columns"),
            "result": {k: {"psi": v.get("drift_score")} for k, v in drifts.items()}}


def child(name: str, ref: str, cur: str, master: str, driver_memory: str) -> None:
    """Run one contender and print one JSON line (called in a fresh subprocess)."""
    if name == "spark":
        out = run_spark(ref, cur, master, driver_memory)
    elif name == "chunked":
        out = run_chunked(ref, cur)
    else:
        out = run_evidently_spark(ref, cur, master, driver_memory)
    out.update({"name": name, "python_peak_mb": _status("self", "VmHWM")})
    print(json.dumps(out))


def _rows(text: str) -> int:
    try:
        n = int(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--rows must be a number such as 1e6, got {text!r}") from exc
    if n < 1000:
        raise argparse.ArgumentTypeError(f"--rows must be at least 1000, got {text!r}")
    return n


def main(argv: list[str] | None = None) -> int:
    """Generate the data per size, run each contender in a subprocess, print a table, ratios and slopes."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=_rows, action="append", help="rows per side, repeatable (default 1e6 and 1e7)")
    p.add_argument("--master", default="local[*]", help="Spark master (default local[*])")
    p.add_argument("--driver-memory", default="4g", help="spark.driver.memory (default 4g)")
    p.add_argument("--skip", action="append", default=[], choices=CONTENDERS, help="leave a contender out")
    p.add_argument("--json", help="write results as JSON to this path")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per contender and size (default 3600)")
    p.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    p.add_argument("--make-data", nargs=2, metavar=("DIR", "ROWS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    if args.make_data:
        from drift_vs_evidently import make_data

        make_data(int(args.make_data[1]), Path(args.make_data[0]))
        return 0
    sizes = sorted(set(args.rows or [1_000_000, 10_000_000]))
    names = [n for n in CONTENDERS if n not in args.skip]
    results: dict[str, dict[str, dict]] = {n: {} for n in names}
    with tempfile.TemporaryDirectory(prefix="drift_spark_bench_") as tmp:
        for n in sizes:
            folder = Path(tmp) / str(n)
            folder.mkdir()
            subprocess.run([sys.executable, __file__, "--make-data", str(folder), str(n)], check=True)
            ref, cur = folder / "reference.parquet", folder / "current.parquet"
            for name in names:
                try:
                    proc = subprocess.run([sys.executable, __file__, "--child", name, str(ref), str(cur), args.master,
                                           args.driver_memory], check=False, capture_output=True, text=True,
                                          timeout=args.timeout)
                except subprocess.TimeoutExpired:
                    results[name][str(n)] = {"ran": False, "reason": f"timed out after {args.timeout:g} s"}
                    print(f"{n:>11,} rows  {name:16s} not run: timed out after {args.timeout:g} s", flush=True)
                    continue
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
                if proc.returncode != 0 or not lines:
                    results[name][str(n)] = {"ran": False, "reason": f"exit {proc.returncode}: {proc.stderr[-500:]}"}
                else:
                    results[name][str(n)] = {"ran": True, **json.loads(lines[-1])}
                r = results[name][str(n)]
                if r.get("ran", True) and "wall_s" in r:
                    print(f"{n:>11,} rows  {name:16s} {r['wall_s']:8.2f} s   python peak {r.get('python_peak_mb', 0):7.0f} MiB"
                          f"   JVM peak {r.get('jvm_peak_mb', float('nan')):7.0f} MiB", flush=True)
                else:
                    print(f"{n:>11,} rows  {name:16s} not run: {r.get('reason')}", flush=True)
            for r in results.values():
                r.get(str(n), {}).pop("result", None) if n != sizes[-1] else None
    slopes = {}
    for name, per in results.items():
        pts = [(int(k), v["wall_s"]) for k, v in per.items() if v.get("ran", True) and "wall_s" in v]
        if len(pts) >= 2:
            (n0, t0), (n1, t1) = min(pts), max(pts)
            slopes[name] = {"from_rows": n0, "to_rows": n1, "time_ratio": t1 / t0,
                            "loglog_slope": math.log(t1 / t0) / math.log(n1 / n0)}
            print(f"{name}: {n0:,} -> {n1:,} rows: time x{t1 / t0:.2f}, slope {slopes[name]['loglog_slope']:.2f}")
    big = str(sizes[-1])
    if "spark" in results and "chunked" in results and "wall_s" in results["spark"].get(big, {}) \
            and "wall_s" in results["chunked"].get(big, {}):
        print(f"at {sizes[-1]:,} rows: chunked / spark wall time = "
              f"{results['chunked'][big]['wall_s'] / results['spark'][big]['wall_s']:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "benchmark": "drift_spark", "sizes": sizes, "master": args.master, "results": results, "slopes": slopes,
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        }, indent=2, default=str))
        print(f"json: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
