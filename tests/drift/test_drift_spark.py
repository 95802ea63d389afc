"""The Spark backend on a real local Spark: the same report, bit for bit, as the single-machine engine on the
same data (PSI/JS/chi-square on the profile's edges, exact KS equal to scipy.stats.ks_2samp, categories,
windows, labels, operations), and clear errors for bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

import drift.spark_backend as sb
from drift.cli import main
from drift.config import DriftConfig
from drift.errors import ConfigError, EmptyDataError, InputFormatError, MissingDependencyError, SchemaError
from drift.report import fit_profile, run_report, summary_dict

slow = pytest.mark.slow


def _table(n: int, seed: int, shift: bool = False) -> pd.DataFrame:
    """Continuous, tied and few-distinct numeric columns, categories (one unseen), NaN/inf, labels, judge
    scores, latency and tokens over 48 hours."""
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp("2026-01-01T00:00:00Z")
    f = pd.DataFrame({
        "timestamp": pd.Series(t0 + pd.to_timedelta(np.sort(rng.uniform(0, 48 * 3600, n)), unit="s")).dt.floor("us"),
        "x": rng.normal(0.15 if shift else 0.0, 1, n),
        "ties": rng.integers(0, 30, n).astype(float),
        "few": rng.choice([1.0, 2.0, 3.5], n, p=[0.4, 0.4, 0.2] if shift else [0.5, 0.3, 0.2]),
        "count": rng.poisson(20, n),
        "topic": rng.choice(["billing", "shipping", "returns"] + (["crypto"] if shift else []), n),
        "model": rng.choice(["m1", "m2"], n),
        "latency_ms": rng.lognormal(5.0, 0.3, n),
        "completion_tokens": rng.poisson(50, n).astype(float),
        "label": np.where(rng.random(n) < 0.5, (rng.random(n) < (0.7 if shift else 0.85)).astype(float), np.nan),
        "judge_score": np.where(rng.random(n) < 0.9, rng.random(n), np.nan),
    })
    if shift:
        f.loc[f.index[:7], "x"] = np.nan
        f.loc[f.index[7:9], "x"] = np.inf
        f.loc[f.index[9:12], "topic"] = None
    return f


def _write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_parquet(path, coerce_timestamps="us")  # Spark reads microsecond timestamps
    return path


def _summary(out: Path) -> dict:
    s = json.loads((out / "summary.json").read_text())
    s.pop("generated_at")
    return s


# ------------------------------------------------------------------ fast: no Spark started

def test_java_missing_says_how_to_install(monkeypatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(MissingDependencyError, match="apt-get install openjdk-17-jre-headless"):
        sb.check_java()
    monkeypatch.setenv("JAVA_HOME", "/no/such/jdk")
    with pytest.raises(MissingDependencyError, match=r"JAVA_HOME='/no/such/jdk' has no bin/java"):
        sb.check_java()


def test_pyspark_missing_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # import pyspark now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"evalharness\[spark\]"):
        sb.spark_session("local[1]")


def test_cli_rejects_spark_only_flags_with_the_local_engine(tmp_path: Path, capsys) -> None:
    assert main(["report", "--reference", "a.parquet", "--current", "b.parquet", "--out", str(tmp_path),
                 "--master", "local[1]", "--quiet"]) == 2
    assert "--engine spark only" in capsys.readouterr().err


# ------------------------------------------------------------------ slow: a real Spark

@slow
def test_spark_report_equals_local_report_bit_for_bit(spark, tmp_path: Path) -> None:
    ref, cur = _table(3000, 1), _table(2500, 2, shift=True)
    _write(ref, tmp_path / "ref.parquet")
    _write(cur, tmp_path / "cur.parquet")
    assert main(["profile", "--reference", str(tmp_path / "ref.parquet"), "--out", str(tmp_path / "p.json"),
                 "--quiet"]) == 0
    common = ["--profile", str(tmp_path / "p.json"), "--current", str(tmp_path / "cur.parquet"), "--window", "12h",
              "--quiet"]
    code_local = main(["report", *common, "--out", str(tmp_path / "local")])
    code_spark = main(["report", *common, "--engine", "spark", "--out", str(tmp_path / "spark")])
    local, remote = _summary(tmp_path / "local"), _summary(tmp_path / "spark")
    assert code_local == code_spark == 1
    assert local == remote  # every statistic, p-value, window, label and operations number
    feats = {f["column"]: f for f in remote["dataset"]["features"]}
    for col in ("x", "ties", "few", "count"):
        ks = next(t for t in feats[col]["tests"] if t["method"] == "ks")
        a, b = ref[col].to_numpy(float), cur[col].to_numpy(float)
        ref_ks = ks_2samp(a[np.isfinite(a)], b[np.isfinite(b)])
        assert ks["statistic"] == float(ref_ks.statistic) and ks["pvalue"] == float(ref_ks.pvalue)
    assert feats["x"]["dropped"] == {"nan": 7, "posinf": 2, "neginf": 0}
    assert feats["topic"]["tests"][0]["details"]["unseen"] == ["crypto"]
    assert len(remote["windows"]) == 4 and remote["concept_overall"]["pass_rate"]["n"] > 0
    assert (tmp_path / "spark" / "report.html").read_text().count("<svg") >= 8


@slow
def test_distributed_ks_over_range_buckets_equals_scipy(spark, tmp_path: Path, monkeypatch) -> None:
    # Above scipy's exact sizes and with collection disabled, KS runs as bucketed prefix sums in Spark.
    monkeypatch.setattr(sb, "COLLECT_MAX_DISTINCT", 0)
    ref, cur = _table(14_000, 3), _table(12_000, 4, shift=True)
    cfg = DriftConfig(numeric=["x", "ties"], categorical=["model"])
    prof = fit_profile(ref, cfg)
    local = summary_dict(run_report(None, cur, cfg, profile=prof, window="12h"))
    remote = summary_dict(sb.run_report_spark(spark.createDataFrame(cur), cfg, profile=prof, spark=spark, window="12h"))
    for s in (local, remote):
        s.pop("generated_at")
        s.pop("current")
    assert local == remote and len(remote["windows"]) == 4
    for f in remote["dataset"]["features"][:2]:
        ks = next(t for t in f["tests"] if t["method"] == "ks")
        a, b = ref[f["column"]].to_numpy(float), cur[f["column"]].to_numpy(float)
        expected = ks_2samp(a[np.isfinite(a)], b[np.isfinite(b)])
        assert (ks["statistic"], ks["pvalue"]) == (float(expected.statistic), float(expected.pvalue))


@slow
def test_llm_log_jsonl_through_spark_equals_local(spark, log_files, tmp_path: Path) -> None:
    ref, _, shifted = log_files
    args = ["--reference", str(ref), "--current", str(shifted), "--quiet"]
    assert main(["report", *args, "--out", str(tmp_path / "l")]) == 1
    assert main(["report", *args, "--engine", "spark", "--out", str(tmp_path / "s")]) == 1
    assert _summary(tmp_path / "l") == _summary(tmp_path / "s")


@slow
def test_histogram_ks_profile_and_table_names_give_the_same_numbers(spark, tmp_path: Path) -> None:
    ref, cur = _table(4000, 5), _table(3000, 6, shift=True)
    cfg = DriftConfig(numeric=["x", "few"], categorical=["topic"], ks_max_distinct=500)
    prof = fit_profile(ref, cfg)
    assert prof.feature("x").ks.kind == "histogram" and prof.feature("few").ks.kind == "values"  # type: ignore[union-attr]
    spark.createDataFrame(cur).createOrReplaceTempView("drift_current_window")
    local = summary_dict(run_report(None, cur, cfg, profile=prof))
    remote = summary_dict(sb.run_report_spark("drift_current_window", cfg, profile=prof, spark=spark))
    for s in (local, remote):
        s.pop("generated_at")
        s.pop("current")
    assert local == remote
    x = next(f for f in remote["dataset"]["features"] if f["column"] == "x")
    assert next(t for t in x["tests"] if t["method"] == "ks")["details"]["method"] == "histogram-asymp"


@slow
def test_bad_spark_input_is_reported(spark, tmp_path: Path) -> None:
    ref = _table(500, 7)
    cfg = DriftConfig(numeric=["x", "ties"], categorical=["topic"])
    prof = fit_profile(ref, cfg)
    with pytest.raises(InputFormatError, match="table 'no_such_table' does not exist"):
        sb.run_report_spark("no_such_table", cfg, profile=prof, spark=spark)
    with pytest.raises(InputFormatError, match="does not exist"):
        sb.run_report_spark(str(tmp_path / "missing.parquet"), cfg, profile=prof, spark=spark)
    wrong = spark.createDataFrame(ref.assign(ties=ref["ties"].astype(str)).drop(columns=["timestamp"]))
    with pytest.raises(SchemaError, match=r"type changed: \['ties \(numeric in the profile, categorical"):
        sb.run_report_spark(wrong, cfg, profile=prof, spark=spark)
    empty = spark.createDataFrame(ref.drop(columns=["timestamp"])).limit(0)
    with pytest.raises(EmptyDataError, match="has no rows"):
        sb.run_report_spark(empty, cfg, profile=prof, spark=spark)
    with pytest.raises(ConfigError, match="time windows"):
        sb.run_report_spark(empty, cfg, profile=prof, spark=spark, window="500")
    code = main(["report", "--profile", prof.save(tmp_path / "p.json"), "--current", "no_such_table", "--engine",
                 "spark", "--out", str(tmp_path / "o"), "--quiet"])
    assert code == 2
