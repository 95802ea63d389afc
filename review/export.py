"""Human labels out of the store: golden JSONL in ``datasets/``, few-shot examples, Phoenix HUMAN annotations.

Golden rows (``golden_rows``, ``write_golden``) follow these rules, also written in ``datasets/README.md``:

* **File.** ``<datasets>/human/<kind>/<criterion>.jsonl``, each row in the schema of ``judges.datasets``
  for ``kind``, so ``judges.load_cases(path, kind)`` reads it back. The kind is the eval suite's dataset
  kind (``meta["kind"]``, when it is one ``judges.datasets`` knows); an item answered with A/B/tie is
  ``pairwise``; anything else (production audit calls included) is ``rag`` when it has a context, else ``qa``.
* **One row per case.** Labels are keyed by (kind, criterion, case): an eval item's case is its suite and
  ``meta["case_id"]``, any other item's its source id. So a case labelled in both the escalation and the
  calibration queue is one row, and each reviewer counts once (their latest label). When one case was
  reviewed with different outputs (two runs), the output with the latest label is kept and the labels on
  the others are left out (logged). When two suites share a case id in one file, those rows are named
  ``<suite>:<case id>``.
* **Scores.** ``human_score`` is the reviewers' mean, mapped linearly onto 1..5 when the item's scale is
  another range (0..1: 0 -> 1, 0.5 -> 3, 1 -> 5), then rounded half up (4.5 -> 5). Scores outside 1..5
  on an item without a scale cannot be mapped: the row is skipped with a warning.
* **Preferences.** A pairwise row's ``preferred`` is the reviewers' majority answer; a tie between
  answers (one A, one B) is ``"tie"``.
* **Provenance.** Every row carries ``provenance`` (``judges.datasets.Provenance``): reviewers, time of the
  last label, queues, source ids, suite, trace and span, the raw scores and scale, majority category,
  judge score and notes.

A row the schema rejects (an empty question, a pairwise output that does not split into its two
responses) is skipped with a warning naming the case and the reason, never written half right.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracing.files import write_private_text

from ._rows import is_production
from .errors import ConfigError
from .fill import PAIRWISE_CHOICES, PAIRWISE_SCORES
from .models import LabelRecord

if TYPE_CHECKING:
    from tracing import SpanAnnotation
    from tracing.redaction import Redactor

__all__ = [
    "GoldenRow",
    "export_to_phoenix",
    "fewshot_rows",
    "golden_rows",
    "span_annotations",
    "turn_rows",
    "write_fewshot",
    "write_golden",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GoldenRow:
    """One golden dataset row: the kind and criterion that name its file, and the row as written."""

    kind: str
    criterion: str
    row: dict[str, Any]  # validated against judges.datasets.SCHEMAS[kind]; JSON-ready


@dataclass(frozen=True)
class _Verdict:
    """All reviewers' latest labels on one case under one criterion (oldest first), merged over queues."""

    kind: str
    criterion: str
    suite: str | None
    case_id: str
    labels: tuple[LabelRecord, ...]

    @property
    def last(self) -> LabelRecord:
        return self.labels[-1]

    @property
    def scores(self) -> list[float]:
        return [r.score for r in self.labels if r.score is not None]


class _Skip(Exception):
    """A case that cannot become a correct golden row; the message says why."""


def _latest_per_reviewer(labels: Iterable[LabelRecord]) -> tuple[LabelRecord, ...]:
    latest: dict[str, LabelRecord] = {}
    for r in sorted(labels, key=lambda r: r.created):
        latest[r.reviewer] = r
    return tuple(sorted(latest.values(), key=lambda r: r.created))


def _is_production(rec: LabelRecord) -> bool:
    # production items (the audit sample, the monitor's verdicts): their meta is the app's log row, whose
    # fields (a "kind" of its own, say) say nothing about datasets.
    return is_production(rec.source_id)


def _kind(rec: LabelRecord) -> str:
    from judges.datasets import SCHEMAS

    kind = None if _is_production(rec) else rec.meta.get("kind")
    if isinstance(kind, str) and kind in SCHEMAS:
        return kind
    if rec.categories and set(rec.categories) == set(PAIRWISE_CHOICES):
        return "pairwise"
    return "rag" if rec.context and rec.context.strip() else "qa"


def _case_key(rec: LabelRecord) -> tuple[str | None, str]:
    case_id = None if _is_production(rec) else rec.meta.get("case_id")
    if case_id is not None and str(case_id):
        return rec.suite, str(case_id)
    return None, rec.source_id


def _verdicts(records: Sequence[LabelRecord]) -> list[_Verdict]:
    groups: dict[tuple[str, str, str | None, str], list[LabelRecord]] = defaultdict(list)
    for r in records:
        # flags are not labels; generated rows are reviewed and exported by synth, not as human judgements;
        # a label of one conversation turn is not a verdict on the case (turn_rows exports those)
        if r.kind == "label" and r.queue != "synthetic" and r.turn is None:
            groups[(_kind(r), r.criterion, *_case_key(r))].append(r)
    out = []
    for (kind, criterion, suite, case_id), rs in groups.items():
        newest = max(rs, key=lambda r: r.created)
        shown = (newest.input, newest.output, newest.context, newest.expected)
        kept = [r for r in rs if (r.input, r.output, r.context, r.expected) == shown]
        if len(kept) < len(rs):
            log.warning(
                "%s/%s case %r: %d label(s) on an earlier output left out; the row keeps the output "
                "labelled last",
                kind,
                criterion,
                case_id,
                len(rs) - len(kept),
            )
        out.append(_Verdict(kind, criterion, suite, case_id, _latest_per_reviewer(kept)))
    return sorted(out, key=lambda v: (v.criterion, v.kind, v.suite or "", v.case_id))


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5 + 1e-9)  # the epsilon keeps 2.5 from becoming 2 after float noise


def _human_score(scores: Sequence[float], scale: tuple[float, float] | None) -> int:
    """The reviewers' mean on 1..5: mapped linearly from the item's scale, rounded half up."""
    mean = sum(scores) / len(scores)
    if scale is None:
        if not all(1 <= s <= 5 for s in scores):
            raise _Skip(f"scores {list(scores)} are outside 1..5 and the item has no scale to map them from")
        return _round_half_up(mean)
    lo, hi = scale
    if not hi > lo:
        raise _Skip(f"the item's scale {lo:g}..{hi:g} is empty")
    if not all(lo <= s <= hi for s in scores):
        raise _Skip(f"scores {list(scores)} lie outside the item's scale {lo:g}..{hi:g}")
    return _round_half_up(1 + 4 * (mean - lo) / (hi - lo))


def _majority(values: Sequence[str]) -> str | None:
    """The most common value; None when there is none or two share the top count."""
    counts = Counter(values).most_common()
    if not counts or (len(counts) > 1 and counts[1][1] == counts[0][1]):
        return None
    return counts[0][0]


def _choice(r: LabelRecord) -> str | None:
    """A reviewer's pairwise answer: the category, else the score the review page stores with it."""
    if r.category in PAIRWISE_CHOICES:
        return r.category
    by_score = {v: k for k, v in PAIRWISE_SCORES.items()}
    return by_score.get(r.score) if r.score is not None else None


def _preferred(labels: Sequence[LabelRecord]) -> str:
    answered = [c for c in map(_choice, labels) if c is not None]
    if not answered:
        raise _Skip("no reviewer answered A, B or tie")
    return _majority(answered) or "tie"


_NUMBERED = re.compile(r"\n\n(?=\[\d+\] )")


def _contexts(context: str | None) -> list[str] | None:
    """Undo ``RagRow.to_case``'s "[1] ...\\n\\n[2] ..." join; a context in any other shape is one passage."""
    if not context or not context.strip():
        return None
    parts = _NUMBERED.split(context)
    if all(p.startswith(f"[{i}] ") for i, p in enumerate(parts, 1)):
        return [p[len(f"[{i}] ") :] for i, p in enumerate(parts, 1)]
    return [context]


def _responses(rec: LabelRecord) -> tuple[str, str]:
    a, b = rec.meta.get("output_a"), rec.meta.get("output_b")
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    # The reviewer read both candidates as "A: <a>\n\nB: <b>" (CaseRecord.shown_output); split it only
    # when that is unambiguous.
    text = rec.output
    if text.startswith("A: ") and text.count("\n\nB: ") == 1:
        a, b = text[len("A: ") :].split("\n\nB: ")
        return a, b
    raise _Skip("its output does not split into two responses ('A: ...' then one '\\n\\nB: ...')")


def _provenance(v: _Verdict) -> dict[str, Any]:
    last = v.last
    return {
        "reviewers": [r.reviewer for r in v.labels],
        "labelled_at": datetime.fromtimestamp(last.created, tz=UTC).isoformat(),
        "criterion": v.criterion,
        "n_reviewers": len(v.labels),
        "queues": sorted({r.queue for r in v.labels}),
        "sources": sorted({r.source_id for r in v.labels}),
        "suite": v.suite if v.suite is not None else last.suite,
        "trace_id": last.trace_id,
        "span_id": last.span_id,
        "scale": list(last.scale) if last.scale is not None else None,
        "scores": {r.reviewer: r.score for r in v.labels if r.score is not None},
        "label": None if v.kind == "pairwise" else _majority([r.category for r in v.labels if r.category]),
        "judge_score": last.judge_score,
        "notes": [r.note.strip() for r in v.labels if r.note.strip()],
    }


def _fields(v: _Verdict) -> dict[str, Any]:
    """The schema fields of ``v``'s row (without id and provenance)."""
    rec = v.last
    if v.kind == "pairwise":
        a, b = _responses(rec)
        return {"prompt": rec.input, "response_a": a, "response_b": b, "preferred": _preferred(v.labels)}
    if not v.scores and not any(r.category for r in v.labels):
        raise _Skip("no reviewer gave a score or a category (notes only)")
    score = _human_score(v.scores, rec.scale) if v.scores else None
    answer, reference = rec.output or None, rec.expected or None
    if v.kind == "summarization":
        return {"article": rec.input, "summary": answer, "reference": reference, "human_score": score}
    if v.kind == "rag":
        return {
            "question": rec.input,
            "contexts": _contexts(rec.context),
            "answer": answer,
            "reference": reference,
            "human_score": score,
        }
    return {"question": rec.input, "answer": answer, "reference": reference, "human_score": score}


def _row_ids(verdicts: Sequence[_Verdict]) -> dict[int, str]:
    """Row id per verdict (by index): the case id, or ``<suite>:<case id>`` where suites share one in a file."""
    suites: dict[tuple[str, str, str], set[str | None]] = defaultdict(set)
    for v in verdicts:
        suites[(v.kind, v.criterion, v.case_id)].add(v.suite)
    return {
        i: f"{v.suite}:{v.case_id}"
        if v.suite and len(suites[(v.kind, v.criterion, v.case_id)]) > 1
        else v.case_id
        for i, v in enumerate(verdicts)
    }


def golden_rows(records: Sequence[LabelRecord]) -> list[GoldenRow]:
    """One golden row per labelled case (see the module docstring for the rules), sorted by kind, criterion, id.

    Cases that cannot become a correct row are left out with a warning that says why.
    """
    from pydantic import ValidationError

    from judges.datasets import SCHEMAS

    verdicts = _verdicts(records)
    ids = _row_ids(verdicts)
    out = []
    for i, v in enumerate(verdicts):
        where = f"golden {v.kind}/{v.criterion}: skipped case {ids[i]!r}"
        try:
            data = {"id": ids[i], **_fields(v), "provenance": _provenance(v)}
            row = SCHEMAS[v.kind].model_validate(data)
        except _Skip as exc:
            log.warning("%s: %s", where, exc)
            continue
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(x) for x in err["loc"]) or "(row)"
            log.warning("%s: field %r: %s", where, field, err["msg"])
            continue
        out.append(
            GoldenRow(v.kind, v.criterion, row.model_dump(mode="json", exclude_none=True, exclude={"tags"}))
        )
    return sorted(out, key=lambda g: (g.kind, g.criterion, g.row["id"]))


def _turn_verdicts(records: Sequence[LabelRecord]) -> list[tuple[_Verdict, int]]:
    """Labels of single turns grouped by (criterion, case, turn); the output labelled last wins, as for cases."""
    groups: dict[tuple[str, str | None, str, int], list[LabelRecord]] = defaultdict(list)
    for r in records:
        if r.kind == "label" and r.queue != "synthetic" and r.turn is not None:
            groups[(r.criterion, *_case_key(r), r.turn)].append(r)
    out = []
    for (criterion, suite, case_id, turn), rs in groups.items():
        newest = max(rs, key=lambda r: r.created)
        kept = [r for r in rs if (r.input, r.output) == (newest.input, newest.output)]
        if len(kept) < len(rs):
            log.warning("turn labels %s case %r turn %d: %d label(s) on an earlier output left out", criterion,
                        case_id, turn, len(rs) - len(kept))
        out.append((_Verdict("turns", criterion, suite, case_id, _latest_per_reviewer(kept)), turn))
    return sorted(out, key=lambda vt: (vt[0].criterion, vt[0].suite or "", vt[0].case_id, vt[1]))


def turn_rows(records: Sequence[LabelRecord]) -> list[GoldenRow]:
    """One row per labelled conversation turn (kind ``"turns"``), sorted by criterion, case and turn.

    A row: ``id`` (``<case id>#turn<N>``, ``<suite>:`` in front when suites share a case id), ``suite``,
    ``case_id``, ``turn`` (the turn's index), ``role`` and ``content`` of the turn, ``conversation`` (the
    turns up to and including it, ``{"index", "role", "content"}``), ``human_score`` (1..5, as in golden
    rows; absent when reviewers gave only categories), ``judge_score`` (the per-turn judge's score of that
    turn on the item's scale, when it has one) and ``provenance``. Turns whose reviewers left only notes
    are skipped with a warning.
    """
    from .transcript import TranscriptError, conversation, turn_judge_score

    pairs = _turn_verdicts(records)
    suites: dict[tuple[str, str], set[str | None]] = defaultdict(set)
    for v, _ in pairs:
        suites[(v.criterion, v.case_id)].add(v.suite)
    out = []
    for v, turn in pairs:
        case = f"{v.suite}:{v.case_id}" if v.suite and len(suites[(v.criterion, v.case_id)]) > 1 else v.case_id
        rid = f"{case}#turn{turn}"
        rec = v.last
        try:
            turns = conversation(rec.meta) or ()
            if not v.scores and not any(r.category for r in v.labels):
                raise _Skip("no reviewer gave a score or a category (notes only)")
            score = _human_score(v.scores, rec.scale) if v.scores else None
        except (_Skip, TranscriptError) as exc:
            log.warning("turn labels %s: skipped %r: %s", v.criterion, rid, exc)
            continue
        upto = [t for t in turns if t.index <= turn]
        this = next((t for t in turns if t.index == turn), None)
        row: dict[str, Any] = {
            "id": rid,
            "suite": v.suite if v.suite is not None else rec.suite,
            "case_id": v.case_id,
            "turn": turn,
            "role": this.role if this else None,
            "content": this.content if this else None,
            "conversation": [{"index": t.index, "role": t.role, "content": t.content} for t in upto],
            "human_score": score,
            "judge_score": turn_judge_score(rec.meta, v.criterion, turn),
            "provenance": {**_provenance(v), "judge_score": turn_judge_score(rec.meta, v.criterion, turn)},
        }
        out.append(GoldenRow("turns", v.criterion, {k: x for k, x in row.items() if x is not None}))
    return out


def _safe_name(criterion: str) -> str:
    name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in criterion).strip(".")
    if not name:
        raise ConfigError(f"criterion {criterion!r} gives an empty file name")
    return name


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    # atomic (readers never see half a file), 0600 in folders made 0700: reviewed cases are personal data
    return write_private_text(
        path, "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    )


def write_golden(records: Sequence[LabelRecord], datasets_dir: str | Path,
                 *, redactor: Redactor | None = None) -> dict[tuple[str, str], Path]:
    """Write ``<datasets_dir>/human/<kind>/<criterion>.jsonl`` files; returns their paths by (kind, criterion).

    ``redactor`` (``python -m dashboard export --redact``): e-mails, phones, card numbers and keys in the rows'
    text (inputs, outputs, contexts, reviewers' notes) are masked; ids, reviewers and times are kept.

    Each file is rewritten whole, so exports are idempotent; ``judges.load_cases(path, kind)`` reads it.
    Labels of single conversation turns go to ``<datasets_dir>/human/turns/<criterion>.jsonl`` (key
    ``("turns", criterion)``; rows as :func:`turn_rows` writes them, read as plain JSON lines).
    """
    human = Path(datasets_dir) / "human"
    old = sorted(human.glob("*.jsonl")) if human.is_dir() else []
    if old:  # written before rows had a kind; no dataset loader reads them
        log.warning(
            "%s hold(s) the old export layout (human/<criterion>.jsonl); delete them", [str(p) for p in old]
        )
    by_file: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for g in [*golden_rows(records), *turn_rows(records)]:
        by_file[(g.kind, g.criterion)].append(g.row)
    return {
        (kind, crit): _write_jsonl(human / kind / f"{_safe_name(crit)}.jsonl",
                                   redactor.redact_tree(rows) if redactor else rows)
        for (kind, crit), rows in by_file.items()
    }


def fewshot_rows(
    records: Sequence[LabelRecord], criterion: str, *, k: int = 6, max_spread: float = 1.0
) -> list[dict[str, Any]]:
    """Up to ``k`` examples ``{"input", "output", "score", "reasoning"}`` spread over the score levels.

    Only pointwise cases whose reviewers agree within ``max_spread`` and who wrote a note qualify: the note
    is the reasoning a judge learns from, and a contested score teaches nothing. A case labelled in two
    queues is one example. ``score`` is the reviewers' mean on the item's scale, rounded half up when the
    scale's ends are integers (a pointwise judge answers with integer labels, so its examples do too).
    """
    if k < 1:
        raise ConfigError(f"k (few-shot examples per criterion) must be >= 1, got {k!r}")
    by_level: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for v in _verdicts(records):
        notes = [r.note.strip() for r in v.labels if r.note.strip()]
        scores = v.scores
        if v.criterion != criterion or v.kind == "pairwise" or not scores or not notes:
            continue
        if max(scores) - min(scores) > max_spread:
            continue
        mean = sum(scores) / len(scores)
        scale = v.last.scale
        integral = scale is None or all(float(x).is_integer() for x in scale)
        score: float = _round_half_up(mean) if integral else mean
        by_level[_round_half_up(mean)].append(
            {"input": v.last.input, "output": v.last.output, "score": score, "reasoning": " ".join(notes)}
        )
    # Round-robin over levels so the examples show the whole scale, not five copies of the mode.
    out: list[dict[str, Any]] = []
    queues = [by_level[level] for level in sorted(by_level)]
    while len(out) < k and any(queues):
        for q in queues:
            if q and len(out) < k:
                out.append(q.pop(0))
    return out


def write_fewshot(records: Sequence[LabelRecord], datasets_dir: str | Path, *, k: int = 6,
                  redactor: Redactor | None = None) -> dict[str, Path]:
    """Write ``<datasets_dir>/fewshot/<criterion>.jsonl`` for every criterion with qualifying examples.

    ``judges.load_few_shot`` reads the file into ``PointwiseJudge(examples=...)``; ``redactor`` as for
    :func:`write_golden`.
    """
    out = {}
    for criterion in sorted({r.criterion for r in records if r.kind == "label"}):
        rows = fewshot_rows(records, criterion, k=k)
        if rows:
            out[criterion] = _write_jsonl(
                Path(datasets_dir) / "fewshot" / f"{_safe_name(criterion)}.jsonl",
                redactor.redact_tree(rows) if redactor else rows,
            )
    return out


def span_annotations(records: Sequence[LabelRecord]) -> list[SpanAnnotation]:
    """One HUMAN ``tracing.SpanAnnotation`` per (span, criterion) that reviewers labelled (labels without a
    span id are skipped); a malformed span id raises ``tracing.AnnotationError`` naming it.

    Labels of one span in several queues merge (each reviewer's latest counts): score is the reviewers'
    mean on the item's scale, label the most common category. The one naming rule
    (``tracing.annotations.verdict_annotation``): name = the criterion, identifier ``human``, kind HUMAN, so a
    person's verdict stands beside a judge's on the same criterion (identifier ``ci``/``monitor``) and never
    overwrites it; a label of one conversation turn is annotated apart, as ``"<criterion> (turn <N>)"``.
    """
    from tracing.annotations import verdict_annotation  # imported here: `import review` stays light

    groups: dict[tuple[str, str, int], list[LabelRecord]] = defaultdict(list)
    for r in records:
        if r.kind == "label" and r.span_id:
            groups[(r.criterion, r.span_id, -1 if r.turn is None else r.turn)].append(r)
    out = []
    for (criterion, span_id, turn), rs in sorted(groups.items()):
        labels = _latest_per_reviewer(rs)
        scores = [r.score for r in labels if r.score is not None]
        cats = Counter(r.category for r in labels if r.category is not None)
        notes = " | ".join(r.note for r in labels if r.note.strip())
        n = len(labels)
        trace_id = next((r.trace_id for r in labels if r.trace_id), None)
        out.append(
            verdict_annotation(
                span_id,
                trace_id=trace_id,  # parents the label's evaluation event to the labelled span
                criterion=criterion if turn < 0 else f"{criterion} (turn {turn})",
                source="human",
                kind="HUMAN",
                score=sum(scores) / len(scores) if scores else None,
                label=cats.most_common(1)[0][0] if cats else None,
                explanation=f"{n} reviewer{'s' if n != 1 else ''}" + (f": {notes}" if notes else ""),
                metadata={"reviewers": n},
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
    annotate_spans(annotations, endpoint=endpoint, transport=transport, retry_for_s=10.0)
    log.info("sent %d human annotations to %s", len(annotations), endpoint)
    return len(annotations)
