"""The scheduled drift report: compare two inputs, optionally per window, and write a
self-contained HTML page (inline SVG, no scripts) plus a JSON summary."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from . import svg
from .concept import ConceptWindow, concept_drift
from .config import DriftConfig
from .detectors import DatasetDriftDetector, EmbeddingDriftDetector, Thresholds
from .errors import LowPowerWarning, SchemaError
from .features import feature_schema
from .io import load_frame, prepare
from .results import CategoricalSummary, DatasetDrift, FeatureDrift, NumericSummary, _jsonable
from .schema import Schema
from .windows import OpsWindow, Window, WindowDrift, drift_over_time, ops_panel, split_windows

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_DRIFT, EXIT_ERROR = 0, 1, 2
_NOT_FEATURES = {"timestamp", "label", "trace_id", "span_id", "session_id", "user_id", "prompt", "response"}


@dataclass(frozen=True)
class Report:
    """Everything the report shows; ``exit_code`` is 1 when the dataset drifted or the labelled
    pass rate changed significantly, else 0."""

    verdict: DatasetDrift
    windows: tuple[WindowDrift, ...]
    ops: tuple[OpsWindow, ...]
    concept: tuple[ConceptWindow, ...]
    concept_overall: ConceptWindow | None
    config: DriftConfig
    reference_name: str
    current_name: str
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def concept_changed(self) -> bool:
        """True when the overall labelled pass rate differs significantly from the reference."""
        c = self.concept_overall
        return bool(c and c.pass_rate and c.pass_rate.changed)

    @property
    def exit_code(self) -> int:
        """0 no drift, 1 drift (data or labelled quality)."""
        return EXIT_DRIFT if self.verdict.drifted or self.concept_changed else EXIT_OK


def _schema(config: DriftConfig, ref: Any, cur: Any) -> Schema:
    if config.numeric is not None or config.categorical is not None:
        return Schema(tuple(config.numeric or ()), tuple(config.categorical or ()))
    if "prompt_chars" in ref.columns:
        return feature_schema(ref)
    inferred = Schema.infer(ref, exclude=_NOT_FEATURES | {config.time_column, config.label_column})
    other = Schema.infer(cur, exclude=_NOT_FEATURES | {config.time_column, config.label_column})
    for kind in ("numeric", "categorical"):
        a, b = set(getattr(inferred, kind)), set(getattr(other, kind))
        if a != b:
            diff = sorted(a ^ b)
            raise SchemaError(f"reference and current disagree on {kind} columns {diff}; "
                              f"make the types match or list the columns in a config file")
    return inferred


def _embedding_features(config: DriftConfig, ref: Any, cur: Any) -> list[FeatureDrift]:
    if not config.embed_text:
        return []
    from .text_embedder import TextEmbedder

    embedder = TextEmbedder()
    out = []
    for col in config.embed_text:
        for which, frame in (("reference", ref), ("current", cur)):
            if col not in frame.columns:
                raise SchemaError(f"embed_text column {col!r} is missing from the {which} data; "
                                  f"remove it from the config or log it")
        r = ref[col].dropna().sample(min(config.max_embed_rows, ref[col].notna().sum()), random_state=0)
        c = cur[col].dropna().sample(min(config.max_embed_rows, cur[col].notna().sum()), random_state=0)
        det = EmbeddingDriftDetector(f"{col}_embedding", thresholds=Thresholds(**config.thresholds.model_dump()))
        out.append(det.fit(embedder.embed(r.tolist())).score(embedder.embed(c.tolist())))
    return out


def _merge(verdict: DatasetDrift, extra: list[FeatureDrift]) -> DatasetDrift:
    if not extra:
        return verdict
    feats = verdict.features + tuple(extra)
    scored = [f for f in feats if f.status == "ok"]
    n_drifted = sum(f.drifted for f in scored)
    share = n_drifted / len(scored) if scored else 0.0
    return dataclasses.replace(verdict, features=feats, n_features=len(scored), n_drifted=n_drifted,
                               drift_share=share, drifted=bool(scored) and share >= verdict.share_threshold)


def run_report(reference: Any, current: Any, config: DriftConfig | None = None, *,
               window: str | None = None) -> Report:
    """Load, prepare and compare ``reference`` and ``current`` (paths, ``phoenix://`` URLs or
    DataFrames); ``window`` (or ``config.window``) adds per-window drift, ops and concept panels."""
    config = config or DriftConfig()
    window = window or config.window
    ref = prepare(load_frame(reference))
    cur = prepare(load_frame(current))
    schema = _schema(config, ref, cur)
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LowPowerWarning)
        detector = DatasetDriftDetector(schema, bins=config.bins, share_threshold=config.share_threshold,
                                        thresholds=Thresholds(**config.thresholds.model_dump()),
                                        primary=config.primary).fit(ref)
        verdict = _merge(detector.score(cur), _embedding_features(config, ref, cur))
        wins: list[Window] = []
        per_window: list[WindowDrift] = []
        if window:
            wins = split_windows(cur, window, time_column=config.time_column)
            per_window = drift_over_time(detector, cur, window, time_column=config.time_column)
    notes.extend(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, LowPowerWarning)))
    for w in caught:  # low-power notes go into the report; anything else is passed on unchanged
        if not issubclass(w.category, LowPowerWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    whole = _whole_window(cur, config.time_column)
    ops = ops_panel(wins or [whole], time_column=config.time_column)
    concept: list[ConceptWindow] = []
    overall = None
    if config.label_column in cur.columns and config.label_column in ref.columns:
        kw: dict[str, Any] = {"label_col": config.label_column, "score_col": config.judge_score_column,
                              "pass_threshold": config.judge_pass_threshold}
        overall = concept_drift(ref, [whole], **kw)[0]
        concept = concept_drift(ref, wins, **kw) if wins else []
    return Report(verdict, tuple(per_window), tuple(ops), tuple(concept), overall, config, _name(reference),
                  _name(current), tuple(notes))


def _whole_window(frame: Any, time_column: str) -> Window:
    if time_column in frame.columns and frame[time_column].notna().any():
        return Window("all", frame[time_column].min(), frame[time_column].max(), frame)
    return Window("all", None, None, frame)


def run_report_parquet(reference: str, current: str, config: DriftConfig | None = None) -> Report:
    """Bounded-memory report of two Parquet inputs (:func:`drift.drift_parquet`): the same verdict,
    table and histograms; no windows, operations or label panels (those need rows in memory).
    Columns come from the config, else from the Parquet schema (numbers numeric, strings and
    booleans categorical)."""
    from .chunked import drift_parquet, parquet_schema

    config = config or DriftConfig()
    if config.numeric is not None or config.categorical is not None:
        schema = Schema(tuple(config.numeric or ()), tuple(config.categorical or ()))
    else:
        skip = _NOT_FEATURES | {config.time_column, config.label_column}
        schema = parquet_schema(reference, exclude=skip)
        other = parquet_schema(current, exclude=skip)
        if schema != other:
            raise SchemaError(f"reference and current Parquet schemas differ: {schema} vs {other}; "
                              f"make the types match or list the columns in a config file")
    verdict = drift_parquet(reference, current, schema, bins=config.bins, share_threshold=config.share_threshold,
                            thresholds=Thresholds(**config.thresholds.model_dump()))
    note = "chunked Parquet mode: KS from a 1000-bin histogram; no windows, operations or label panels"
    return Report(verdict, (), (), (), None, config, reference, current, (note,))


def _name(source: Any) -> str:
    return source if isinstance(source, str) else (str(source) if hasattr(source, "__fspath__") else "<DataFrame>")


# ---------------------------------------------------------------- JSON

def summary_dict(report: Report) -> dict[str, Any]:
    """The JSON summary: verdict, per-feature tests, windows, ops and concept panels, exit code."""
    return _jsonable({
        "generated_at": datetime.now(UTC).isoformat(),
        "reference": report.reference_name, "current": report.current_name,
        "exit_code": report.exit_code, "drifted": report.verdict.drifted, "concept_changed": report.concept_changed,
        "dataset": report.verdict.to_dict(),
        "windows": [{"label": w.label, "n_rows": w.n_rows, "reason": w.reason,
                     "drift_share": w.result.drift_share if w.result else None,
                     "drifted": w.result.drifted if w.result else None,
                     "drifted_features": [f.column for f in w.result.features if f.drifted] if w.result else [],
                     "primary_statistic": {f.column: _primary(f) for f in w.result.features} if w.result else {}}
                    for w in report.windows],
        "ops": [dataclasses.asdict(o) for o in report.ops],
        "concept_overall": dataclasses.asdict(report.concept_overall) if report.concept_overall else None,
        "concept": [dataclasses.asdict(c) for c in report.concept],
        "warnings": list(report.warnings) + list(report.verdict.warnings),
        "config": report.config.model_dump(),
    })


def _primary(f: FeatureDrift) -> float | None:
    if f.status != "ok" or f.primary is None:
        return None
    r = f.test(f.primary) if any(t.method == f.primary for t in f.tests) else f.tests[0]
    return r.pvalue if r.pvalue is not None and r.method != "psi" else r.statistic


# ---------------------------------------------------------------- HTML

_CSS = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1200px;color:#222}
.verdict{padding:14px 18px;border-radius:6px;font-size:20px;font-weight:600;margin-bottom:16px}
.drift{background:#fde2e1;border:1px solid #e45756}.ok{background:#e3f4e1;border:1px solid #54a24b}
table{border-collapse:collapse;font-size:13px;margin:8px 0 18px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}tr.d td{background:#fff1f0}.grid{display:flex;flex-wrap:wrap;gap:8px}
.note{color:#8a5a00;font-size:13px}"""


def _f(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return f"{v:.{digits}g}"
    return escape(str(v))


def _stat(f: FeatureDrift, method: str, pvalue: bool = False) -> str:
    for t in f.tests:
        if t.method == method:
            return _f(t.pvalue if pvalue else t.statistic)
    return "–"


def _hist(f: FeatureDrift) -> str:
    r, c = f.reference_summary, f.current_summary
    if isinstance(r, NumericSummary) and isinstance(c, NumericSummary):
        e = r.edges
        labels = [f"[{svg._fmt(e[i])}, {svg._fmt(e[i + 1])})" for i in range(len(e) - 1)]
        rs = np.asarray(r.counts, float) / max(r.n, 1)
        cs = np.asarray(c.counts, float) / max(c.n, 1)
        return svg.bars(labels, rs.tolist(), cs.tolist(), title=f"{f.column} (share per reference-quantile bin)")
    if isinstance(r, CategoricalSummary) and isinstance(c, CategoricalSummary):
        keys = list(dict.fromkeys([*r.counts, *c.counts]))
        keys.sort(key=lambda k: -max(r.counts.get(k, 0) / max(r.n, 1), c.counts.get(k, 0) / max(c.n, 1)))
        keys = keys[:20]
        return svg.bars(keys, [r.counts.get(k, 0) / max(r.n, 1) for k in keys],
                        [c.counts.get(k, 0) / max(c.n, 1) for k in keys], title=f"{f.column} (share per category)")
    return ""


def render_html(report: Report) -> str:
    """The self-contained HTML page: verdict first, then the per-feature table and histograms,
    windowed drift, operations and label-based quality."""
    v = report.verdict
    cls = "drift" if report.exit_code else "ok"
    head = ("DRIFT DETECTED" if v.drifted else "No dataset drift") + (
        f": {v.n_drifted} of {v.n_features} features drifted ({v.drift_share:.0%}; threshold {v.share_threshold:.0%})")
    if report.concept_changed:
        head += " · labelled pass rate changed"
    out = [(f"<!doctype html><html><head><meta charset='utf-8'><title>Drift report</title><style>{_CSS}</style>"
            f"</head><body><div class='verdict {cls}' id='verdict'>{escape(head)}</div>"),
           (f"<p>Reference <code>{escape(report.reference_name)}</code> ({v.n_reference_rows} rows) vs current "
           f"<code>{escape(report.current_name)}</code> ({v.n_current_rows} rows). Primary test: "
           f"{escape(report.config.primary)}; PSI ≥ {report.config.thresholds.psi}, JS ≥ {report.config.thresholds.js}, "
           f"p &lt; {report.config.thresholds.ks} (KS), p &lt; {report.config.thresholds.chi2} (χ²). "
           f"Exit code {report.exit_code}.</p>")]
    out.append("<h2>Features</h2><table id='features'><tr><th class=l>column</th><th class=l>kind</th><th>drift</th>"
               "<th>PSI</th><th>KS D</th><th>KS p</th><th>JS</th><th>χ² p</th><th>MMD p</th><th>n ref</th><th>n cur</th>"
               "<th class=l>dropped / notes</th></tr>")
    order = sorted(v.features, key=lambda f: (not f.drifted, f.status != "ok"))
    for f in order:
        dropped = ", ".join(f"{k} {n}" for k, n in f.dropped.items() if n)
        notes = "; ".join([dropped, *(f.reason and [f.reason] or []), *f.warnings])
        out.append(f"<tr class='{'d' if f.drifted else ''}'><td class=l>{escape(f.column)}</td><td class=l>{f.kind}</td>"
                   f"<td>{'DRIFT' if f.drifted else ('skipped' if f.status != 'ok' else 'ok')}</td>"
                   f"<td>{_stat(f, 'psi')}</td><td>{_stat(f, 'ks')}</td><td>{_stat(f, 'ks', True)}</td>"
                   f"<td>{_stat(f, 'js')}</td><td>{_stat(f, 'chi2', True)}</td><td>{_stat(f, 'mmd', True)}</td>"
                   f"<td>{f.n_reference}</td><td>{f.n_current}</td><td class=l>{escape(notes.strip('; '))}</td></tr>")
    out.append("</table><h2>Reference vs current</h2><div class='grid' id='histograms'>")
    out.extend(_hist(f) for f in order if f.status == "ok")
    out.append("</div>")
    if report.windows:
        labels = [w.label for w in report.windows]
        share = [w.result.drift_share if w.result else float("nan") for w in report.windows]
        out.append("<h2>Drift over time</h2>")
        out.append(svg.lines(labels, {"drifted share": share}, title="share of drifted features per window",
                             hline=v.share_threshold))
        top = [f.column for f in order if f.status == "ok" and f.kind != "embedding"][:8]
        psi_series = {c: [_psi(w, c) for w in report.windows] for c in top}
        out.append(svg.lines(labels, psi_series, title="PSI per window (top features)", hline=report.config.thresholds.psi))
        empty = [w.label + (f" ({w.reason})" if w.reason else "") for w in report.windows if w.result is None]
        if empty:
            out.append(f"<p class=note>Windows without a result: {escape('; '.join(empty))}</p>")
    out.append(_ops_html(report.ops))
    out.append(_concept_html(report))
    all_notes = list(report.warnings) + list(v.warnings)
    if all_notes:
        out.append("<h2>Warnings</h2><ul>" + "".join(f"<li class=note>{escape(n)}</li>" for n in dict.fromkeys(all_notes))
                   + "</ul>")
    out.append("<h2>Method</h2><p>Numeric features: bins at reference deciles with open outer bins; empty bins "
               "filled as in Evidently (1e-4, or min share/1e6); NaN and ±inf are dropped and counted. KS is scipy's "
               "ks_2samp on the raw values. Categorical: unseen categories are included with eps in PSI; χ² is the "
               "2×K test of homogeneity. See docs/drift.md.</p></body></html>")
    return "".join(out)


def _psi(w: WindowDrift, column: str) -> float:
    if w.result is None:
        return float("nan")
    f = w.result.feature(column)
    return next((t.statistic for t in f.tests if t.method == "psi"), float("nan"))


def _ops_html(ops: tuple[OpsWindow, ...]) -> str:
    if not ops:
        return ""
    rows = "".join(f"<tr><td class=l>{escape(o.label)}</td><td>{o.n_requests}</td><td>{_f(o.requests_per_s)}</td>"
                   f"<td>{_f(o.tokens_per_s)}</td><td>{_f(o.latency_p50)}</td><td>{_f(o.latency_p95)}</td>"
                   f"<td>{_f(o.ttft_p50)}</td><td>{_f(o.ttft_p95)}</td><td>{_f(o.tpot_p50)}</td><td>{_f(o.tpot_p95)}</td></tr>"
                   for o in ops)
    html = ("<h2>Operations</h2><table id='ops'><tr><th class=l>window</th><th>requests</th><th>req/s</th><th>tokens/s</th>"
            "<th>latency p50 ms</th><th>p95</th><th>TTFT p50</th><th>p95</th><th>TPOT p50</th><th>p95</th></tr>" + rows + "</table>")
    if len(ops) > 1:
        labels = [o.label for o in ops]
        html += svg.lines(labels, {"latency p50": [o.latency_p50 for o in ops], "latency p95": [o.latency_p95 for o in ops],
                                   "TTFT p95": [o.ttft_p95 for o in ops]}, title="latency (ms) per window")
        html += svg.lines(labels, {"requests/s": [o.requests_per_s for o in ops], "tokens/s": [o.tokens_per_s for o in ops]},
                          title="throughput per window")
    return html


def _concept_html(report: Report) -> str:
    rows = ([report.concept_overall] if report.concept_overall else []) + list(report.concept)
    if not rows:
        return ""

    def cell(p: Any) -> str:
        if p is None:
            return "<td>–</td>"
        flag = " (changed)" if p.changed else ""
        return f"<td>{p.value:.3f} [{p.ci_low:.3f}, {p.ci_high:.3f}] p={p.pvalue:.3g}{flag}</td>"

    body = "".join(f"<tr><td class=l>{escape(c.label)}</td><td>{c.n_labeled}</td>{cell(c.pass_rate)}{cell(c.accuracy)}"
                   f"{cell(c.precision)}{cell(c.recall)}</tr>" for c in rows)
    html = ("<h2>Quality from labels (concept drift)</h2><p>Wilson 95% CIs; p-value of a two-proportion z-test "
            "against the reference.</p><table id='concept'><tr><th class=l>window</th><th>labelled</th><th>pass rate</th>"
            "<th>judge accuracy</th><th>precision</th><th>recall</th></tr>" + body + "</table>")
    if report.concept:
        html += svg.lines([c.label for c in report.concept],
                          {"pass rate": [c.pass_rate.value if c.pass_rate else float("nan") for c in report.concept],
                           "judge accuracy": [c.accuracy.value if c.accuracy else float("nan") for c in report.concept]},
                          title="labelled quality per window")
    return html


def write_report(report: Report, out_dir: str | Path) -> dict[str, Path]:
    """Write ``report.html`` and ``summary.json`` into ``out_dir`` (created if needed)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    html, js = out / "report.html", out / "summary.json"
    html.write_text(render_html(report), encoding="utf-8")
    js.write_text(json.dumps(summary_dict(report), indent=2), encoding="utf-8")
    return {"html": html, "json": js}
