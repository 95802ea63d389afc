"""Benchmark: drift PSI + KS + JS on every column, this harness vs Evidently 0.7 vs raw numpy/scipy.

Data: N reference + N current rows x (10 numeric + 3 categorical); half the columns shifted.
Numeric columns get PSI, KS and JS; categorical columns PSI, JS and chi-square (KS is undefined
for categories) -- the same tests in all three contenders. Each contender runs in its own
subprocess so its peak RSS is its own (``VmHWM`` of the child's address space: ``ru_maxrss``
would carry over the parent's RSS at fork time across ``exec``); the time is the drift computation only
(data is loaded from a Parquet file into pandas before the clock starts, the same way for everyone),
except ``drift_parquet``: this harness's bounded-memory path, which reads the Parquet files in
batches itself inside the timed part (KS from a 1000-bin histogram there, see docs/drift.md).

    python bench/drift_vs_evidently.py                 # 1e6 + 1e6 rows (Evidently takes minutes)
    python bench/drift_vs_evidently.py --rows 20000    # quick smoke run
    python bench/drift_vs_evidently.py --json out.json --skip evidently
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NUMERIC = [f"num_{i}" for i in range(10)]
CATEGORICAL = [f"cat_{i}" for i in range(3)]
CONTENDERS = ("drift", "drift_parquet", "evidently", "numpy")


def make_data(rows: int, folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Write reference.parquet and current.parquet with ``rows`` rows each."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)

    def frame(shift: bool) -> pd.DataFrame:
        data: dict[str, object] = {}
        for i, col in enumerate(NUMERIC):
            moved = shift and i % 2 == 0
            kind = i % 3
            if kind == 0:
                data[col] = rng.normal(0.2 if moved else 0.0, 1.0, rows)
            elif kind == 1:
                data[col] = rng.lognormal(6.1 if moved else 6.0, 0.4, rows)  # latency-like
            else:
                data[col] = rng.poisson(130 if moved else 120, rows).astype(np.float64)  # token counts
        vocab = [
            [f"topic_{k}" for k in range(8)],
            ["en", "de", "fr", "es", "ja"],
            [f"model-v{k}" for k in range(3)],
        ]
        for i, col in enumerate(CATEGORICAL):
            p = np.linspace(1, 2, len(vocab[i]))
            if shift and i == 0:
                p = p[::-1]
            data[col] = rng.choice(vocab[i], rows, p=p / p.sum())
        return pd.DataFrame(data)

    ref, cur = folder / "reference.parquet", folder / "current.parquet"
    frame(False).to_parquet(ref)
    frame(True).to_parquet(cur)
    return ref, cur


def _rss_mb(field: str = "VmRSS") -> float:
    """Current (``VmRSS``) or peak (``VmHWM``) resident memory of this process in MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _run_drift(ref, cur):
    import drift

    schema = drift.Schema(numeric=NUMERIC, categorical=CATEGORICAL)
    res = drift.DatasetDriftDetector(schema).fit(ref).score(cur)
    return {f.column: {t.method: t.statistic for t in f.tests} for f in res.features}


def _run_drift_parquet(ref_path, cur_path):
    import drift

    schema = drift.Schema(numeric=NUMERIC, categorical=CATEGORICAL)
    res = drift.drift_parquet(ref_path, cur_path, schema)
    return {f.column: {t.method: t.statistic for t in f.tests} for f in res.features}


def _run_numpy(ref, cur):
    import numpy as np
    from scipy.spatial.distance import jensenshannon
    from scipy.stats import chi2_contingency, ks_2samp

    out = {}
    for c in NUMERIC:
        a, b = ref[c].to_numpy(), cur[c].to_numpy()
        inner = np.unique(np.quantile(a, np.linspace(0, 1, 11)[1:-1]))
        if inner[0] == a.min():
            inner = inner[1:]
        ra = np.bincount(np.searchsorted(inner, a, side="right"), minlength=inner.size + 1) / a.size
        cb = np.bincount(np.searchsorted(inner, b, side="right"), minlength=inner.size + 1) / b.size
        r, q = np.where(ra == 0, 1e-4, ra), np.where(cb == 0, 1e-4, cb)
        out[c] = {
            "psi": float(np.sum((r - q) * np.log(r / q))),
            "ks": float(ks_2samp(a, b).statistic),
            "js": float(jensenshannon(ra, cb)),
        }
    for c in CATEGORICAL:
        va, vb = ref[c].value_counts(), cur[c].value_counts()
        keys = sorted(set(va.index) | set(vb.index))
        ra = np.array([va.get(k, 0) for k in keys], float)
        cb = np.array([vb.get(k, 0) for k in keys], float)
        r, q = ra / ra.sum(), cb / cb.sum()
        out[c] = {
            "psi": float(np.sum((r - q) * np.log(r / q))),
            "js": float(jensenshannon(r, q)),
            "chi2": float(chi2_contingency(np.vstack([ra, cb]), correction=False)[0]),
        }
    return out


def _run_evidently(ref, cur):
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    metrics = [ValueDrift(column=c, method=m) for c in NUMERIC for m in ("psi", "ks", "jensenshannon")]
    metrics += [
        ValueDrift(column=c, method=m) for c in CATEGORICAL for m in ("psi", "jensenshannon", "chisquare")
    ]
    snap = Report(metrics).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    return {"n_metrics": len(snap.dict()["metrics"])}


def child(name: str, ref_path: str, cur_path: str, repeat: int = 1) -> None:
    """Run one contender and print its JSON measurement (called in a fresh subprocess)."""
    import warnings

    import pandas as pd

    warnings.simplefilter("ignore")  # Evidently emits deprecation noise; it is not what is measured
    runner = {
        "drift": _run_drift,
        "numpy": _run_numpy,
        "evidently": _run_evidently,
        "drift_parquet": _run_drift_parquet,
    }[name]
    if name == "evidently":
        import evidently.metrics  # noqa: F401  (import time is not part of the drift computation)
    else:
        import duckdb  # noqa: F401
        import pyarrow.dataset  # noqa: F401
        import scipy.stats  # noqa: F401
    if name == "drift_parquet":
        # Bounded memory: reads the Parquet files in batches itself; reading is inside the timed part.
        ref, cur = ref_path, cur_path
    else:
        ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    base = _rss_mb()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = runner(ref, cur)
        times.append(time.perf_counter() - t0)
    wall = statistics.median(times)
    peak = _rss_mb("VmHWM")
    print(
        json.dumps(
            {
                "name": name,
                "wall_s": wall,
                "runs_s": times,
                "peak_rss_mb": peak,
                "rss_after_load_mb": base,
                "peak_above_load_mb": peak - base,
                "result": out,
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    """Generate data, run each contender in a subprocess, print a table and ratios."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help="rows per side (default 1e6)")
    p.add_argument("--quick", action="store_true", help="same as --rows 20000")
    p.add_argument("--json", help="write results as JSON to this path")
    p.add_argument("--skip", action="append", default=[], choices=CONTENDERS, help="leave a contender out")
    p.add_argument("--repeat", type=int, default=3,
                   help="timed runs per fast contender, median reported (Evidently runs once: ~1 min each)")
    p.add_argument("--child", nargs=4, metavar=("NAME", "REF", "CUR", "REPEAT"), help=argparse.SUPPRESS)
    p.add_argument("--make-data", nargs=2, metavar=("DIR", "ROWS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(*args.child[:3], repeat=int(args.child[3]))
        return 0
    if args.make_data:
        make_data(int(args.make_data[1]), Path(args.make_data[0]))
        return 0
    rows = 20_000 if args.quick else args.rows
    load = os.getloadavg()  # the machine may be shared: say how busy it was
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        # Generated in a subprocess so this parent process stays small while the contenders run.
        subprocess.run([sys.executable, __file__, "--make-data", tmp, str(rows)], check=True)
        ref, cur = Path(tmp) / "reference.parquet", Path(tmp) / "current.parquet"
        results = {}
        for name in CONTENDERS:
            if name in args.skip:
                continue
            proc = subprocess.run(
                [sys.executable, __file__, "--child", name, str(ref), str(cur),
                 str(1 if name == "evidently" else args.repeat)],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "PYTHONWARNINGS": "ignore"},
            )
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                raise SystemExit(f"contender {name} failed")
            results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(
        f"{rows} reference + {rows} current rows x ({len(NUMERIC)} numeric + {len(CATEGORICAL)} categorical); "
        f"median of {args.repeat} runs (Evidently: 1); {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
    )
    print(f"load average before: {load[0]:.1f} (1 min)")
    print(f"{'contender':<14} {'median s':>9} {'peak RSS MB':>12} {'above load MB':>14}  runs s")
    for name, r in results.items():
        runs = " ".join(f"{t:.2f}" for t in r["runs_s"])
        print(f"{name:<14} {r['wall_s']:>9.2f} {r['peak_rss_mb']:>12.0f} {r['peak_above_load_mb']:>14.0f}  {runs}")
    ratios = {}
    if "drift" in results and "evidently" in results:
        ratios["speedup_vs_evidently"] = results["evidently"]["wall_s"] / results["drift"]["wall_s"]
        ratios["peak_rss_fraction_of_evidently"] = (
            results["drift"]["peak_rss_mb"] / results["evidently"]["peak_rss_mb"]
        )
        ratios["peak_above_load_fraction_of_evidently"] = (
            results["drift"]["peak_above_load_mb"] / results["evidently"]["peak_above_load_mb"]
        )
    if "drift_parquet" in results and "evidently" in results:
        ratios["parquet_speedup_vs_evidently"] = (
            results["evidently"]["wall_s"] / results["drift_parquet"]["wall_s"]
        )
        ratios["parquet_peak_rss_fraction_of_evidently"] = (
            results["drift_parquet"]["peak_rss_mb"] / results["evidently"]["peak_rss_mb"]
        )
    if "drift_parquet" in results and "drift" in results:
        d, q = results["drift"]["result"], results["drift_parquet"]["result"]
        ratios["parquet_max_abs_psi_js_diff"] = max(
            abs(d[c][m] - q[c][m]) for c in d for m in d[c] if m != "ks"
        )
        ratios["parquet_max_abs_ks_diff"] = max(abs(d[c]["ks"] - q[c]["ks"]) for c in NUMERIC)
    if "drift" in results and "numpy" in results:
        ratios["time_vs_numpy"] = results["drift"]["wall_s"] / results["numpy"]["wall_s"]
        # Same tests on the same data: the statistics must agree (KS and chi2 exactly, PSI/JS to eps handling).
        d, n = results["drift"]["result"], results["numpy"]["result"]
        ratios["max_abs_stat_diff_vs_numpy"] = max(abs(d[c][m] - n[c][m]) for c in n for m in n[c])
    for k, v in ratios.items():
        print(f"{k}: {v:.3g}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "rows": rows,
                    "cpus": os.cpu_count(), "load_avg_before": load, "repeat": args.repeat,
                    "machine": platform.machine(),
                    "results": {
                        k: {kk: vv for kk, vv in v.items() if kk != "result"} for k, v in results.items()
                    },
                    "ratios": ratios,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
