"""Drift over Parquet larger than memory: the same binned summaries, computed chunk by chunk.

Reference quantile edges are pushed down to DuckDB (``quantile_cont`` = numpy's default 'linear'
quantile), counts are accumulated over pyarrow record batches reading only the schema's columns,
so memory is bounded by the batch size. PSI and JS equal the in-memory results on the same edges;
KS is computed from a fine histogram (``ks_bins`` bins at approximate (t-digest) reference quantiles) and is a
lower bound on the exact statistic, off by at most the largest fine bin's share (reported in the
details).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from . import numeric as num
from .binning import edges_from_quantiles, histogram
from .categorical import categorical_pending
from .decision import DEFAULT_DECISION, Decision, PendingFeature, PendingTest, decide, verdict
from .errors import EmptyDataError, SchemaError
from .nulls import KSNull
from .results import CategoricalSummary, DatasetDrift, FeatureDrift, NumericSummary
from .schema import Schema

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


def _quote(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


def parquet_edges(path: PathLike, column: str, bins: int) -> np.ndarray:
    """Reference-quantile edges of ``column`` computed inside DuckDB (no full load into Python)."""
    return parquet_edges_many(path, [column], [bins])[(column, bins)]


def parquet_edges_many(path: PathLike, columns: list[str], bins: list[int], *,
                       approx: tuple[int, ...] = ()) -> dict[tuple[str, int], np.ndarray]:
    """Edges for every ``(column, n_bins)`` pair, in one DuckDB scan of the Parquet input.

    Bin counts listed in ``approx`` use DuckDB's t-digest ``approx_quantile``: exact quantiles for
    ~1000 cut points cost DuckDB one selection per cut point, and the fine KS histogram only needs
    fine edges, not exact quantiles (its error bound is the largest bin share, measured anyway).
    """
    import duckdb

    if not columns:
        return {}
    con = duckdb.connect()
    row: list[Any] = []
    try:
        # One column per query: DuckDB then holds a single column's values for the exact quantiles.
        for col in columns:
            c = _quote(col)
            keep = f"FILTER (WHERE isfinite({c}::DOUBLE))"
            selects = []
            for b in bins:
                qs = ", ".join(repr(float(q)) for q in np.linspace(0.0, 1.0, b + 1)[1:-1])
                fn = "approx_quantile" if b in approx else "quantile_cont"
                selects.append(f"{fn}({c}, [{qs}]) {keep}")
            selects += [f"min({c}) {keep}", f"count({c}) {keep}"]
            got = con.execute(f"SELECT {', '.join(selects)} FROM read_parquet(?)", [os.fspath(path)]).fetchone()
            assert got is not None
            row.extend(got)
    except duckdb.BinderException as exc:
        raise SchemaError(f"{os.fspath(path)}: {exc}; check the schema's numeric column names") from exc
    finally:
        con.close()
    assert row is not None
    out: dict[tuple[str, int], np.ndarray] = {}
    per = len(bins) + 2
    for i, col in enumerate(columns):
        vals = row[i * per:(i + 1) * per]
        if not vals[-1]:
            raise EmptyDataError(f"reference column {col!r} in {os.fspath(path)} has no finite values; "
                                 f"fix its logging or drop it from the schema")
        for j, b in enumerate(bins):
            out[(col, b)] = edges_from_quantiles(np.asarray(vals[j], dtype=np.float64), float(vals[-2]))
    return out


def parquet_schema(path: PathLike, *, exclude: set[str] | frozenset[str] = frozenset()) -> Schema:
    """Feature schema from Parquet column types: numbers are numeric; strings, dictionaries and
    booleans categorical; other types (timestamps, lists) are left out."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    numeric, categorical = [], []
    for f in ds.dataset(os.fspath(path), format="parquet").schema:
        if f.name in exclude or f.name.startswith("__index_level"):
            continue
        t = f.type
        if pa.types.is_boolean(t) or pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_dictionary(t):
            categorical.append(f.name)
        elif pa.types.is_integer(t) or pa.types.is_floating(t):
            numeric.append(f.name)
    return Schema(tuple(numeric), tuple(categorical))


def check_columns(path: PathLike, columns: list[str]) -> None:
    """Raise :class:`SchemaError` naming the columns missing from a Parquet input (reads metadata only)."""
    import pyarrow.dataset as ds

    names = ds.dataset(os.fspath(path), format="parquet").schema.names
    missing = [c for c in columns if c not in names]
    if missing:
        raise SchemaError(f"{os.fspath(path)} lacks schema column(s) {missing}; present: {names[:20]}")


def iter_batches(path: PathLike, columns: list[str], batch_size: int = 131_072) -> Iterator[Any]:
    """Yield pyarrow RecordBatches of ``columns`` from a Parquet file or a folder of them.

    ``ParquetFile.iter_batches`` streams pages inside a row group, so memory stays at about one
    batch even when a file was written as a single huge row group.
    """
    import pyarrow.parquet as pq

    check_columns(path, columns)
    p = Path(os.fspath(path))
    files = sorted(p.rglob("*.parquet")) if p.is_dir() else [p]
    for f in files:
        # buffer_size streams each column chunk page by page instead of reading it whole.
        with pq.ParquetFile(f, buffer_size=1 << 20, pre_buffer=False) as pf:
            yield from pf.iter_batches(batch_size=batch_size, columns=columns, use_threads=False)


def summarize_parquet(path: PathLike, schema: Schema, edges: dict[str, np.ndarray], *,
                      batch_size: int = 262_144) -> dict[str, NumericSummary | CategoricalSummary]:
    """Histogram (on ``edges``) of each numeric column and counts of each categorical column,
    accumulated batch by batch."""
    return _accumulate(path, schema, [edges], batch_size)[0]


def _accumulate(path: PathLike, schema: Schema, edge_sets: list[dict[str, np.ndarray]],
                batch_size: int) -> list[dict[str, NumericSummary | CategoricalSummary]]:
    """One pass over the file filling histograms for several edge sets (categorical counts go to
    the first set only)."""
    import pyarrow.compute as pc

    counts = [{c: np.zeros(len(es[c]) - 1, dtype=np.int64) for c in es} for es in edge_sets]
    dropped = {c: [0, 0, 0] for c in schema.numeric}
    cats: dict[str, dict[str, int]] = {c: {} for c in schema.categorical}
    missing = {c: 0 for c in schema.categorical}
    for batch in iter_batches(path, list(schema.numeric + schema.categorical), batch_size):
        for c in schema.numeric:
            arr = batch.column(c).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
            fin = np.isfinite(arr)
            # One sort per batch, then every edge set is a binary search of its few edges.
            finite = np.sort(arr if fin.all() else arr[fin])
            for k, es in enumerate(edge_sets):
                if c in es:
                    counts[k][c] += histogram(finite, es[c], presorted=True)
            if finite.size != arr.size:
                dropped[c][0] += int(np.isnan(arr).sum())
                dropped[c][1] += int(np.isposinf(arr).sum())
                dropped[c][2] += int(np.isneginf(arr).sum())
        for c in schema.categorical:
            col = batch.column(c)
            missing[c] += col.null_count
            vc = pc.value_counts(col.drop_null())
            for key, n in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True):
                label = str(key)
                cats[c][label] = cats[c].get(label, 0) + int(n)
    results: list[dict[str, NumericSummary | CategoricalSummary]] = []
    for k, es in enumerate(edge_sets):
        out: dict[str, NumericSummary | CategoricalSummary] = {
            c: NumericSummary(tuple(es[c].tolist()), tuple(counts[k][c].tolist()), *dropped[c]) for c in es}
        if k == 0:
            out.update({c: CategoricalSummary(cats[c], missing[c]) for c in schema.categorical})
        results.append(out)
    return results


def drift_parquet(reference: PathLike, current: PathLike, schema: Schema, *, bins: int = 10, ks_bins: int = 1000,
                  decision: Decision = DEFAULT_DECISION, share_threshold: float | None = None,
                  batch_size: int = 131_072) -> DatasetDrift:
    """Dataset drift of two Parquet inputs in bounded memory (numeric and categorical columns).

    Same defaults and verdict as :class:`drift.DatasetDriftDetector`; KS comes from the fine
    histogram (see module docstring). Memory: a few record batches, plus one reference column's
    values inside DuckDB while its exact quantile edges are computed (8 bytes per row).
    """
    if schema.embedding:
        raise SchemaError(f"chunked drift does not handle embedding columns {list(schema.embedding)}; "
                          f"score them in memory with EmbeddingDriftDetector")
    for path in (reference, current):  # fail on a missing column before any work
        check_columns(path, list(schema.columns))
    both = parquet_edges_many(reference, list(schema.numeric), [bins, ks_bins],
                              approx=(ks_bins,) if ks_bins != bins else ())
    edges = {c: both[(c, bins)] for c in schema.numeric}
    fine = {c: both[(c, ks_bins)] for c in schema.numeric}
    ref, ref_fine = _accumulate(reference, schema, [edges, fine], batch_size)
    cur, cur_fine = _accumulate(current, schema, [edges, fine], batch_size)
    features: list[PendingFeature] = []
    for c in schema.numeric:
        r, k = ref[c], cur[c]
        assert isinstance(r, NumericSummary) and isinstance(k, NumericSummary)
        dropped = {"nan": k.n_nan, "posinf": k.n_posinf, "neginf": k.n_neginf}
        if k.n == 0:
            features.append(PendingFeature(FeatureDrift(c, "numeric", "skipped", False, "psi", (), r.n, 0, dropped,
                                                        reason="no finite current values", reference_summary=r)))
            continue
        binned, _ = num.binned_pending(r.counts, k.counts, ("psi", "js"), binning="reference-quantiles",
                                    decision=decision, column=c)
        ks = num.ks_statistic_from_counts(ref_fine[c].counts, cur_fine[c].counts)  # type: ignore[union-attr]
        ks_null = KSNull(float(ks.pvalue or 0.0), r.n * k.n / (r.n + k.n), exact=False)
        tests: tuple[PendingTest, ...] = (binned["psi"], PendingTest(ks, ks.statistic, ks_null), binned["js"])
        features.append(PendingFeature(FeatureDrift(c, "numeric", "ok", False, "psi", (), r.n, k.n, dropped,
                                                    reference_summary=r, current_summary=k), tests, len(r.counts) - 1))
    for c in schema.categorical:
        r, k = ref[c], cur[c]
        assert isinstance(r, CategoricalSummary) and isinstance(k, CategoricalSummary)
        if k.n == 0:
            features.append(PendingFeature(FeatureDrift(c, "categorical", "skipped", False, "psi", (), r.n, 0,
                                                        {"missing": k.n_missing}, reason="all current values missing",
                                                        reference_summary=r)))
            continue
        tests, _ = categorical_pending(r, k, ("psi", "js", "chi2"), decision=decision, column=c)
        features.append(PendingFeature(FeatureDrift(c, "categorical", "ok", False, "psi", (), r.n, k.n,
                                                    {"missing": k.n_missing}, reference_summary=r, current_summary=k),
                                       tests, max(len(r.counts) - 1, 1)))
    decided = decide([features], decision)[0]
    n_ref = max((s.n + _dropped(s) for s in ref.values()), default=0)
    n_cur = max((s.n + _dropped(s) for s in cur.values()), default=0)
    notes = [w for f in decided for w in f.warnings]
    return verdict(decided, decision, share_threshold=share_threshold, n_reference_rows=n_ref, n_current_rows=n_cur,
                   notes=notes)


def _dropped(s: NumericSummary | CategoricalSummary) -> int:
    if isinstance(s, NumericSummary):
        return s.n_nan + s.n_posinf + s.n_neginf
    return s.n_missing
