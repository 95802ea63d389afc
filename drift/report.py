"""The scheduled drift report: compare two inputs, optionally per window, and write a
self-contained HTML page (inline SVG, no scripts) plus a JSON summary.

Exit codes: 0 no drift, 1 drift (data or labelled quality), 2 error (also: a feature missing in the reference or
the current data that ``allow_missing`` does not list), 3 insufficient data (no drift found, but some feature had
too few values to find the stated shift)."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from . import svg
from .concept import ConceptWindow, concept_metrics, concept_windows
from .config import DriftConfig
from .decision import Decision, PendingFeature, decide, verdict
from .detectors import DatasetDriftDetector, EmbeddingDriftDetector
from .errors import ConfigError, EmptyDataError, LowPowerWarning, SchemaError
from .features import feature_schema
from .io import load_frame, prepare
from .profile import FeatureProfile, Profile
from .results import CategoricalSummary, DatasetDrift, DriftResult, FeatureDrift, NumericSummary, _jsonable
from .schema import Schema, SchemaDiff, present_features, schema_diff
from .windows import OpsWindow, Window, WindowDrift, drift_over_time, ops_panel, split_windows

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_DRIFT, EXIT_ERROR, EXIT_INSUFFICIENT = 0, 1, 2, 3
_NOT_FEATURES = {"timestamp", "label", "trace_id", "span_id", "session_id", "user_id", "prompt", "response"}


@dataclass(frozen=True)
class Report:
    """Everything the report shows; ``exit_code`` is 1 when the dataset drifted or the labelled
    pass rate changed significantly, 3 when no drift was found but some feature had insufficient data,
    else 0."""

    verdict: DatasetDrift
    windows: tuple[WindowDrift, ...]
    ops: tuple[OpsWindow, ...]
    concept: tuple[ConceptWindow, ...]
    concept_overall: ConceptWindow | None
    config: DriftConfig
    reference_name: str
    current_name: str
    warnings: tuple[str, ...] = field(default_factory=tuple)
    #: features and columns on one side only; a feature missing without being allowed makes the exit code 2
    schema: SchemaDiff = field(default_factory=SchemaDiff)

    @property
    def concept_changed(self) -> bool:
        """True when the overall labelled pass rate differs significantly from the reference."""
        c = self.concept_overall
        return bool(c and c.pass_rate and c.pass_rate.changed)

    @property
    def exit_code(self) -> int:
        """0 no drift, 1 drift (data or labelled quality), 2 a feature missing on one side and not allowed to
        be (the schema changed), 3 insufficient data."""
        if self.schema.refused:
            return EXIT_ERROR
        if self.verdict.drifted or self.concept_changed:
            return EXIT_DRIFT
        return EXIT_INSUFFICIENT if self.verdict.status == "insufficient data" else EXIT_OK


def _schema(config: DriftConfig, ref: Any, cur: Any) -> Schema:
    """The features to compare: the config's, else the LLM features, else the columns inferred on either side
    (a column on one side only is a feature missing on the other, which :func:`schema_diff` reports)."""
    if config.numeric is not None or config.categorical is not None:
        return Schema(tuple(config.numeric or ()), tuple(config.categorical or ()))
    if "prompt_chars" in ref.columns:
        return feature_schema(ref)
    skip = _NOT_FEATURES | {config.time_column, config.label_column}
    inferred, other = Schema.infer(ref, exclude=skip), Schema.infer(cur, exclude=skip)
    kinds: dict[str, dict[str, str]] = {}
    for side in (inferred, other):
        for kind in ("numeric", "categorical", "embedding"):
            for c in getattr(side, kind):
                kinds.setdefault(c, {})[kind] = kind
    changed = sorted(c for c, k in kinds.items() if len(k) > 1)
    if changed:
        raise SchemaError(f"reference and current disagree on the type of columns {changed}; "
                          f"make the types match or list the columns in a config file")
    by_kind = {kind: tuple(c for c, k in kinds.items() if kind in k) for kind in ("numeric", "categorical", "embedding")}
    return Schema(by_kind["numeric"], by_kind["categorical"], by_kind["embedding"])


def _with_columns(frame: Any, columns: Any) -> Any:
    """``frame`` with every one of ``columns`` it lacks added as all-missing (so the detectors skip it)."""
    absent = [c for c in columns if c not in frame.columns]
    if not absent:
        return frame
    frame = frame.copy()
    for c in absent:
        frame[c] = None
    return frame


def frame_kinds(frame: Any, max_categories: int = 1000) -> dict[str, str]:
    """Column name to ``"numeric"``, ``"categorical"``, ``"text"`` (strings with more than ``max_categories``
    distinct values, which :meth:`drift.Schema.infer` leaves out) or ``"other"`` (timestamps, vectors) of a pandas
    frame (for :meth:`drift.Profile.check_schema`)."""
    import pandas as pd

    out: dict[str, str] = {}
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_bool_dtype(s) or isinstance(s.dtype, pd.CategoricalDtype):
            out[col] = "categorical"
        elif pd.api.types.is_numeric_dtype(s):
            out[col] = "numeric"
        elif pd.api.types.is_datetime64_any_dtype(s):
            out[col] = "other"
        else:
            first = s.dropna().head(1)
            if len(first) and isinstance(first.iloc[0], (list, tuple, np.ndarray)):
                out[col] = "other"
            else:
                out[col] = "categorical" if s.nunique(dropna=True) <= max_categories else "text"
    return out


def feature_kinds(kinds: dict[str, str], config: DriftConfig) -> dict[str, str]:
    """``kinds`` without the columns that are never features (ids, text, time, label)."""
    skip = _NOT_FEATURES | {config.time_column, config.label_column}
    return {c: k for c, k in kinds.items() if c not in skip}


def _embed_sample(frame: Any, col: str, n: int, which: str) -> list[str]:
    if col not in frame.columns:
        raise SchemaError(f"embed_text column {col!r} is missing from the {which} data; remove it from the config or log it")
    s = frame[col].dropna()
    return s.sample(min(n, int(s.size)), random_state=0).tolist()


def _n_permutations(n_features: int, n_embed: int, decision: Decision) -> int:
    # Enough permutations that the MMD p-value can reach Holm's smallest level, alpha / (number of features).
    return max(200, math.ceil(2 * (n_features + n_embed) / decision.alpha))


def fit_profile(reference: Any, config: DriftConfig | None = None, *, schema: Schema | None = None,
                source: str | None = None, ks_max_distinct: int | None = None) -> Profile:
    """Fit the reference profile of ``reference`` (a path, ``phoenix://`` URL or DataFrame): the detectors'
    edges and counts, the KS reference, label statistics and text embeddings. ``ks_max_distinct`` (default:
    the config's; 0 keeps every distinct value) caps the distinct values kept for exact KS."""
    raw = load_frame(reference)
    return profile_frame(prepare(raw), config, schema=schema, source=source if source is not None else _name(reference),
                         ks_max_distinct=ks_max_distinct, columns=raw.columns)


def profile_frame(ref: Any, config: DriftConfig | None = None, *, schema: Schema | None = None, source: str = "",
                  ks_max_distinct: int | None = None, columns: Any = ()) -> Profile:
    """:func:`fit_profile` of an already prepared reference frame (``columns``: the raw input's, recorded)."""
    config = config or DriftConfig()
    if len(ref) == 0:
        raise EmptyDataError(f"the reference {source or '<DataFrame>'} has no rows; point --reference at logged data")
    if schema is None:
        schema = _schema(config, ref, ref)
    decision = config.to_decision()
    detector = DatasetDriftDetector(schema, bins=config.bins, share_threshold=config.share_threshold,
                                    decision=decision, primary=config.primary).fit(ref)
    time_range = None
    if config.time_column in ref.columns and ref[config.time_column].notna().any():
        t = ref[config.time_column]
        time_range = (_iso(t.min()), _iso(t.max()))
    concept = None
    if config.label_column in ref.columns:
        concept = concept_metrics(ref, config.label_column, config.judge_score_column, config.judge_pass_threshold)
    extra: list[FeatureProfile] = []
    if config.embed_text:
        from embed import TextEmbedder

        embedder = TextEmbedder()
        for col in config.embed_text:
            det = EmbeddingDriftDetector(f"{col}_embedding", decision=decision).fit(
                embedder.embed(_embed_sample(ref, col, config.max_embed_rows, "reference")))
            extra.append(FeatureProfile(det.column, "embedding", "float32", embedding=det.reference_,
                                        n_reference=det.n_reference_, text_column=col))
    cap = config.ks_max_distinct if ks_max_distinct is None else ks_max_distinct
    explicit = config.numeric is not None or config.categorical is not None
    return detector.to_profile(source=source, time_range=time_range,
                               concept=concept, schema_inferred=not explicit, ks_max_distinct=cap or None,
                               dtypes={c: str(ref[c].dtype) for c in schema.columns if c in ref.columns}, extra=extra,
                               time_column=config.time_column, label_column=config.label_column,
                               judge_score_column=config.judge_score_column,
                               judge_pass_threshold=config.judge_pass_threshold,
                               columns=tuple(str(c) for c in columns))


def _iso(t: Any) -> str:
    return t.isoformat() if hasattr(t, "isoformat") else str(t)


def run_report(reference: Any, current: Any, config: DriftConfig | None = None, *,
               window: str | None = None, profile: Profile | str | None = None) -> Report:
    """Load, prepare and compare ``reference`` and ``current`` (paths, ``phoenix://`` URLs or
    DataFrames); ``window`` (or ``config.window``) adds per-window drift, ops and concept panels.

    With ``profile`` (a :class:`drift.Profile` or its file) the reference is not read: the stored edges,
    counts and KS reference are compared with ``current`` (``reference`` may then be ``None``). Without it,
    the reference is profiled in memory (exact KS however many distinct values) and compared the same way.

    The whole-window verdict and the window series are two families, each with its false-alarm rate
    controlled at ``alpha`` (Holm over features, and over windows x features for the series)."""
    config = config or DriftConfig()
    window = window or config.window
    cur_raw = load_frame(current)
    cur = prepare(cur_raw)
    ref_raw = None
    if profile is None:
        if reference is None:
            raise ConfigError("give a reference (--reference) or a stored profile (--profile)")
        ref_raw = load_frame(reference)
        ref = prepare(ref_raw)
        schema = _schema(config, ref, cur)
        diff = schema_diff(schema.columns, present_features(ref, schema.columns), present_features(cur, schema.columns),
                           reference_columns=ref_raw.columns, current_columns=cur_raw.columns,
                           allowed=config.allow_missing)
        # a feature on one side only is compared as all-missing on the other (skipped, and named by the diff);
        # one on neither side stays absent, so a config naming a column no input has is refused as before
        either = [c for c in schema.columns if c in ref.columns or c in cur.columns]
        ref, cur = _with_columns(ref, either), _with_columns(cur, either)
        prof = profile_frame(ref, config, schema=schema, source=_name(reference), ks_max_distinct=0,
                             columns=ref_raw.columns)
    else:
        prof = Profile.load(profile) if isinstance(profile, (str, os.PathLike)) else profile
        if len(cur) == 0:
            raise EmptyDataError("the current window has no rows; widen the window or check the data source")
        check_config_definitions(prof, config)
        kinds = feature_kinds(frame_kinds(cur), config)
        prof.check_schema(kinds, where=f"current data {_name(current)}", missing_ok=True)
        feats = [*(f.name for f in prof.features if f.text_column is None), *prof.extra_features(kinds)]
        diff = schema_diff(feats, [f.name for f in prof.features if not f.skipped], present_features(cur, feats),
                           reference_columns=prof.columns, current_columns=cur_raw.columns, allowed=config.allow_missing)
        cur = _with_columns(cur, prof.schema.columns)
    report = report_from_profile(prof, cur, config, window=window,
                                 current_name=_name(current),
                                 reference_name=_name(reference) if reference is not None else prof.source)
    # corrupt log lines that were skipped on either side: named in the warnings (terminal and summary.json)
    skipped = [note for raw in (cur_raw, ref_raw if profile is None else None)
               if raw is not None and (note := raw.attrs.get("log_problems"))]
    return dataclasses.replace(report, schema=diff, warnings=(*diff.lines(), *skipped, *report.warnings))


def check_config_definitions(profile: Profile, config: DriftConfig) -> None:
    """Refuse a stored profile whose feature definitions differ from what ``config`` sets explicitly (its
    ``numeric``/``categorical`` lists, ``bins``, ``embed_text``, time/label/judge-score columns), saying what
    differs: the profile fixes the features, so such a config would otherwise be ignored in silence."""
    set_ = config.model_fields_set
    diff = []
    for kind in ("numeric", "categorical"):
        wanted = getattr(config, kind)
        have = [f.name for f in profile.features if f.kind == kind and f.text_column is None]
        if kind in set_ and wanted is not None and list(wanted) != have:
            diff.append(f"{kind} {have} in the profile, {list(wanted)} in the config")
    texts = [f.text_column for f in profile.text_embeddings]
    if "embed_text" in set_ and list(config.embed_text) != texts:
        diff.append(f"embed_text {texts} in the profile, {list(config.embed_text)} in the config")
    for key in ("bins", "time_column", "label_column", "judge_score_column", "judge_pass_threshold"):
        if key in set_ and getattr(config, key) != getattr(profile, key):
            diff.append(f"{key} {getattr(profile, key)!r} in the profile, {getattr(config, key)!r} in the config")
    if diff:
        raise SchemaError(f"the profile (from {profile.source or 'an unnamed source'}) defines its features "
                          "differently from the config: " + "; ".join(diff) + ". Refit the profile with this config "
                          "(python -m drift profile --config ...) or drop those keys from the config")


def report_from_profile(profile: Profile, cur: Any, config: DriftConfig, *, window: str | None,
                        current_name: str, reference_name: str) -> Report:
    """The report of a prepared current frame against a profile (the local engine)."""
    decision = config.to_decision()
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LowPowerWarning)
        detector = DatasetDriftDetector.from_profile(profile, share_threshold=config.share_threshold,
                                                     decision=decision, primary=config.primary)
        pending, skip_notes = detector.pending(cur)
        pending += _embedding_pending(config, profile, cur, len(pending), decision)
        features = decide([pending], decision)[0]
        verdict_ = verdict(features, decision, share_threshold=config.share_threshold,
                           n_reference_rows=profile.n_rows, n_current_rows=len(cur),
                           notes=[*skip_notes, *(w for f in features for w in f.warnings)])
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
    if profile.concept is not None and config.label_column in cur.columns:
        def metrics(w: Window) -> tuple[str, dict[str, tuple[int, int]]]:
            return w.label, concept_metrics(w.frame, config.label_column, config.judge_score_column,
                                            config.judge_pass_threshold)

        overall = concept_windows(profile.concept, [metrics(whole)])[0]
        concept = concept_windows(profile.concept, [metrics(w) for w in wins]) if wins else []
    return Report(verdict_, tuple(per_window), tuple(ops), tuple(concept), overall, config, reference_name,
                  current_name, tuple(notes))


def _embedding_pending(config: DriftConfig, profile: Profile, cur: Any, n_features: int,
                       decision: Decision) -> list[PendingFeature]:
    feats = profile.text_embeddings
    if not feats:
        return []
    from embed import TextEmbedder

    embedder = TextEmbedder()
    n_perm = _n_permutations(n_features, len(feats), decision)
    out = []
    for f in feats:
        assert f.text_column is not None
        det = EmbeddingDriftDetector.from_profile(f, n_permutations=n_perm, decision=decision)
        out.append(det.pending(embedder.embed(_embed_sample(cur, f.text_column, config.max_embed_rows, "current"))))
    return out


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
    result = drift_parquet(reference, current, schema, bins=config.bins, share_threshold=config.share_threshold,
                           decision=config.to_decision())
    note = "chunked Parquet mode: KS from a 1000-bin histogram; no windows, operations or label panels"
    return Report(result, (), (), (), None, config, reference, current, (note,))


def _name(source: Any) -> str:
    return source if isinstance(source, str) else (str(source) if hasattr(source, "__fspath__") else "<DataFrame>")


# ---------------------------------------------------------------- JSON

def summary_dict(report: Report) -> dict[str, Any]:
    """The JSON summary: verdict, per-feature tests, windows, ops and concept panels, exit code."""
    return _jsonable({
        "generated_at": datetime.now(UTC).isoformat(),
        "reference": report.reference_name, "current": report.current_name,
        "exit_code": report.exit_code, "status": report.verdict.status, "drifted": report.verdict.drifted,
        "concept_changed": report.concept_changed,
        "schema": report.schema.to_dict(),
        "dataset": report.verdict.to_dict(),
        "windows": [{"label": w.label, "n_rows": w.n_rows, "reason": w.reason,
                     "status": w.result.status if w.result else None,
                     "pvalue": w.result.pvalue if w.result else None,
                     "drift_share": w.result.drift_share if w.result else None,
                     "drifted": w.result.drifted if w.result else None,
                     "drifted_features": [f.column for f in w.result.features if f.drifted] if w.result else [],
                     "primary_statistic": {f.column: _primary(f) for f in w.result.features} if w.result else {}}
                    for w in report.windows],
        "windows_correction": "holm over windows x features" if report.config.decision.rule == "calibrated" else "none",
        "ops": [dataclasses.asdict(o) for o in report.ops],
        "concept_overall": dataclasses.asdict(report.concept_overall) if report.concept_overall else None,
        "concept": [dataclasses.asdict(c) for c in report.concept],
        "warnings": list(dict.fromkeys([*report.warnings, *report.verdict.warnings])),
        "config": report.config.model_dump(),
    })


def _primary(f: FeatureDrift) -> float | None:
    """The primary test's statistic (PSI, JS, KS D, X², MMD²) of a scored feature."""
    if not f.scored or f.primary is None or not f.tests:
        return None
    return next((t.statistic for t in f.tests if t.method == f.primary), f.tests[0].statistic)


# ---------------------------------------------------------------- HTML

_CSS = """body{font-family:system-ui,sans-serif;margin:24px;max-width:1300px;color:#222}
.verdict{padding:14px 18px;border-radius:6px;font-size:20px;font-weight:600;margin-bottom:16px}
.drift{background:#fde2e1;border:1px solid #e45756}.ok{background:#e3f4e1;border:1px solid #54a24b}
.insufficient{background:#fff4d6;border:1px solid #d9a400}
table{border-collapse:collapse;font-size:13px;margin:8px 0 18px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}tr.d td{background:#fff1f0}tr.i td{background:#fffaf0}
.grid{display:flex;flex-wrap:wrap;gap:8px}.note{color:#8a5a00;font-size:13px}"""

_STATUS = {"drift": "DRIFT", "ok": "ok", "insufficient data": "insufficient data", "skipped": "skipped"}
_NAMES = {"psi": "PSI", "js": "JS", "ks": "KS D", "chi2": "χ²", "mmd": "MMD²"}
_EFFECTS = {"psi": "PSI", "js": "JS", "ks": "D", "chi2": "w", "mmd": "MMD²"}


def _f(v: Any, digits: int = 4) -> str:
    if v is None or isinstance(v, (float, int)) and not isinstance(v, bool):
        return svg.number(v, digits)
    return escape(str(v))


def _others(f: FeatureDrift) -> str:
    """The non-primary tests, one short phrase each."""
    parts = []
    for t in f.tests:
        if t.method == f.primary:
            continue
        p = f" (p {_f(t.pvalue)})" if t.pvalue is not None else ""
        parts.append(f"{_NAMES.get(t.method, t.method)} {_f(t.statistic)}{p}{' DRIFT' if t.drifted else ''}")
    return "; ".join(parts)


def _feature_row(f: FeatureDrift, rule: str) -> str:
    dropped = ", ".join(f"{k} {n}" for k, n in f.dropped.items() if n)
    notes = "; ".join(x for x in [dropped, f.reason or "", *f.warnings] if x)
    t: DriftResult | None = next((x for x in f.tests if x.method == f.primary), None)
    cls = {"drift": "d", "insufficient data": "i"}.get(f.status, "")
    cells = [f"<td class=l>{escape(f.column)}</td><td class=l>{f.kind}</td><td class=l>{_STATUS[f.status]}</td>"]
    if t is None:
        cells.append("<td class=l>–</td>" + "<td>–</td>" * 6)
    else:
        level = t.details.get("level")
        crit = (f"{_f(t.critical_value)} (at {_f(level, 3)}, {escape(str(t.details.get('null', '')))})"
                if rule == "calibrated" else f"{_f(t.threshold)} (fixed)")
        effect = f"{_EFFECTS.get(t.method, '')} {_f(t.effect)} ≥ {_f(t.threshold)}" if rule == "calibrated" else "–"
        cells.append(f"<td class=l>{_NAMES.get(t.method, t.method)}</td><td>{_f(t.statistic)}</td><td>{crit}</td>"
                     f"<td>{_f(t.pvalue)}</td><td>{_f(t.adjusted_pvalue)}</td><td>{effect}</td>"
                     f"<td>{_f(f.power, 2)}</td>")
    cells.append(f"<td>{f.n_reference:,}</td><td>{f.n_current:,}</td><td class=l>{escape(_others(f))}</td>"
                 f"<td class=l>{escape(notes)}</td>")
    return f"<tr class='{cls}'>{''.join(cells)}</tr>"


def _hist(f: FeatureDrift) -> str:
    r, c = f.reference_summary, f.current_summary
    if isinstance(r, NumericSummary) and isinstance(c, NumericSummary):
        e = r.edges
        labels = [f"[{svg.number(e[i], 3)}, {svg.number(e[i + 1], 3)})" for i in range(len(e) - 1)]
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


def headline(report: Report) -> str:
    """The verdict in one line (the HTML banner and the CLI's first line)."""
    v = report.verdict
    d = report.config.to_decision()
    if v.status == "drift":
        top = ", ".join(f"{c} ({m} {x:.2f})" for c, m, x in v.strongest()[:3])
        head = f"DRIFT DETECTED: {v.n_drifted} of {v.n_features} features drifted" + (f", strongest {top}" if top else "")
    elif v.status == "insufficient data":
        head = (f"INSUFFICIENT DATA: no drift found, but {v.n_insufficient} of {v.n_features} features had too few "
                f"rows to find a shift of PSI {d.detectable_psi:g} with {d.power:.0%} power")
    else:
        head = f"No drift: 0 of {v.n_features} features drifted"
    if v.rule == "calibrated":
        head += f" (Holm-corrected, α = {v.alpha:g})"
    else:
        threshold = v.share_threshold if v.share_threshold is not None else 0.5
        head += f" (fixed thresholds; share {v.drift_share:.0%}, threshold {threshold:.0%})"
    if report.concept_changed:
        head += " · labelled pass rate changed"
    if report.schema.refused:
        head = (f"SCHEMA CHANGED: {len(report.schema.refused)} feature(s) missing on one side "
                f"({', '.join(report.schema.refused)}), exit 2 · {head}")
    return head


def _method_html(report: Report) -> str:
    d = report.config.to_decision()
    if d.rule == "fixed":
        t = d.thresholds
        rule = (f"Fixed rule: PSI ≥ {t.psi:g}, JS ≥ {t.js:g}, KS p &lt; {t.ks:g}, χ² p &lt; {t.chi2:g}; the dataset "
                f"drifts when at least {(report.verdict.share_threshold or 0.5):.0%} of the features drift. "
                "These thresholds ignore the sample sizes: small windows cross them by chance.")
    else:
        m = d.min_effect
        rule = (f"A feature drifts when its primary test is significant at α = {d.alpha:g} after Holm's correction "
                f"across the features (the p-value comes from the statistic's null distribution at these sample "
                f"sizes: χ² approximation when every bin expects ≥ {d.min_expected:g} values, else simulated) "
                f"<b>and</b> its effect is at least the floor (PSI {m.psi:g}, JS {m.js:g}, KS D {m.ks:g}, "
                f"Cohen's w {m.chi2:g}). The critical value is what the statistic had to reach at the level Holm "
                f"tested it at. A feature that did not drift is 'insufficient data' when its test had under "
                f"{d.power:.0%} power against a shift of PSI {d.detectable_psi:g}. The dataset drifts when any "
                f"feature does, so under no drift it alarms with probability ≤ {d.alpha:g}. The window series is "
                "one family (Holm over windows × features); the label-based quality tests per window are not "
                "corrected (each at 5%).")
    return (f"<h2>Method</h2><p>{rule}</p><p>Numeric features: bins at reference deciles with open outer bins; "
            "empty bins filled as in Evidently (1e-4, or min share/1e6); NaN and ±inf are dropped and counted. KS is "
            "scipy's ks_2samp on the raw values. Categorical: unseen categories are included with eps in PSI; χ² is "
            "the 2×K test of homogeneity. See docs/drift.md.</p>")


def render_html(report: Report) -> str:
    """The self-contained HTML page: verdict first, then the per-feature table and histograms,
    windowed drift, operations and label-based quality."""
    v = report.verdict
    cls = {EXIT_DRIFT: "drift", EXIT_ERROR: "drift", EXIT_INSUFFICIENT: "insufficient"}.get(report.exit_code, "ok")
    out = [(f"<!doctype html><html><head><meta charset='utf-8'><title>Drift report</title><style>{_CSS}</style>"
            f"</head><body><div class='verdict {cls}' id='verdict'>{escape(headline(report))}</div>"),
           (f"<p>Reference <code>{escape(report.reference_name)}</code> ({v.n_reference_rows:,} rows) vs current "
            f"<code>{escape(report.current_name)}</code> ({v.n_current_rows:,} rows). Primary test: "
            f"{escape(report.config.primary)}. Exit code {report.exit_code} (0 no drift, 1 drift, 2 error or schema "
            f"changed, 3 insufficient data).</p>")]
    if report.schema.changed:
        out.append("<h2>Schema</h2><ul id='schema'>" + "".join(f"<li>{escape(x)}</li>" for x in report.schema.lines())
                   + "</ul>")
    out.append("<h2>Features</h2><table id='features'><tr><th class=l>column</th><th class=l>kind</th>"
               "<th class=l>status</th><th class=l>test</th><th>statistic</th><th>critical value (level, null)</th>"
               "<th>p</th><th>Holm p</th><th>effect ≥ floor</th><th>power</th><th>n ref</th><th>n cur</th>"
               "<th class=l>other tests</th><th class=l>dropped / notes</th></tr>")
    rank = {"drift": 0, "insufficient data": 1, "ok": 2, "skipped": 3}
    order = sorted(v.features, key=lambda f: rank[f.status])
    out.extend(_feature_row(f, v.rule) for f in order)
    out.append("</table><h2>Reference vs current</h2><div class='grid' id='histograms'>")
    out.extend(_hist(f) for f in order if f.scored)
    out.append("</div>")
    if report.windows:
        out.append(_windows_html(report, order))
    out.append(_ops_html(report.ops))
    out.append(_concept_html(report))
    all_notes = list(report.warnings) + list(v.warnings)
    if all_notes:
        out.append("<h2>Warnings</h2><ul>" + "".join(f"<li class=note>{escape(n)}</li>" for n in dict.fromkeys(all_notes))
                   + "</ul>")
    out.append(_method_html(report))
    out.append("</body></html>")
    return "".join(out)


def _windows_html(report: Report, order: list[FeatureDrift]) -> str:
    labels = [w.label for w in report.windows]
    share = [w.result.drift_share if w.result else float("nan") for w in report.windows]
    out = ["<h2>Drift over time</h2>",
           svg.lines(labels, {"drifted share": share}, title="share of drifted features per window",
                     hline=report.verdict.share_threshold)]
    top = [f.column for f in order if f.scored and f.kind != "embedding"][:8]
    out.append(svg.lines(labels, {c: [_psi(w, c) for w in report.windows] for c in top},
                         title="PSI per window (top features)",
                         hline=report.config.thresholds.psi if report.verdict.rule == "fixed" else None))
    rows = "".join(
        f"<tr class='{'d' if w.result and w.result.drifted else ''}'><td class=l>{escape(w.label)}</td><td>{w.n_rows:,}</td>"
        f"<td class=l>{escape(w.result.status if w.result else (w.reason or ''))}</td>"
        f"<td>{_f(w.result.pvalue) if w.result else '–'}</td>"
        f"<td class=l>{escape(', '.join(f.column for f in w.result.features if f.drifted)) if w.result else ''}</td></tr>"
        for w in report.windows)
    out.append("<table id='windows'><tr><th class=l>window</th><th>rows</th><th class=l>status</th>"
               "<th>smallest Holm p</th><th class=l>drifted features</th></tr>" + rows + "</table>")
    return "".join(out)


def _psi(w: WindowDrift, column: str) -> float:
    if w.result is None:
        return float("nan")
    f = w.result.feature(column)
    return next((t.statistic for t in f.tests if t.method == "psi"), float("nan"))


def _ops_html(ops: tuple[OpsWindow, ...]) -> str:
    if not ops:
        return ""
    rows = "".join(f"<tr><td class=l>{escape(o.label)}</td><td>{o.n_requests:,}</td><td>{_f(o.requests_per_s, 3)}</td>"
                   f"<td>{_f(o.tokens_per_s, 3)}</td><td>{_f(o.latency_p50)}</td><td>{_f(o.latency_p95)}</td>"
                   f"<td>{_f(o.ttft_p50)}</td><td>{_f(o.ttft_p95)}</td><td>{_f(o.tpot_p50)}</td><td>{_f(o.tpot_p95)}</td></tr>"
                   for o in ops)
    html = ("<h2>Operations</h2><table id='ops'><tr><th class=l>window</th><th>requests</th><th>req/s</th><th>tokens/s</th>"
            "<th>latency p50 ms</th><th>p95</th><th>TTFT p50 ms</th><th>p95</th><th>TPOT p50 ms</th><th>p95</th></tr>"
            + rows + "</table><p class=note>Rates over a logged span under 1 s are not shown (–).</p>")
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
        return f"<td>{p.value:.3f} [{p.ci_low:.3f}, {p.ci_high:.3f}] p={_f(p.pvalue, 3)}{flag}</td>"

    body = "".join(f"<tr><td class=l>{escape(c.label)}</td><td>{c.n_labeled}</td>{cell(c.pass_rate)}{cell(c.accuracy)}"
                   f"{cell(c.precision)}{cell(c.recall)}</tr>" for c in rows)
    html = ("<h2>Quality from labels (concept drift)</h2><p>Wilson 95% CIs; p-value of a two-proportion z-test "
            "against the reference (each window at 5%, not corrected across windows).</p><table id='concept'>"
            "<tr><th class=l>window</th><th>labelled</th><th>pass rate</th>"
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
