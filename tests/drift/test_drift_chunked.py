"""Chunked Parquet computation gives the same summaries as the in-memory path."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

import drift
from drift.chunked import parquet_edges

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("duckdb")


@pytest.fixture
def parquet_pair(tmp_path):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(11)
    n = 30_000

    def frame(shift: float) -> pd.DataFrame:
        x = rng.normal(shift, 1, n)
        x[rng.choice(n, 50, replace=False)] = np.nan
        x[:3] = np.inf
        return pd.DataFrame({"x": x, "y": rng.exponential(1 + shift, n),
                             "topic": pd.array(rng.choice(["a", "b", "c", None], n, p=[.5, .3, .15, .05]) if shift == 0
                                               else rng.choice(["a", "b", "d", None], n, p=[.4, .3, .25, .05]),
                                               dtype="object")})
    ref, cur = frame(0.0), frame(0.3)
    # Small row groups and batches force many chunks.
    pq.write_table(pa.Table.from_pandas(ref, preserve_index=False), tmp_path / "ref.parquet", row_group_size=4000)
    pq.write_table(pa.Table.from_pandas(cur, preserve_index=False), tmp_path / "cur.parquet", row_group_size=4000)
    return tmp_path / "ref.parquet", tmp_path / "cur.parquet", ref, cur


def test_duckdb_edges_equal_numpy_quantiles(parquet_pair) -> None:
    ref_path, _, ref, _ = parquet_pair
    x = ref["x"].to_numpy()
    np.testing.assert_allclose(parquet_edges(ref_path, "x", 10), drift.NumericDriftDetector("x").fit(x).edges_,
                               rtol=1e-12)


def test_chunked_equals_in_memory(parquet_pair) -> None:
    ref_path, cur_path, ref, cur = parquet_pair
    schema = drift.Schema(numeric=["x", "y"], categorical=["topic"])
    chunked = drift.drift_parquet(ref_path, cur_path, schema, batch_size=1000)
    memory = drift.DatasetDriftDetector(schema).fit(ref).score(cur)
    for col in ("x", "y"):
        c, m = chunked.feature(col), memory.feature(col)
        # Same counts on (numerically) the same edges, hence the same PSI and JS.
        assert c.current_summary.counts == m.current_summary.counts
        assert c.reference_summary.counts == m.reference_summary.counts
        assert c.dropped == m.dropped
        assert c.test("psi").statistic == pytest.approx(m.test("psi").statistic, rel=1e-12)
        assert c.test("js").statistic == pytest.approx(m.test("js").statistic, rel=1e-12)
        exact = ks_2samp(ref[col][np.isfinite(ref[col])], cur[col][np.isfinite(cur[col])])
        approx = c.test("ks")
        assert approx.statistic <= exact.statistic + 1e-12
        assert exact.statistic - approx.statistic <= approx.details["max_bin_share"]
    t_c, t_m = chunked.feature("topic"), memory.feature("topic")
    assert dict(t_c.current_summary.counts) == dict(t_m.current_summary.counts)
    assert t_c.current_summary.n_missing == t_m.current_summary.n_missing
    for method in ("psi", "js", "chi2"):
        assert t_c.test(method).statistic == pytest.approx(t_m.test(method).statistic, rel=1e-12)
    assert chunked.drifted == memory.drifted and chunked.n_drifted == memory.n_drifted


def test_missing_parquet_column_names_it(parquet_pair) -> None:
    ref_path, cur_path, _, _ = parquet_pair
    with pytest.raises(drift.SchemaError, match="'nope'"):
        drift.drift_parquet(ref_path, cur_path, drift.Schema(numeric=["x"], categorical=["nope"]))
