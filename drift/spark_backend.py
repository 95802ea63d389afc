"""The Spark backend: the current window's drift statistics computed where the data lives (Spark,
Databricks, Delta), equal to the single-machine numbers.

Given a stored :class:`drift.Profile` (the reference's edges, counts and KS reference) and a Spark DataFrame,
a table name or a Parquet/Delta/JSONL path, it computes with the DataFrame API only, bringing to the driver
nothing but per-bin, per-category and per-bucket counts:

* histograms on the profile's edges (PSI, JS, chi-square: the same integers as pandas, so the same floats),
  NaN/±inf counts, category counts, label and judge-score counts for concept drift, all in one aggregation
  grouped by time window;
* exact two-sample KS: each sample is reduced to counts per distinct value, the union is split into range
  buckets, per-bucket totals give each bucket's offset, and a window running sum inside each bucket gives
  both empirical CDFs at every distinct value; the largest and smallest difference come back to the driver
  (a column with few distinct values, or samples small enough for scipy's exact mode, is collected and
  computed as on one machine);
* operations percentiles from the two order statistics numpy interpolates between.

The verdict, report and exit code are then made by the same code as ``--engine local``
(:func:`run_report_spark`). Requires the ``spark`` extra (``pip install 'evalharness[spark]'``) and Java 17.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .concept import concept_windows
from .config import DriftConfig
from .decision import PendingFeature, decide, verdict
from .errors import (
    ConfigError,
    EmptyDataError,
    InputFormatError,
    LowPowerWarning,
    MissingDependencyError,
    SchemaError,
)
from .features import CATEGORICAL_FEATURES, OPTIONAL_CATEGORICAL
from .ks_counts import SCIPY_MAX_AUTO_N, ks_finish, ks_result
from .profile import Profile
from .results import CategoricalSummary, DriftResult, FeatureDrift

logger = logging.getLogger(__name__)

#: Driver JVM flags that halve Spark's start-up (C1 only, serial GC); fine for a driver that only plans.
FAST_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
#: Columns with at most this many distinct current values (over all windows) are collected for KS.
COLLECT_MAX_DISTINCT = 50_000
#: Range buckets of the distributed KS (each bucket's values are sorted by one task).
KS_BUCKETS = 64
_ALL = "__drift_all__"
_SUBUS = "__drift_sub_us"
_G = "__drift_window__"
_NUMERIC_TYPES = ("ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType", "DecimalType")
_NOT_FEATURES = {"timestamp", "label", "trace_id", "span_id", "session_id", "user_id", "prompt", "response"}


# ------------------------------------------------------------------ session and input

def check_java() -> str:
    """The ``java`` executable Spark will start, or :class:`MissingDependencyError` saying how to install one."""
    home = os.environ.get("JAVA_HOME")
    if home:
        exe = os.path.join(home, "bin", "java")
        if os.path.isfile(exe) and os.access(exe, os.X_OK):
            return exe
        raise MissingDependencyError(f"JAVA_HOME={home!r} has no bin/java; Spark needs Java 17: install a JDK 17 "
                                     f"(apt-get install openjdk-17-jre-headless) and point JAVA_HOME at it, or unset it")
    found = shutil.which("java")
    if found is None:
        raise MissingDependencyError("Spark needs Java 17 and no `java` is on PATH (JAVA_HOME unset): install a JDK 17 "
                                     "(apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17) "
                                     "or set JAVA_HOME")
    return found


def _pyspark() -> Any:
    try:
        import pyspark
    except ImportError as exc:
        raise MissingDependencyError("--engine spark needs pyspark: pip install 'evalharness[spark]' "
                                     "(pyspark 4, about 0.5 GB)") from exc
    return pyspark


def spark_session(master: str | None = None, *, app_name: str = "drift", conf: Mapping[str, str] | None = None,
                  fast_start: bool = True) -> Any:
    """A Spark session: the active one (spark-submit, Databricks notebooks) when ``master`` is not given,
    else a new one on ``master`` (``local[*]``, ``spark://host:7077``, ``yarn``...) with the UI off, few
    shuffle partitions, UTC session time and, with ``fast_start``, :data:`FAST_JVM_OPTIONS` for the driver.
    Java is checked first (:func:`check_java`)."""
    _pyspark()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    if not os.environ.get("SPARK_HOME") or master is not None:
        check_java()
    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    settings = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                "spark.sql.shuffle.partitions": "8", "spark.sql.session.timeZone": "UTC",
                "spark.sql.execution.arrow.pyspark.enabled": "true"}
    if fast_start:
        settings["spark.driver.extraJavaOptions"] = FAST_JVM_OPTIONS
    if master is not None and master.startswith("local") and not os.environ.get("PYSPARK_PYTHON"):
        # a local master's Python workers run this interpreter (its venv's packages), not whatever "python3" is on
        # PATH; PySpark reads the variable when the context starts
        os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark import SparkConf

    # Under spark-submit the submitted settings win over these defaults; explicit ``conf`` always applies.
    submitted = SparkConf() if master is None else None
    settings = {k: v for k, v in settings.items() if submitted is None or not submitted.contains(k)}
    settings.update(conf or {})
    for k, v in settings.items():
        builder = builder.config(k, v)
    try:
        session = builder.getOrCreate()
    except Exception as exc:
        raise MissingDependencyError(f"Spark could not start ({type(exc).__name__}: {exc}); check that Java 17 is "
                                     f"installed (apt-get install openjdk-17-jre-headless) and JAVA_HOME") from exc
    session.sparkContext.setLogLevel("ERROR")
    return session


def read_current(spark: Any, source: Any) -> Any:
    """A Spark DataFrame from ``source``: a DataFrame (as is), a Parquet file or folder, a Delta table folder
    (``_delta_log`` inside, or ``delta:PATH``), a ``.jsonl``/``.json``/``.csv`` file, a URL-style path
    (``s3://``, ``abfss://``, ``dbfs:/``, read as Parquet) or a table name in Spark's catalog."""
    from pyspark.sql import DataFrame

    if isinstance(source, DataFrame) or hasattr(source, "sparkSession") and hasattr(source, "schema"):
        return source
    text = os.fspath(source)
    from pyspark.errors import AnalysisException

    try:
        if text.startswith("delta:"):
            return _read_delta(spark, text[len("delta:"):])
        if os.path.exists(text):
            if os.path.isdir(text) and os.path.isdir(os.path.join(text, "_delta_log")):
                return _read_delta(spark, text)
            low = text.lower()
            if low.endswith((".jsonl", ".ndjson", ".json")):
                return spark.read.json(text)
            if low.endswith(".csv"):
                return spark.read.option("header", "true").option("inferSchema", "true").csv(text)
            return spark.read.parquet(text)
        if "://" in text or text.startswith("dbfs:"):
            return spark.read.parquet(text)
        if "/" in text or text.endswith((".parquet", ".jsonl", ".csv", ".json")):
            raise InputFormatError(f"input {text!r} does not exist; pass a Parquet/Delta/JSONL path or a table name")
        return spark.table(text)
    except AnalysisException as exc:
        msg = str(exc).splitlines()[0]
        if "TABLE_OR_VIEW_NOT_FOUND" in msg or "not found" in msg.lower():
            raise InputFormatError(f"table {text!r} does not exist in Spark's catalog (current database "
                                   f"{spark.catalog.currentDatabase()!r}); pass a path or create the table ({msg})") from exc
        if "TIMESTAMP(NANOS" in msg:
            msg += ("; Spark reads timestamps in microseconds: write the Parquet with "
                    "df.to_parquet(path, coerce_timestamps='us') or pyarrow's coerce_timestamps='us'")
        raise InputFormatError(f"Spark cannot read {text!r}: {msg}") from exc


def _read_delta(spark: Any, path: str) -> Any:
    try:
        return spark.read.format("delta").load(path)
    except Exception as exc:
        if "delta" in str(exc).lower() and ("not find" in str(exc).lower() or "DATA_SOURCE_NOT_FOUND" in str(exc)):
            raise MissingDependencyError(f"reading the Delta table {path!r} needs Delta Lake: pip install delta-spark "
                                         f"and start Spark with its package (built in on Databricks)") from exc
        raise


def spark_features(df: Any, config: DriftConfig) -> Any:
    """Logged LLM calls (``prompt`` and ``response`` columns) become the features of
    :func:`drift.llm_features`, computed in Spark; other tables are returned with the time column cast to a
    timestamp."""
    from pyspark.sql import functions as F

    cols = set(df.columns)
    t = config.time_column
    if {"prompt", "response"} <= cols:
        def num(c: str) -> Any:
            return F.col(c).cast("double") if c in cols else F.lit(None).cast("double")

        out = [F.char_length("prompt").cast("double").alias("prompt_chars"),
               F.char_length("response").cast("double").alias("response_chars")]
        out += [num(c).alias(c) for c in ("prompt_tokens", "completion_tokens", "latency_ms", "ttft_ms", "tpot_ms",
                                          "cost_usd", "judge_score")]
        out.append(num("total_tokens").alias("total_tokens") if "total_tokens" in cols
                   else (num("prompt_tokens") + num("completion_tokens")).alias("total_tokens"))
        out += [(F.col(c).cast("string") if c in cols else F.lit(None).cast("string")).alias(c)
                for c in CATEGORICAL_FEATURES]
        out += [F.col(c).cast("string").alias(c) for c in OPTIONAL_CATEGORICAL if c in cols]
        out.append(num("label").alias("label"))
        if t in cols:
            out += [F.col(t).cast("timestamp").alias(t), _sub_micros(df, t)]
        return df.select(*out)
    if t in cols:
        return df.withColumn(_SUBUS, _sub_micros(df, t)).withColumn(t, F.col(t).cast("timestamp"))
    return df


def _sub_micros(df: Any, t: str) -> Any:
    """Nanoseconds below the microsecond of an ISO 8601 time string (Spark keeps microseconds, pandas
    nanoseconds: the time spans of the operations panel would differ by a microsecond)."""
    from pyspark.sql import functions as F

    if type(df.schema[t].dataType).__name__ != "StringType":
        return F.lit(0).cast("long").alias(_SUBUS)
    digits = F.regexp_extract(F.col(t), r"[T ]\d\d:\d\d:\d\d[.,]\d{6}(\d{1,3})", 1)
    return F.when(digits == "", F.lit(0)).otherwise(F.rpad(digits, 3, "0").cast("long")).cast("long").alias(_SUBUS)


def spark_kinds(df: Any) -> dict[str, str]:
    """Column name to ``"numeric"``, ``"categorical"`` or ``"other"`` from a Spark schema."""
    out = {}
    for f in df.schema.fields:
        if f.name.startswith("__drift"):
            continue
        name = type(f.dataType).__name__
        out[f.name] = ("numeric" if name in _NUMERIC_TYPES else
                       "categorical" if name in ("StringType", "BooleanType", "VarcharType", "CharType") else "other")
    return out


# ------------------------------------------------------------------ statistics

@dataclass
class GroupStats:
    """Counts of one window (or of the whole input)."""

    n_rows: int = 0
    numeric: dict[str, tuple[np.ndarray, dict[str, int]]] = field(default_factory=dict)
    categorical: dict[str, CategoricalSummary] = field(default_factory=dict)
    ks: dict[str, DriftResult] = field(default_factory=dict)
    concept: dict[str, tuple[int, int]] | None = None
    start: Any = None
    end: Any = None
    tokens: float = 0.0
    has_tokens: bool = False


def _finite(x: Any) -> Any:
    from pyspark.sql import functions as F

    return x.isNotNull() & ~F.isnan(x) & (x != float("inf")) & (x != float("-inf"))


def _cat_string(df: Any, c: str) -> Any:
    """Categories as strings, as :func:`drift.binning.category_counts` names them (``str(value)``)."""
    from pyspark.sql import functions as F

    t = type(df.schema[c].dataType).__name__
    if t == "BooleanType":
        return F.when(F.col(c), F.lit("True")).when(~F.col(c), F.lit("False"))
    return F.col(c).cast("string")


def compute_stats(df: Any, profile: Profile, config: DriftConfig, group: Any) -> dict[Any, GroupStats]:
    """Every count the report needs, per value of the ``group`` column expression (one pass, plus one for
    the categories and the KS passes)."""
    from pyspark.sql import functions as F

    numeric = [f for f in profile.features if f.kind == "numeric" and not f.skipped]
    categorical = [f for f in profile.features if f.kind == "categorical" and not f.skipped]
    t = config.time_column
    cols = set(df.columns)
    proj = [group.alias(_G)]
    for i, f in enumerate(numeric):
        x = F.col(f.name).cast("double")
        assert f.numeric is not None
        inner = f.numeric.edges[1:-1]
        idx = F.lit(0)
        for e in inner:
            idx = idx + F.when(x >= F.lit(float(e)), 1).otherwise(0)
        proj.append(F.when(x.isNull() | F.isnan(x), -1).when(x == float("inf"), -2).when(x == float("-inf"), -3)
                    .otherwise(idx).alias(f"__b{i}"))
    label, score = config.label_column, config.judge_score_column
    with_concept = profile.concept is not None and label in cols
    if with_concept:
        lab = F.col(label).cast("double")
        keep = _finite(lab)
        y = keep & (lab >= 0.5)
        judged = keep & (_finite(F.col(score).cast("double")) if score in cols else F.lit(False))
        j = F.col(score).cast("double") >= config.judge_pass_threshold if score in cols else F.lit(False)
        proj += [keep.alias("__keep"), y.alias("__y"), judged.alias("__judged"), j.alias("__j")]
    if t in cols:
        sub = F.col(_SUBUS) if _SUBUS in cols else F.lit(0)
        proj.append((F.unix_micros(F.col(t)) * 1000 + sub).alias("__t"))  # nanoseconds, as pandas
    if "completion_tokens" in cols:
        proj.append(F.col("completion_tokens").cast("double").alias("__tok"))
    base = df.select(*proj)
    aggs = [F.count(F.lit(1)).alias("__n")]
    for i, f in enumerate(numeric):
        assert f.numeric is not None
        b = F.col(f"__b{i}")
        aggs += [F.count(F.when(b == k, 1)).alias(f"__b{i}_{k}") for k in range(len(f.numeric.counts))]
        aggs += [F.count(F.when(b == -k, 1)).alias(f"__b{i}_d{k}") for k in (1, 2, 3)]
    if with_concept:
        k_, y_, jd, jj = (F.col(c) for c in ("__keep", "__y", "__judged", "__j"))
        aggs += [F.count(F.when(k_, 1)).alias("__c_n"), F.count(F.when(y_, 1)).alias("__c_pass"),
                 F.count(F.when(jd, 1)).alias("__c_judged"), F.count(F.when(jd & (y_ == jj), 1)).alias("__c_acc"),
                 F.count(F.when(jd & jj, 1)).alias("__c_jpos"), F.count(F.when(jd & y_ & jj, 1)).alias("__c_tp"),
                 F.count(F.when(jd & y_, 1)).alias("__c_ypos")]
    if t in cols:
        aggs += [F.min("__t").alias("__tmin"), F.max("__t").alias("__tmax")]
    if "completion_tokens" in cols:
        # numpy's nansum skips NaN; Spark's sum skips nulls, so NaN becomes null first.
        tok = F.col("__tok")
        aggs += [F.sum(F.when(~F.isnan(tok), tok)).alias("__tok")]
    rows = base.groupBy(_G).agg(*aggs).collect()
    out: dict[Any, GroupStats] = {}
    for r in rows:
        g = GroupStats(n_rows=int(r["__n"]))
        for i, f in enumerate(numeric):
            assert f.numeric is not None
            counts = np.array([r[f"__b{i}_{k}"] for k in range(len(f.numeric.counts))], dtype=np.int64)
            g.numeric[f.name] = (counts, {"nan": int(r[f"__b{i}_d1"]), "posinf": int(r[f"__b{i}_d2"]),
                                          "neginf": int(r[f"__b{i}_d3"])})
        if with_concept:
            c = {"pass_rate": (int(r["__c_pass"]), int(r["__c_n"]))}
            if r["__c_judged"]:
                c["accuracy"] = (int(r["__c_acc"]), int(r["__c_judged"]))
                c["precision"] = (int(r["__c_tp"]), int(r["__c_jpos"]))
                c["recall"] = (int(r["__c_tp"]), int(r["__c_ypos"]))
            g.concept = c
        if t in cols and r["__tmin"] is not None:
            g.start, g.end = int(r["__tmin"]), int(r["__tmax"])  # nanoseconds since the epoch, UTC
        if "completion_tokens" in cols:
            g.has_tokens = True
            g.tokens = float(r["__tok"]) if r["__tok"] is not None else 0.0
        out[r[_G]] = g
    if categorical:
        _categories(df, group, categorical, out)
    _ks(df, group, numeric, out)
    return out


def _categories(df: Any, group: Any, features: Sequence[Any], out: dict[Any, GroupStats]) -> None:
    """Category counts per window, all categorical columns in one pass (an exploded (column, value) pair)."""
    from pyspark.sql import functions as F

    pairs = F.explode(F.array(*[F.struct(F.lit(f.name).alias("c"), _cat_string(df, f.name).alias("v"))
                                for f in features]))
    rows = (df.select(group.alias(_G), pairs.alias("p")).groupBy(_G, F.col("p.c").alias("c"), F.col("p.v").alias("v"))
            .count().collect())
    raw: dict[Any, dict[str, dict[str | None, int]]] = {}
    for r in rows:
        raw.setdefault(r[_G], {}).setdefault(r["c"], {})[r["v"]] = int(r["count"])
    for g, stats in out.items():
        for f in features:
            got = raw.get(g, {}).get(f.name, {})
            missing = got.pop(None, 0)
            stats.categorical[f.name] = CategoricalSummary({k: v for k, v in got.items() if k is not None}, missing)


def _ks(df: Any, group: Any, features: Sequence[Any], out: dict[Any, GroupStats]) -> None:
    """KS of every numeric feature with a KS reference, per window; all features together in each pass."""
    from pyspark.sql import functions as F

    feats = [f for f in features if f.ks is not None]
    n2 = {f.name: {g: int(s.numeric[f.name][0].sum()) for g, s in out.items()} for f in feats}
    feats = [f for f in feats if any(n2[f.name].values())]
    hist = [f for f in feats if f.ks.kind == "histogram"]
    vals = [f for f in feats if f.ks.kind == "values"]
    if hist:
        _ks_histograms(df, group, hist, n2, out)
    if not vals:
        return
    # One long table of (feature, window, value, range bucket) for every finite value, reduced to counts per
    # distinct value. Buckets (for the distributed path) come from a binary search on each reference's quantiles.
    from pyspark.ml.feature import Bucketizer

    nan = F.lit(float("nan"))
    wide = df.select(group.alias(_G), *[F.when(_finite(F.col(f.name).cast("double")), F.col(f.name).cast("double"))
                                        .otherwise(nan).alias(f"__v{i}") for i, f in enumerate(vals)])
    buck = Bucketizer(splitsArray=[_bucket_splits(f.ks) for f in vals], handleInvalid="keep",
                      inputCols=[f"__v{i}" for i in range(len(vals))], outputCols=[f"__r{i}" for i in range(len(vals))])
    pairs = F.explode(F.array(*[F.struct(F.lit(i).alias("f"), F.col(f"__v{i}").alias("v"),
                                         F.col(f"__r{i}").cast("int").alias("b")) for i in range(len(vals))]))
    long = buck.transform(wide).select(_G, pairs.alias("p")).select("p.f", _G, "p.v", "p.b").where(~F.isnan("v"))
    vc = long.groupBy("f", _G, "v", "b").agg(F.count(F.lit(1)).alias("c")).persist()
    try:
        collect = {i for i, f in enumerate(vals) if all(max(f.ks.n, n) <= SCIPY_MAX_AUTO_N for n in n2[f.name].values())}
        rest = [i for i in range(len(vals)) if i not in collect]
        if rest:
            approx = vc.where(F.col("f").isin(rest)).groupBy("f").agg(
                F.approx_count_distinct(F.struct(_G, "v"), 0.05).alias("d")).collect()
            collect |= {int(r["f"]) for r in approx if r["d"] <= COLLECT_MAX_DISTINCT}
        if collect:
            # Few distinct values (or scipy's exact sizes): the value counts come to the driver.
            per: dict[tuple[int, Any], list[tuple[float, int]]] = {}
            for r in vc.where(F.col("f").isin(sorted(collect))).collect():
                per.setdefault((int(r["f"]), r[_G]), []).append((float(r["v"]), int(r["c"])))
            for i in collect:
                f = vals[i]
                for g, n in n2[f.name].items():
                    if n:
                        got = sorted(per.get((i, g), []))
                        out[g].ks[f.name] = ks_result(f.ks, n, cur_values=np.array([p[0] for p in got], dtype=np.float64),
                                                      cur_counts=np.array([p[1] for p in got], dtype=np.int64))
        dist = [i for i in range(len(vals)) if i not in collect]
        if dist:
            for (i, g), (mx, mn) in _ks_distributed(df.sparkSession, vc, vals, dist, n2).items():
                f = vals[i]
                out[g].ks[f.name] = ks_result(f.ks, n2[f.name][g], stat=ks_finish(mx, mn, f.ks.n, n2[f.name][g]))
    finally:
        vc.unpersist()


def _bucket_splits(ks: Any) -> list[float]:
    """Range-bucket splits of the distributed KS: ``-inf``, about :data:`KS_BUCKETS` reference quantiles, ``inf``."""
    cum = np.cumsum(ks.counts)
    picks = np.searchsorted(cum, np.linspace(0, cum[-1], KS_BUCKETS + 1)[1:-1], side="left")
    inner = sorted({float(ks.values[k]) for k in picks} - {float("-inf"), float("inf")})
    return [float("-inf"), *inner, float("inf")]


def _ks_histograms(df: Any, group: Any, feats: Sequence[Any], n2: dict[str, dict[Any, int]],
                   out: dict[Any, GroupStats]) -> None:
    """Counts on the profile's fine KS edges (columns over the distinct-value cap), all columns in one pass."""
    from pyspark.ml.feature import Bucketizer
    from pyspark.sql import functions as F

    nan = F.lit(float("nan"))
    cols = [F.when(_finite(F.col(f.name).cast("double")), F.col(f.name).cast("double")).otherwise(nan).alias(f"__k{i}")
            for i, f in enumerate(feats)]
    b = Bucketizer(splitsArray=[[float(e) for e in f.ks.values] for f in feats], handleInvalid="keep",
                   inputCols=[f"__k{i}" for i in range(len(feats))], outputCols=[f"__h{i}" for i in range(len(feats))])
    binned = b.transform(df.select(group.alias(_G), *cols))
    pairs = F.explode(F.array(*[F.struct(F.lit(i).alias("f"), F.col(f"__h{i}").cast("int").alias("b"))
                                for i in range(len(feats))]))
    rows = (binned.select(_G, pairs.alias("p")).groupBy(F.col("p.f").alias("f"), _G, F.col("p.b").alias("b"))
            .agg(F.count(F.lit(1)).alias("c")).collect())
    counts = {(i, g): np.zeros(f.ks.counts.size, dtype=np.int64) for i, f in enumerate(feats) for g in out}
    for r in rows:
        i, k = int(r["f"]), int(r["b"])
        if k < feats[i].ks.counts.size:  # the extra bucket holds NaN (the dropped non-finite values)
            counts[(i, r[_G])][k] += int(r["c"])
    for i, f in enumerate(feats):
        for g, n in n2[f.name].items():
            if n:
                out[g].ks[f.name] = ks_result(f.ks, n, cur_counts=counts[(i, g)])


def _ks_distributed(spark: Any, vc: Any, vals: Sequence[Any], dist: Sequence[int],
                    n2: dict[str, dict[Any, int]]) -> dict[tuple[int, Any], tuple[float, float]]:
    """Largest and smallest ECDF difference per (feature, window), exact, without collecting values: counts per
    distinct value of both samples, range buckets, per-bucket offsets from the driver, a running sum per bucket."""
    import pandas as pd
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    # The reference side's buckets by the same rule as Bucketizer: [split_k, split_k+1).
    ref_pd = pd.concat([pd.DataFrame({"f": i, "v": vals[i].ks.values, "c1": vals[i].ks.counts,
                                      "b": np.searchsorted(_bucket_splits(vals[i].ks), vals[i].ks.values, side="right") - 1})
                        for i in dist], ignore_index=True)
    windows = pd.DataFrame([(i, g, n) for i in dist for g, n in n2[vals[i].name].items() if n and g is not None],
                           columns=["f", _G, "n2"])
    ref = spark.createDataFrame(ref_pd).join(F.broadcast(spark.createDataFrame(windows[["f", _G]])), "f")
    cur = vc.where(F.col("f").isin(list(dist))).select("f", _G, "v", F.col("b").cast("int").alias("b"),
                                                       F.lit(0).cast("long").alias("c1"), F.col("c").cast("long").alias("c2"))
    # Each side is already one row per distinct value; a value in both samples is two rows, which the window's
    # RANGE frame (all rows with the same value) counts together, so no aggregation of the union is needed.
    both = ref.select("f", _G, "v", F.col("b").cast("int").alias("b"), F.col("c1").cast("long").alias("c1"),
                      F.lit(0).cast("long").alias("c2")).unionByName(cur).persist()
    try:
        totals = both.groupBy("f", _G, "b").agg(F.sum("c1").alias("t1"), F.sum("c2").alias("t2")).collect()
        per: dict[tuple[int, Any], dict[int, tuple[int, int]]] = {}
        for r in totals:
            per.setdefault((int(r["f"]), r[_G]), {})[int(r["b"])] = (int(r["t1"]), int(r["t2"]))
        offs = []
        for (i, g), buckets in per.items():
            o1 = o2 = 0
            for k in sorted(buckets):
                offs.append((i, g, k, o1, o2, vals[i].ks.n, n2[vals[i].name][g]))
                o1 += buckets[k][0]
                o2 += buckets[k][1]
        off = spark.createDataFrame(pd.DataFrame(offs, columns=["f", _G, "b", "o1", "o2", "n1", "n2"]))
        w = Window.partitionBy("f", _G, "b").orderBy("v").rangeBetween(Window.unboundedPreceding, Window.currentRow)
        diffs = (both.join(F.broadcast(off), ["f", _G, "b"])
                 .select("f", _G, ((F.col("o1") + F.sum("c1").over(w)) / F.col("n1")
                                   - (F.col("o2") + F.sum("c2").over(w)) / F.col("n2")).alias("d")))
        res = diffs.groupBy("f", _G).agg(F.max("d").alias("mx"), F.min("d").alias("mn")).collect()
    finally:
        both.unpersist()
    return {(int(r["f"]), r[_G]): (float(r["mx"]), float(r["mn"])) for r in res}


# ------------------------------------------------------------------ operations

_OPS = ("latency_ms", "ttft_ms", "tpot_ms")


def _np_percentile(lo: float, hi: float, n: int, q: float) -> float:
    """``np.percentile(v, q)`` (linear) given the two order statistics it interpolates between."""
    quantile = np.true_divide(q, 100)
    virtual = (n - 1) * quantile  # numpy's 'linear' method
    prev = np.floor(virtual)
    gamma = np.asanyarray(virtual - prev)
    if virtual >= n - 1:
        return float(hi if n > 1 else lo)
    if virtual < 0:
        return float(lo)
    a, b = np.float64(lo), np.float64(hi)
    diff = b - a
    return float(b - diff * (1 - gamma) if gamma >= 0.5 else a + diff * gamma)


def _ops_ranks(n: int, q: float) -> tuple[int, int]:
    quantile = np.true_divide(q, 100)
    virtual = (n - 1) * quantile
    prev = int(np.clip(np.floor(virtual), 0, n - 1))
    return prev, int(np.clip(prev + 1, 0, n - 1))


def ops_percentiles(df: Any, group: Any, groups: Sequence[Any]) -> dict[tuple[Any, str, float], float]:
    """p50/p95 of the operations columns per window, exactly as numpy's linear percentile: the counts per
    window come first, then only the order statistics numpy interpolates between."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    out: dict[tuple[Any, str, float], float] = {}
    for c in _OPS:
        if c not in df.columns:
            continue
        v = df.select(group.alias(_G), F.col(c).cast("double").alias("v")).where(_finite(F.col("v")))
        counts = {r[_G]: int(r["n"]) for r in v.groupBy(_G).agg(F.count(F.lit(1)).alias("n")).collect()}
        wanted = {(g, k) for g, n in counts.items() for q in (50, 95) for k in _ops_ranks(n, q)}
        if not wanted:
            continue
        ranked = v.withColumn("r", F.row_number().over(Window.partitionBy(_G).orderBy("v")) - 1)
        keys = {}
        for r in ranked.where(F.col("r").isin(sorted({k for _, k in wanted}))).collect():
            keys[(r[_G], int(r["r"]))] = float(r["v"])
        for g, n in counts.items():
            for q in (50, 95):
                lo, hi = _ops_ranks(n, q)
                out[(g, c, float(q))] = _np_percentile(keys[(g, lo)], keys[(g, hi)], n, q)
    return out


# ------------------------------------------------------------------ the report

def _pending(detector: Any, stats: GroupStats) -> tuple[list[PendingFeature], list[str]]:
    """The features' tests from one window's counts, as :meth:`drift.DatasetDriftDetector.pending`."""
    if stats.n_rows == 0:
        raise EmptyDataError("the current window has no rows; widen the window or check the data source")
    features: list[PendingFeature] = []
    notes: list[str] = []
    for col in detector.schema.columns:
        kind = detector.schema.kind_of(col)
        if col in detector.skipped_:
            features.append(PendingFeature(FeatureDrift(col, kind, "skipped", False, None, reason=detector.skipped_[col])))
            notes.append(f"column {col!r} skipped: {detector.skipped_[col]}")
            continue
        det = detector.detectors_[col]
        if kind == "numeric":
            counts, dropped = stats.numeric[col]
            pf = det.pending_from_counts(counts if counts.sum() else None, dropped, ks=stats.ks.get(col),
                                         n_rows=stats.n_rows)
        else:
            pf = det.pending(stats.categorical[col])
        features.append(pf)
        if pf.feature.status == "skipped":
            notes.append(f"column {col!r} skipped: {pf.feature.reason}")
    return features, notes


def run_report_spark(current: Any, config: DriftConfig | None = None, *, profile: Profile | str | None = None,
                     reference: Any = None, window: str | None = None, spark: Any = None,
                     master: str | None = None) -> Any:
    """:func:`drift.report.run_report` with the current window counted in Spark. ``current`` is a Spark
    DataFrame, a table name or a path; ``profile`` a :class:`drift.Profile` or its file. Without a profile,
    ``reference`` (a local file or DataFrame) is profiled on the driver first. Time windows only (``1h``,
    ``1d``): row windows need an order Spark tables do not have."""
    from .report import Report, fit_profile
    from .windows import WindowDrift, parse_window

    config = config or DriftConfig()
    window = window or config.window
    if config.embed_text:
        raise ConfigError(f"--engine spark does not embed text (embed_text={config.embed_text}); use --engine local "
                          f"for embedding drift or remove embed_text from the config")
    spec = parse_window(window) if window else None
    if spec is not None and spec.kind != "time":
        raise ConfigError(f"--engine spark supports time windows such as '1h' or '1d', not the row window {window!r}")
    if profile is None:
        if reference is None:
            raise ConfigError("give a reference (--reference) or a stored profile (--profile)")
        prof = fit_profile(reference, config, ks_max_distinct=0)
    else:
        prof = Profile.load(profile) if isinstance(profile, (str, os.PathLike)) else profile
    spark = spark or spark_session(master)
    name = current if isinstance(current, str) else (os.fspath(current) if hasattr(current, "__fspath__") else "<Spark DataFrame>")
    df = spark_features(read_current(spark, current), config)
    skip = _NOT_FEATURES | {config.time_column, config.label_column}
    kinds = {c: k for c, k in spark_kinds(df).items() if c not in skip}
    _mark_text(df, prof, kinds)
    prof.check_schema(kinds, where=f"current data {name}")

    from pyspark.sql import functions as F

    decision = config.to_decision()
    t = config.time_column
    step_us = None
    if spec is not None:
        import pandas as pd

        if t not in df.columns:
            raise SchemaError(f"time window {window!r} needs a {t!r} column; log timestamps or drop --window")
        assert spec.freq is not None
        step_us = int(pd.Timedelta(spec.freq).value // 1000)
        group = F.floor(F.unix_micros(F.col(t)) / F.lit(step_us)) * F.lit(step_us)
    else:
        group = F.lit(_ALL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LowPowerWarning)
        detector = _detector(prof, config, decision)
        per = compute_stats(df, prof, config, group)
        if not per or sum(s.n_rows for s in per.values()) == 0:
            raise EmptyDataError(f"the current window {name} has no rows; widen the window or check the data source")
        whole = per if spec is None else compute_stats_whole(df, prof, config, per)
        all_stats = whole[_ALL]
        pending, skip_notes = _pending(detector, all_stats)
        features = decide([pending], decision)[0]
        verdict_ = verdict(features, decision, share_threshold=config.share_threshold, n_reference_rows=prof.n_rows,
                           n_current_rows=all_stats.n_rows,
                           notes=[*skip_notes, *(w for f in features for w in f.warnings)])
        per_window: list[WindowDrift] = []
        labels: list[tuple[Any, str, Any, Any]] = []
        if spec is not None:
            labels = _window_labels(per, step_us)
            scored = [(k, per[k]) for k, *_ in labels if k in per and per[k].n_rows > 0]
            pend = [_pending(detector, s) for _, s in scored]
            decided = decide([p for p, _ in pend], decision)
            results = {k: verdict(feats, decision, share_threshold=config.share_threshold, n_reference_rows=prof.n_rows,
                                  n_current_rows=s.n_rows, notes=[*notes, *(w for f in feats for w in f.warnings)])
                       for (k, s), feats, (_, notes) in zip(scored, decided, pend, strict=True)}
            per_window = [WindowDrift(lab, s0, s1, per[k].n_rows, results[k]) if k in results else
                          WindowDrift(lab, s0, s1, 0, None, "empty window (no rows logged)")
                          for k, (lab, s0, s1) in ((k, rest) for k, *rest in labels)]
    notes = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, LowPowerWarning)))
    for w in caught:
        if not issubclass(w.category, LowPowerWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    ops = _ops(df, group, per, all_stats, labels, spec is not None, step_us)
    concept: list[Any] = []
    overall = None
    if prof.concept is not None and all_stats.concept is not None:
        overall = concept_windows(prof.concept, [("all", all_stats.concept)])[0]
        empty: dict[str, tuple[int, int]] = {"pass_rate": (0, 0)}
        if labels:
            concept = concept_windows(prof.concept, [(lab, per[k].concept or empty if k in per else empty)
                                                     for k, lab, *_ in labels])
    return Report(verdict_, tuple(per_window), tuple(ops), tuple(concept), overall, config,
                  prof.source if reference is None else str(reference), name, tuple(notes))


def _detector(prof: Profile, config: DriftConfig, decision: Any) -> Any:
    from .detectors import DatasetDriftDetector

    return DatasetDriftDetector.from_profile(prof, share_threshold=config.share_threshold, decision=decision,
                                             primary=config.primary)


def compute_stats_whole(df: Any, prof: Profile, config: DriftConfig, per: dict[Any, GroupStats]) -> dict[Any, GroupStats]:
    """The whole input's counts: additive counts are summed over the windows; KS is computed again."""
    from pyspark.sql import functions as F

    g = GroupStats(n_rows=sum(s.n_rows for s in per.values()))
    for name in next(iter(per.values())).numeric:
        counts = sum((s.numeric[name][0] for s in per.values()), np.zeros_like(next(iter(per.values())).numeric[name][0]))
        dropped = {k: sum(s.numeric[name][1][k] for s in per.values()) for k in ("nan", "posinf", "neginf")}
        g.numeric[name] = (counts, dropped)
    for name in next(iter(per.values())).categorical:
        merged: dict[str, int] = {}
        for s in per.values():
            for k, v in s.categorical[name].counts.items():
                merged[k] = merged.get(k, 0) + v
        g.categorical[name] = CategoricalSummary(merged, sum(s.categorical[name].n_missing for s in per.values()))
    concepts = [s.concept for s in per.values() if s.concept is not None]
    if concepts:
        keys = dict.fromkeys(k for c in concepts for k in c)
        g.concept = {k: (sum(c.get(k, (0, 0))[0] for c in concepts), sum(c.get(k, (0, 0))[1] for c in concepts))
                     for k in keys}
    starts = [s.start for s in per.values() if s.start is not None]
    ends = [s.end for s in per.values() if s.end is not None]
    g.start, g.end = (min(starts) if starts else None), (max(ends) if ends else None)
    g.has_tokens = any(s.has_tokens for s in per.values())
    g.tokens = float(sum(s.tokens for s in per.values()))
    numeric = [f for f in prof.features if f.kind == "numeric" and not f.skipped]
    out = {_ALL: g}
    _ks(df, F.lit(_ALL), numeric, out)
    return out


def _window_labels(per: dict[Any, GroupStats], step_us: int | None) -> list[tuple[Any, str, Any, Any]]:
    """Every window from the first to the last logged one, empty ones included, labelled as pandas does."""
    import pandas as pd

    keys = sorted(k for k in per if k is not None)
    if not keys:
        raise EmptyDataError("the time column has no valid timestamps; cannot form time windows")
    assert step_us is not None
    step = pd.Timedelta(microseconds=step_us)
    out = []
    for k in range(int(keys[0]), int(keys[-1]) + 1, step_us):
        s = pd.Timestamp(k, unit="us", tz="UTC")
        out.append((k, s.isoformat(), s, s + step))
    return out


def _ops(df: Any, group: Any, per: dict[Any, GroupStats], whole: GroupStats, labels: list[Any], windowed: bool,
         step_us: int | None) -> list[Any]:
    """The operations panel (:func:`drift.windows.ops_panel`) from Spark counts and order statistics."""
    import pandas as pd
    from pyspark.sql import functions as F

    from .windows import MIN_RATE_SPAN_S, OpsWindow

    if windowed:
        pct = ops_percentiles(df, group, list(per))
    else:
        pct = ops_percentiles(df, F.lit(_ALL), [_ALL])
    out = []
    rows = ([(k, lab, s0, s1) for k, lab, s0, s1 in labels] if windowed else [(_ALL, "all", whole.start, whole.end)])
    for k, lab, s0, s1 in rows:
        s = whole if not windowed else per.get(k, GroupStats())
        n = s.n_rows
        if windowed:
            start, end = pd.Timestamp(s0), pd.Timestamp(s1)
        else:
            start = pd.Timestamp(s0, unit="ns", tz="UTC") if s0 is not None else None
            end = pd.Timestamp(s1, unit="ns", tz="UTC") if s1 is not None else None
        dur = float((end - start).total_seconds()) if start is not None and end is not None else float("nan")
        tokens = s.tokens if "completion_tokens" in df.columns else float("nan")
        if not windowed:
            per_req = tokens / n if n else float("nan")
            rps = max(n - 1, 0) / dur if dur >= MIN_RATE_SPAN_S else float("nan")
            tps = rps * per_req
        else:
            rps = n / dur if dur > 0 else float("nan")
            tps = tokens / dur if dur > 0 else float("nan")

        def p(c: str, q: float, key: Any = k) -> float:
            return pct.get((key, c, q), float("nan"))

        out.append(OpsWindow(lab, n, dur, rps, tps, p("latency_ms", 50.0), p("latency_ms", 95.0), p("ttft_ms", 50.0),
                             p("ttft_ms", 95.0), p("tpot_ms", 50.0), p("tpot_ms", 95.0)))
    return out


def _mark_text(df: Any, prof: Profile, kinds: dict[str, str], max_categories: int = 1000) -> None:
    """String columns the profile does not know are free text, not extra features, when they have more than
    ``max_categories`` distinct values (as :meth:`drift.Schema.infer` decides); one approximate count."""
    from pyspark.sql import functions as F

    known = {f.name for f in prof.features}
    unknown = [c for c, k in kinds.items() if k == "categorical" and c not in known]
    if not unknown or not prof.schema_inferred:
        return
    row = df.agg(*[F.approx_count_distinct(F.col(c)).alias(c) for c in unknown]).first()
    for c in unknown:
        if row[c] > max_categories:
            kinds[c] = "text"


__all__ = ["FAST_JVM_OPTIONS", "check_java", "compute_stats", "read_current", "run_report_spark", "spark_features",
           "spark_kinds", "spark_session"]
