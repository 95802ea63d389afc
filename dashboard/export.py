"""Human labels out of the store: golden JSONL in ``datasets/``, few-shot examples, Phoenix HUMAN annotations."""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .models import LabelRecord

if TYPE_CHECKING:
    from tracing import SpanAnnotation

__all__ = [
    "export_to_phoenix",
    "fewshot_rows",
    "golden_rows",
    "span_annotations",
    "write_fewshot",
    "write_golden",
]

log = logging.getLogger(__name__)


def _items(records: Sequence[LabelRecord]) -> dict[int, list[LabelRecord]]:
    out: dict[int, list[LabelRecord]] = defaultdict(list)
    for r in records:
        if r.kind == "label":
            out[r.item_id].append(r)
    return out


def golden_rows(records: Sequence[LabelRecord]) -> list[dict[str, Any]]:
    """One row per labelled item: the reviewers' mean score, majority category and notes (flags left out)."""
    rows = []
    for rs in _items(records).values():
        first = rs[0]
        scores = {r.reviewer: r.score for r in rs if r.score is not None}
        cats = Counter(r.category for r in rs if r.category is not None)
        rows.append(
            {
                "id": first.source_id,
                "criterion": first.criterion,
                "queue": first.queue,
                "input": first.input,
                "output": first.output,
                "context": first.context,
                "expected": first.expected,
                "human_score": sum(scores.values()) / len(scores) if scores else None,
                "human_label": cats.most_common(1)[0][0] if cats else None,
                "reviewer_scores": scores,
                "n_reviewers": len(rs),
                "notes": [r.note for r in rs if r.note.strip()],
                "judge_score": first.judge_score,
                "trace_id": first.trace_id,
                "span_id": first.span_id,
            }
        )
    return sorted(rows, key=lambda r: (r["criterion"], r["id"]))


def _safe_name(criterion: str) -> str:
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in criterion).strip(".")
    if not name:
        raise ConfigError(f"criterion {criterion!r} gives an empty file name")
    return name


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".jsonl.tmp")
    tmp.write_text(
        "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows), encoding="utf-8"
    )
    tmp.replace(path)  # readers never see half a file
    return path


def write_golden(records: Sequence[LabelRecord], datasets_dir: str | Path) -> dict[str, Path]:
    """Write ``<datasets_dir>/human/<criterion>.jsonl`` (rewritten whole each time, so exports are idempotent)."""
    by_crit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in golden_rows(records):
        by_crit[row["criterion"]].append(row)
    return {
        c: _write_jsonl(Path(datasets_dir) / "human" / f"{_safe_name(c)}.jsonl", rows)
        for c, rows in by_crit.items()
    }


def fewshot_rows(
    records: Sequence[LabelRecord], criterion: str, *, k: int = 6, max_spread: float = 1.0
) -> list[dict[str, Any]]:
    """Up to ``k`` examples ``{"input", "output", "score", "reasoning"}`` spread over the score levels.

    Only items whose reviewers agree within ``max_spread`` and who wrote a note qualify: the note is the
    reasoning a judge learns from, and a contested score teaches nothing.
    """
    if k < 1:
        raise ConfigError(f"k (few-shot examples per criterion) must be >= 1, got {k!r}")
    by_level: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in golden_rows(records):
        scores = [s for s in row["reviewer_scores"].values() if s is not None]
        if row["criterion"] != criterion or not scores or not row["notes"]:
            continue
        if max(scores) - min(scores) > max_spread:
            continue
        score = row["human_score"]
        by_level[round(score)].append(
            {
                "input": row["input"],
                "output": row["output"],
                "score": score,
                "reasoning": " ".join(row["notes"]),
            }
        )
    # Round-robin over levels so the examples show the whole scale, not five copies of the mode.
    out: list[dict[str, Any]] = []
    queues = [by_level[level] for level in sorted(by_level)]
    while len(out) < k and any(queues):
        for q in queues:
            if q and len(out) < k:
                out.append(q.pop(0))
    return out


def write_fewshot(records: Sequence[LabelRecord], datasets_dir: str | Path, *, k: int = 6) -> dict[str, Path]:
    """Write ``<datasets_dir>/fewshot/<criterion>.jsonl`` for every criterion with qualifying examples."""
    out = {}
    for criterion in sorted({r.criterion for r in records if r.kind == "label"}):
        rows = fewshot_rows(records, criterion, k=k)
        if rows:
            out[criterion] = _write_jsonl(
                Path(datasets_dir) / "fewshot" / f"{_safe_name(criterion)}.jsonl", rows
            )
    return out


def span_annotations(records: Sequence[LabelRecord]) -> list[SpanAnnotation]:
    """One HUMAN ``tracing.SpanAnnotation`` per labelled item that came from a span (items without a span
    id are skipped); a malformed span id raises ``tracing.AnnotationError`` naming it.

    The name is ``"<criterion> (human)"`` so it never overwrites a judge's annotation of the same criterion.
    """
    from tracing import SpanAnnotation  # imported here: `import dashboard` stays light until you export

    out = []
    for row in golden_rows(records):
        if not row["span_id"]:
            continue
        n = row["n_reviewers"]
        notes = " | ".join(row["notes"])
        out.append(
            SpanAnnotation(
                span_id=row["span_id"],
                name=f"{row['criterion']} (human)",
                annotator_kind="HUMAN",
                score=row["human_score"],
                label=row["human_label"],
                explanation=f"{n} reviewer{'s' if n != 1 else ''}" + (f": {notes}" if notes else ""),
            )
        )
    return out


def export_to_phoenix(records: Sequence[LabelRecord], endpoint: str, *, transport: Any = None) -> int:
    """Send the HUMAN annotations to Phoenix at ``endpoint`` via ``tracing.annotate_spans``; returns how many.

    ``transport`` (an ``httpx`` transport) is passed through for tests.
    """
    from tracing import annotate_spans

    annotations = span_annotations(records)
    if not annotations:
        return 0
    annotate_spans(annotations, endpoint=endpoint, transport=transport)
    log.info("sent %d human annotations to %s", len(annotations), endpoint)
    return len(annotations)
