"""The reference profile: save/load, exact KS from value counts, schema checks, and the report run from a stored
profile giving the same numbers as the report run from the reference data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

import drift
from drift.cli import main
from drift.config import DriftConfig
from drift.errors import InputFormatError, SchemaError
from drift.profile import KS_HIST_BINS, Profile, ks_from_value_counts, ks_reference, value_counts_sorted
from drift.report import fit_profile, run_report, summary_dict
from drift.spark_backend import _np_percentile, _ops_ranks


def _vc(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return value_counts_sorted(np.sort(x))


@pytest.mark.parametrize("n1,n2", [(300, 250), (9000, 10_000), (30_000, 12_000)])
@pytest.mark.parametrize("kind", ["continuous", "ties", "few"])
def test_ks_from_value_counts_equals_scipy(kind: str, n1: int, n2: int) -> None:
    rng = np.random.default_rng(n1 + n2)
    if kind == "continuous":
        a, b = rng.normal(0, 1, n1), rng.normal(0.05, 1.1, n2)
    elif kind == "ties":
        a, b = rng.integers(0, 40, n1).astype(float), rng.integers(1, 41, n2).astype(float)
    else:
        a, b = rng.choice([0.0, 1.0, 2.5], n1, p=[0.5, 0.3, 0.2]), rng.choice([0.0, 1.0, 2.5], n2, p=[0.45, 0.35, 0.2])
    expected = ks_2samp(a, b)
    d, p = ks_from_value_counts(*_vc(a), *_vc(b))
    assert (d, p) == (float(expected.statistic), float(expected.pvalue))  # bit for bit


def test_ks_reference_keeps_value_counts_or_a_fine_histogram() -> None:
    x = np.sort(np.random.default_rng(0).normal(size=50_000))
    exact = ks_reference(x, max_distinct=None)
    assert exact.kind == "values" and exact.n == x.size and exact.values.size == 50_000
    hist = ks_reference(x, max_distinct=1000)
    assert hist.kind == "histogram" and hist.counts.size == KS_HIST_BINS and hist.n == x.size
    assert hist.values.size == hist.counts.size + 1 and np.isneginf(hist.values[0]) and np.isposinf(hist.values[-1])


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(shift, 1, n), "ties": rng.integers(0, 15, n).astype(float),
                         "topic": rng.choice(["a", "b", "c"] + (["new"] if shift else []), n)})


def test_profile_round_trip_is_small_and_exact(tmp_path: Path) -> None:
    ref = _frame(5000, 1)
    det = drift.DatasetDriftDetector(drift.Schema(("x", "ties"), ("topic",))).fit(ref)
    prof = det.to_profile(source="ref.parquet", time_range=("2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00"))
    path = prof.save(tmp_path / "p.json")
    raw = json.loads(Path(path).read_text())
    assert raw["schema_version"] == 1 and raw["source"] == "ref.parquet" and raw["n_rows"] == 5000
    assert Path(path).stat().st_size < 200_000  # 5000 distinct x values (16 bytes each, base64) dominate
    back = Profile.load(path)
    assert back.time_range == prof.time_range and back.schema == det.schema
    for f, g in zip(prof.features, back.features, strict=True):
        assert (f.name, f.kind, f.n_reference) == (g.name, g.kind, g.n_reference)
        if f.kind == "numeric":
            assert f.numeric.edges == g.numeric.edges and f.numeric.counts == g.numeric.counts  # type: ignore[union-attr]
            np.testing.assert_array_equal(f.ks.values, g.ks.values)  # type: ignore[union-attr]
        else:
            assert list(f.categorical.counts.items()) == list(g.categorical.counts.items())  # type: ignore[union-attr]
    # Scoring from the loaded profile gives the in-memory detector's numbers exactly (including exact KS).
    cur = _frame(4000, 2, shift=0.1)
    a = det.score(cur)
    b = drift.DatasetDriftDetector.from_profile(back).score(cur)
    assert [t.to_dict() for f in a.features for t in f.tests] == [t.to_dict() for f in b.features for t in f.tests]
    assert b.feature("x").test("ks").statistic == ks_2samp(ref["x"], cur["x"]).statistic


def test_profile_over_the_distinct_cap_uses_the_histogram_bound(tmp_path: Path) -> None:
    ref, cur = _frame(20_000, 3), _frame(15_000, 4, shift=0.05)
    det = drift.DatasetDriftDetector(drift.Schema(("x",), ())).fit(ref)
    prof = Profile.load(det.to_profile(ks_max_distinct=1000).save(tmp_path / "p.json"))
    assert prof.feature("x").ks.kind == "histogram"  # type: ignore[union-attr]
    ks = drift.DatasetDriftDetector.from_profile(prof).score(cur).feature("x").test("ks")
    exact = ks_2samp(ref["x"], cur["x"]).statistic
    assert ks.details["method"] == "histogram-asymp"
    assert exact - ks.details["max_bin_share"] <= ks.statistic <= exact + 1e-12  # a lower bound within a bin


def test_report_from_a_stored_profile_equals_the_report_from_the_reference(log_files, tmp_path: Path) -> None:
    ref, _, shifted = log_files
    cfg = DriftConfig()
    prof = fit_profile(ref, cfg)
    assert prof.time_range is not None and prof.concept is not None and prof.source == str(ref)
    path = prof.save(tmp_path / "profile.json")
    a = summary_dict(run_report(ref, shifted, cfg, window="12h"))
    b = summary_dict(run_report(None, shifted, cfg, window="12h", profile=path))
    for s in (a, b):
        s.pop("generated_at")
    assert a == b and a["exit_code"] == 1


def test_cli_profile_then_report_matches_report_from_reference(log_files, tmp_path: Path) -> None:
    ref, same, _ = log_files
    assert main(["profile", "--reference", str(ref), "--out", str(tmp_path / "p.json"), "--quiet"]) == 0
    assert main(["report", "--profile", str(tmp_path / "p.json"), "--current", str(same), "--out",
                 str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["report", "--reference", str(ref), "--current", str(same), "--out", str(tmp_path / "b"),
                 "--save-profile", str(tmp_path / "saved.json"), "--quiet"]) == 0
    a, b = (json.loads((tmp_path / d / "summary.json").read_text()) for d in ("a", "b"))
    for s in (a, b):
        s.pop("generated_at")
    assert a == b
    assert Profile.load(tmp_path / "saved.json").schema == Profile.load(tmp_path / "p.json").schema


def test_schema_mismatch_lists_missing_extra_and_changed_features(tmp_path: Path, capsys) -> None:
    ref = _frame(500, 1)
    ref.to_parquet(tmp_path / "ref.parquet")
    path = fit_profile(tmp_path / "ref.parquet").save(tmp_path / "p.json")
    cur = _frame(500, 2).drop(columns=["ties"]).assign(topic=lambda f: np.arange(len(f)) % 3, gpu_temp=1.5)
    cur.to_parquet(tmp_path / "cur.parquet")
    with pytest.raises(SchemaError) as err:
        run_report(None, tmp_path / "cur.parquet", profile=path)
    msg = str(err.value)
    assert "missing from the current data" in msg and "'ties'" in msg
    assert "not in the profile: ['gpu_temp']" in msg
    assert "topic (categorical in the profile, numeric in the current data" in msg
    assert main(["report", "--profile", path, "--current", str(tmp_path / "cur.parquet"), "--out",
                 str(tmp_path / "o"), "--quiet"]) == 2
    assert "gpu_temp" in capsys.readouterr().err


def test_bad_profile_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFormatError, match="does not exist; write one with"):
        Profile.load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InputFormatError, match="is not JSON"):
        Profile.load(bad)
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(InputFormatError, match="is not a drift reference profile"):
        Profile.load(bad)
    good = drift.DatasetDriftDetector(drift.Schema(("x",), ())).fit(_frame(100, 1)).to_profile().to_dict()
    bad.write_text(json.dumps({**good, "schema_version": 99}))
    with pytest.raises(InputFormatError, match="schema_version 99; this version of drift reads version 1"):
        Profile.load(bad)
    del good["features"][0]["counts"]
    bad.write_text(json.dumps(good))
    with pytest.raises(InputFormatError, match="is damaged"):
        Profile.load(bad)


def test_cli_needs_exactly_one_reference_source(log_files, tmp_path: Path, capsys) -> None:
    _, same, _ = log_files
    assert main(["report", "--current", str(same), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "exactly one of --reference" in capsys.readouterr().err


@pytest.mark.parametrize("n", [1, 2, 3, 10, 57, 1000, 2501])
def test_operations_percentile_from_two_order_statistics_equals_numpy(n: int) -> None:
    v = np.sort(np.random.default_rng(n).lognormal(5, 1, n))
    for q in (0, 1, 50, 95, 99, 100):
        lo, hi = _ops_ranks(n, q)
        assert _np_percentile(v[lo], v[hi], n, q) == np.percentile(v, q)


def test_free_text_columns_are_not_extra_features(tmp_path: Path) -> None:
    # Schema.infer leaves out strings with more than 1000 distinct values; the profile check does the same.
    ref = _frame(2000, 1).assign(notes=[f"note {i}" for i in range(2000)])
    ref.to_parquet(tmp_path / "ref.parquet")
    prof = fit_profile(tmp_path / "ref.parquet")
    assert "notes" not in [f.name for f in prof.features]
    cur = _frame(1500, 2).assign(notes=[f"other {i}" for i in range(1500)])
    assert run_report(None, cur, profile=prof).verdict.n_features == 3


def test_the_profile_records_its_source_columns_and_feature_definitions(log_files, tmp_path: Path, capsys) -> None:
    ref, same, _ = log_files
    prof = Profile.load(fit_profile(ref).save(tmp_path / "p.json"))
    assert prof.source == str(ref) and {"latency_ms", "topic", "prompt"} <= set(prof.columns)
    d = prof.definitions()
    assert d["features"]["latency_ms"] == {"kind": "numeric", "dtype": "float64", "text_column": None, "bins": 10}
    assert d["features"]["topic"]["kind"] == "categorical" and d["bins"] == 10
    # profiles whose feature definitions differ are not compared: the message says what differs
    other = fit_profile(ref, DriftConfig(bins=20, numeric=["latency_ms", "ttft_ms"], categorical=["topic"]),
                        source="other week")
    assert prof.definition_differences(prof) == []
    with pytest.raises(SchemaError) as err:
        prof.check_same_definitions(other)
    msg = str(err.value)
    assert "other week" in msg and "latency_ms: bins 10 vs 20" in msg and "features only in" in msg
    assert "'model'" in msg and "bins 10 vs 20" in msg
    # nor a report whose config defines the features otherwise than the stored profile
    cfg = tmp_path / "drift.toml"
    cfg.write_text("bins = 20\n")
    assert main(["report", "--profile", str(tmp_path / "p.json"), "--current", str(same), "--out",
                 str(tmp_path / "o"), "--config", str(cfg), "--quiet"]) == 2
    assert "bins 10 in the profile, 20 in the config" in capsys.readouterr().err


@pytest.mark.parametrize("module", ["drift.profile", "drift.detectors", "drift.ks_counts", "drift"])
def test_each_drift_module_imports_alone_and_nothing_of_judges(module: str) -> None:
    import subprocess
    import sys

    code = (f"import sys, {module}; bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('judges', 'monitor', 'experiments', 'dashboard', 'pandas', 'scipy')); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
    # the profile is a floor below the detectors: it never imports them, not even lazily
    import ast

    tree = ast.parse((Path(drift.__file__).parent / "profile.py").read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "detectors" not in imported
