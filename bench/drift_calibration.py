"""False-alarm rate and power of the drift verdict, for this package and for Evidently, on the same data.

Simulated windows (drift.calibration): a normal, a heavy-tailed (Student t, 2 df) and a categorical feature
with rare categories; reference and current of the same size; no drift, or one planted shift (0.2 sd mean
shift, 20% scale change, a new category at 5%). For each window size and scenario it reports how often the
dataset verdict says "drift" (the false-alarm rate under no drift, the power otherwise), with Wilson 95%
intervals, for:

* ``ours``: the default calibrated rule (Holm over features, size-aware nulls, effect floors);
* ``fixed``: this package's old rule (PSI >= 0.1, dataset drifts when half the features do);
* ``evidently``: Evidently 0.7's ``DataDriftPreset()`` with its defaults (KS / chi-square up to 1,000 rows,
  Wasserstein / Jensen-Shannon above; dataset drift when half the columns drift), plus how often it flags
  any column and the shifted column.

    python bench/drift_calibration.py --json bench-calibration.json       # full table (tens of minutes)
    python bench/drift_calibration.py --quick                              # small trial counts, a minute
    python bench/drift_calibration.py --nulls                              # why the nulls are what they are

``--nulls`` measures, for PSI on ten reference-decile bins of a normal feature under no drift, how often each
candidate null rejects at 5% and 0.5%: the χ² approximation (at 10 and 30 expected values per bin), a permutation
of the pooled counts, and the Dirichlet-multinomial draw the package uses below 30 per bin.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import drift
from drift.calibration import SHIFTED_FEATURE, SHIFTS, SIZES, Cell, simulate

#: Trials per (size, scenario): ours and the fixed rule, then Evidently (slower, and slowest at 1e6 rows).
TRIALS = {50: 1000, 100: 1000, 300: 1000, 1_000: 1000, 10_000: 200, 1_000_000: 30}
EVIDENTLY_TRIALS = {50: 100, 100: 100, 300: 100, 1_000: 100, 10_000: 40, 1_000_000: 4}


def evidently_scorer(reference: dict[str, np.ndarray], current: dict[str, np.ndarray]) -> tuple[bool, dict[str, bool]]:
    """Evidently's default DataDriftPreset on the same columns: (dataset drift, {column: drifted})."""
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    def frame(d: dict[str, np.ndarray]) -> Any:
        return pd.DataFrame({"normal": d["normal"], "heavy_tailed": d["heavy_tailed"],
                             "category": d["category"].astype(str)})

    definition = DataDefinition(numerical_columns=["normal", "heavy_tailed"], categorical_columns=["category"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset()]).run(
            current_data=Dataset.from_pandas(frame(current), data_definition=definition),
            reference_data=Dataset.from_pandas(frame(reference), data_definition=definition))
    columns: dict[str, bool] = {}
    dataset = False
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if "drift_share" in config:  # DriftedColumnsCount: Evidently's dataset verdict
            dataset = float(metric["value"]["share"]) >= float(config["drift_share"])
        elif "column" in config:
            value, threshold = float(metric["value"]), float(config["threshold"])
            columns[config["column"]] = value < threshold if "p_value" in config["method"] else value >= threshold
    return dataset, columns


def _row(cell: Cell) -> dict[str, Any]:
    lo, hi = cell.dataset.interval
    out = {"size": cell.size, "shift": cell.shift, "trials": cell.dataset.n, "dataset_rate": cell.dataset.value,
           "dataset_ci95": [lo, hi], "simulation_se": cell.dataset.se,
           "feature_rates": {k: v.value for k, v in cell.features.items()},
           "any_feature_rate": cell.any_feature.value, "insufficient_rate": cell.insufficient.value}
    if cell.shift in SHIFTED_FEATURE:
        out["shifted_feature_rate"] = cell.features[SHIFTED_FEATURE[cell.shift]].value
    return out


def run(sizes: list[int], trials: dict[int, int], ev_trials: dict[int, int], evidently: bool) -> list[dict[str, Any]]:
    """Every (size, scenario) cell for each contender."""
    rows = []
    fixed = drift.Decision(rule="fixed")
    for size in sizes:
        for shift in SHIFTS:
            ks = size < 1_000_000  # KS never decides the verdict; at a million rows its sort dominates the time
            for name, kwargs, n in (("ours", {}, trials[size]), ("fixed", {"decision": fixed}, trials[size])):
                t0 = time.perf_counter()
                cell = simulate(size, shift, n, ks=ks, **kwargs)
                rows.append({"contender": name, **_row(cell), "seconds": time.perf_counter() - t0})
                print(_line(rows[-1]), flush=True)
            if evidently:
                t0 = time.perf_counter()
                cell = simulate(size, shift, ev_trials[size], scorer=evidently_scorer)
                row = {"contender": "evidently", **_row(cell), "seconds": time.perf_counter() - t0}
                rows.append(row)
                print(_line(row), flush=True)
    return rows


def _line(r: dict[str, Any]) -> str:
    lo, hi = r["dataset_ci95"]
    shifted = f" shifted feature {r['shifted_feature_rate']:.3f}" if "shifted_feature_rate" in r else ""
    return (f"{r['contender']:>9} {r['size']:>9,} {r['shift']:<16} n={r['trials']:<5} drift {r['dataset_rate']:.3f} "
            f"[{lo:.3f}, {hi:.3f}]{shifted} features {json.dumps({k: round(v, 3) for k, v in r['feature_rates'].items()})} "
            f"({r['seconds']:.0f}s)")


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table: one line per (size, scenario), one column per contender (rate and 95% interval)."""
    by = {(r["size"], r["shift"], r["contender"]): r for r in rows}
    names = [c for c in ("ours", "fixed", "evidently") if any(r["contender"] == c for r in rows)]
    head = "| rows per window | scenario | " + " | ".join(
        f"{n} (trials)" for n in names) + " | Evidently: shifted column / any column |"
    out = [head, "|" + "---|" * (len(names) + 3)]
    for size in dict.fromkeys(r["size"] for r in rows):
        for shift in SHIFTS:
            cells = []
            for n in names:
                r = by.get((size, shift, n))
                cells.append("–" if r is None else
                             f"{r['dataset_rate']:.1%} [{r['dataset_ci95'][0]:.1%}, {r['dataset_ci95'][1]:.1%}] ({r['trials']})")
            ev = by.get((size, shift, "evidently"))
            extra = "–"
            if ev is not None:
                shifted = f"{ev['shifted_feature_rate']:.1%}" if "shifted_feature_rate" in ev else "–"
                extra = f"{shifted} / {ev['any_feature_rate']:.1%}"
            out.append(f"| {size:,} | {shift} | " + " | ".join(cells) + f" | {extra} |")
    return "\n".join(out)


def null_check(trials: int = 4000, seed: int = 1) -> list[dict[str, Any]]:
    """Rejection rates of candidate PSI nulls under no drift (see the module docstring)."""
    from scipy.stats import chi2

    from drift.binning import histogram, quantile_edges
    from drift.nulls import CountSampler, SimulatedNull
    from drift.numeric import psi_statistic

    rng = np.random.default_rng(seed)
    levels = (0.05, 0.005)
    out = []
    for n in (100, 300):
        pvals: dict[str, list[float]] = {"chi2-approx": [], "permutation": [], "dirichlet-multinomial": []}
        for _ in range(trials if n == 100 else trials // 2):
            ref, cur = rng.standard_normal(n), rng.standard_normal(n)
            edges = quantile_edges(ref, 10)
            rc, cc = histogram(ref, edges), histogram(cur, edges)
            stat = psi_statistic(rc, cc).statistic
            pvals["chi2-approx"].append(float(chi2.sf(stat / (2 / n), 9)))
            if n == 100:  # the simulated nulls are only used below 30 expected values per bin
                for name, binning in (("permutation", "fixed"), ("dirichlet-multinomial", "reference-quantiles")):
                    null = SimulatedNull(CountSampler(rc, cc, binning, "auto", rng, ("psi",)), "psi")  # type: ignore[arg-type]
                    pvals[name].append(null.pvalue(stat, resolution=min(levels)))
        for name, ps in pvals.items():
            if ps:
                arr = np.asarray(ps)
                row = {"rows": n, "expected_per_bin": n // 10, "null": name, "trials": arr.size}
                row.update({f"rate_at_{lv}": float(np.mean(arr <= lv)) for lv in levels})
                out.append(row)
                print(f"{n:>4} vs {n:<4} {name:<22} n={arr.size:<5} "
                      + "  ".join(f"p<={lv}: {row[f'rate_at_{lv}']:.4f}" for lv in levels), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the simulation and print the table; ``--json`` also writes every number."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated rows per window")
    p.add_argument("--quick", action="store_true", help="10x fewer trials (a smoke run)")
    p.add_argument("--no-evidently", action="store_true", help="skip Evidently (not installed, or too slow)")
    p.add_argument("--nulls", action="store_true", help="only the null-distribution check (a few minutes)")
    p.add_argument("--json", type=Path, help="write all results here")
    args = p.parse_args(argv)
    if args.nulls:
        rows = null_check()
        if args.json:
            args.json.write_text(json.dumps({"nulls": rows}, indent=2), encoding="utf-8")
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    scale = 10 if args.quick else 1
    trials = {s: max(TRIALS.get(s, 100) // scale, 3) for s in sizes}
    ev_trials = {s: max(EVIDENTLY_TRIALS.get(s, 20) // scale, 2) for s in sizes}
    t0 = time.perf_counter()
    rows = run(sizes, trials, ev_trials, evidently=not args.no_evidently)
    print()
    print(table(rows))
    if args.json:
        meta = {"generated_at": datetime.now(UTC).isoformat(), "python": platform.python_version(),
                "machine": platform.machine(), "cpus": os.cpu_count(), "load_average": os.getloadavg(),
                "seconds": time.perf_counter() - t0, "decision": repr(drift.Decision()),
                "evidently": _version("evidently"), "numpy": np.__version__}
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2), encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
