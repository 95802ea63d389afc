"""Filling the review queues from eval results and production logs (idempotent: refills add nothing twice).

* **escalation** — eval cases a judge was unsure about, by the one rule set of ``review.escalation``:
  flags from the judge (low confidence, order inconsistency, parse failure, panel disagreement) and
  thresholds on entropy, on the spread of probability mass, and on the range of a panel's scores.
* **calibration** — a stable ~5% of eval cases (chosen by hashing their ids), each for 2+ reviewers.
* **audit** — a 1–2% sample of production calls from a JSONL log or from Phoenix spans (both read by
  ``tracing.production_log``), optionally stratified (e.g. by topic) so rare strata are not missed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .escalation import EscalationRules, review_reasons
from .models import JudgeView, NewItem
from .sampling import hash_sample, stratified_hash_sample
from .transcript import case_payload

if TYPE_CHECKING:  # the one results record; imported for types only so `import review` stays light
    from experiments.record import CaseRecord, RunRecord, Score, SuiteRecord

__all__ = [
    "PAIRWISE_CHOICES",
    "PAIRWISE_SCORES",
    "FillReport",
    "audit_items",
    "calibration_items",
    "escalation_items",
    "production_item",
    "rows_from_phoenix",
]


#: A human's answer to a pairwise case, and the judge-scale score each one means (A wins = 1).
PAIRWISE_CHOICES = ("A", "B", "tie")
PAIRWISE_SCORES = {"A": 1.0, "B": 0.0, "tie": 0.5}


@dataclass(frozen=True)
class FillReport:
    """What one fill added per queue, and how many it found already present."""

    added: dict[str, int]
    present: dict[str, int]

    def __str__(self) -> str:
        queues = sorted(set(self.added) | set(self.present))
        return ", ".join(
            f"{q}: +{self.added.get(q, 0)} ({self.present.get(q, 0)} already queued)" for q in queues
        )


_PERSON_KEYS = ("user_id", "session_id", "user.id", "session.id")


def _case_item(suite: SuiteRecord, case: CaseRecord, score: Score, queue: str, **kw: Any) -> NewItem:
    judges = [JudgeView(score.judge_model, score.score, score.label_probs, score.reasoning)]
    judges += [JudgeView(m.judge_model, m.score, m.label_probs, m.reasoning) for m in score.members]
    categories: tuple[str, ...] = ()
    scale = score.scale
    if suite.kind == "pairwise":
        # Humans answer a pairwise case with a preference; the page maps it onto the judge's 0..1 score.
        categories, scale = PAIRWISE_CHOICES, None
    elif score.label_probs and not all(_is_number(k) for k in score.label_probs):
        categories = tuple(score.label_probs)
    output = case.shown_output
    return NewItem(
        queue=queue,
        # The output is part of the identity: a new run that changes the answer is a new thing to review,
        # while rerunning the same answers adds nothing.
        source_id=f"eval:{suite.suite}:{score.criterion}:{case.case_id}:{_short_hash(output)}",
        input=case.input,
        output=output,
        context=case.context,
        expected=case.expected,
        criterion=score.criterion,
        suite=suite.suite,
        scale=scale,
        categories=categories,
        judge_score=score.score,
        judges=tuple(judges),
        trace_id=score.trace_id or case.trace_id,
        span_id=(case.task.span_id if case.task else None) or score.span_id,
        meta={
            "case_id": case.case_id,
            "judge": score.scorer,
            "kind": suite.kind,
            "passed": score.passed,
            "failure": score.failure,
            # the two candidates of a pairwise case, so an export need not split them out of `output`
            **({"output_a": case.output_a, "output_b": case.output_b} if suite.kind == "pairwise" else {}),
            # whose case it is, when the dataset says so: `python -m dashboard purge` finds the item by it
            **{k: case.metadata[k] for k in _PERSON_KEYS if k in case.metadata},
            # a conversation turn by turn (with per-turn scores) and an agent's steps (review.transcript)
            **case_payload(case, score, kind=suite.kind),
        },
        **kw,
    )


def _judge_scores(results: RunRecord) -> list[tuple[SuiteRecord, CaseRecord, Score]]:
    """Every LLM judge's verdict in the run (deterministic scorers need no human second opinion)."""
    return [(s, c, sc) for s in results.suites for c in s.cases for sc in c.scores if sc.kind == "judge"]


def escalation_items(results: RunRecord, rules: EscalationRules | None = None) -> list[NewItem]:
    """Escalated judge verdicts, most severe first (priority = number of reasons)."""
    rules = rules or EscalationRules()
    out = []
    for suite, case, score in _judge_scores(results):
        reasons = review_reasons(score, rules)
        if reasons:
            out.append(_case_item(suite, case, score, "escalation", reason="; ".join(reasons),
                                  priority=float(len(reasons))))
    return sorted(out, key=lambda it: -it.priority)


def calibration_items(results: RunRecord, *, rate: float = 0.05, reviewers: int = 2) -> list[NewItem]:
    """A stable ``rate`` sample of judge verdicts (by hash of suite, criterion and case id), each for N reviewers."""
    if reviewers < 1:
        raise ConfigError(f"calibration reviewers per item must be >= 1, got {reviewers!r}")
    chosen = hash_sample(_judge_scores(results), lambda scs: f"{scs[0].suite}:{scs[2].criterion}:{scs[1].case_id}",
                         rate, salt="calibration:")
    return [_case_item(s, c, sc, "calibration", reason="calibration sample", priority=0.5, overlap=reviewers)
            for s, c, sc in chosen]


def _row_key(row: Mapping[str, Any], where: str) -> str:
    # The trace, not the span: the app's log names its CHAIN span and Phoenix its LLM span, and one trace
    # must be one audit item (and sampled in or out alike) whichever of them a filler reads.
    key = row.get("trace_id") or row.get("span_id")
    if not key:
        raise ConfigError(f"{where}: a production row needs a trace_id or span_id to be sampled stably")
    return str(key)


def audit_items(
    rows: Sequence[Mapping[str, Any]],
    *,
    rate: float = 0.02,
    stratify_by: str | None = None,
    min_per_stratum: int = 1,
    criterion: str = "overall",
    scale: tuple[float, float] = (1, 5),
    phoenix_url: str | None = None,
) -> list[NewItem]:
    """The audit sample of production rows (``prompt``/``response`` plus ids and metadata). With ``phoenix_url``
    each item links to its trace in Phoenix (``meta.trace_url``, and in the reason a reviewer reads)."""
    rows = [_log_row(r) for r in rows]
    for i, r in enumerate(rows):
        _row_key(r, f"row {i}")
        for field in ("prompt", "response"):
            if not isinstance(r.get(field), str):
                raise ConfigError(
                    f"row {i} ({_row_key(r, '')}) has no text {field!r}; production rows need both"
                )
    if stratify_by:
        chosen = stratified_hash_sample(
            rows,
            lambda r: _row_key(r, ""),
            lambda r: r.get(stratify_by),
            rate,
            min_per_stratum=min_per_stratum,
            salt="audit:",
        )
    else:
        chosen = hash_sample(rows, lambda r: _row_key(r, ""), rate, salt="audit:")
    return [
        production_item(
            r,
            queue="audit",
            criterion=criterion,
            scale=scale,
            reason=f"audit sample {rate:.1%}" + (f" by {stratify_by}={r.get(stratify_by)}" if stratify_by else ""),
            phoenix_url=phoenix_url,
        )
        for r in chosen
    ]


def production_item(
    row: Mapping[str, Any],
    *,
    queue: str,
    reason: str,
    criterion: str = "overall",
    scale: tuple[float, float] = (1, 5),
    priority: float = 0.0,
    key: str | None = None,
    meta: Mapping[str, Any] | None = None,
    phoenix_url: str | None = None,
) -> NewItem:
    """One production call (a log row: ``prompt``, ``response``, ``trace_id``/``span_id`` and the log's other
    columns) as a review item: ``prod:<trace id, else span id>``, so one trace is one item per queue and
    criterion whichever tool queues it, and queuing it again adds nothing.

    ``key`` names a call that has neither id (a log without tracing: the monitor's hash of the row).
    The item's ``meta`` is the row's documented columns (:func:`_log_row`), then ``meta``, then the trace link;
    with ``phoenix_url`` the reason ends with that link too."""
    from tracing._config import trace_url

    r = _log_row(row)
    ident = key if key is not None and not (r.get("trace_id") or r.get("span_id")) else _row_key(r, "row")
    for field in ("prompt", "response"):
        if not isinstance(r.get(field), str):
            raise ConfigError(f"row {ident} has no text {field!r}; production rows need both")
    link = trace_url(phoenix_url, r.get("trace_id"))
    meta_skip = {"prompt", "response", "trace_id", "span_id"}
    return NewItem(
        queue=queue,
        source_id=f"prod:{ident}",
        input=r["prompt"],
        output=r["response"],
        criterion=criterion,
        scale=scale,
        # An online judge's score, when the app logged one, makes audit labels count for calibration too.
        judge_score=_number_or_none(r.get("judge_score")),
        reason=reason + (f" · trace {link}" if link else ""),
        priority=priority,
        trace_id=r.get("trace_id"),
        span_id=r.get("span_id"),
        meta={**{k: v for k, v in r.items() if k not in meta_skip}, **(meta or {}), "trace_url": link},
    )


def _log_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` cut to the documented production-log columns (``tracing.production_log.LOG_COLUMNS``), each a
    plain value (text, number, boolean or None; anything else is dropped). A field the log does not document
    (``turns``, ``trajectory``, ``context``, ...) never reaches an item, so a logged row cannot steer how the
    review page shows it: a production item is its prompt and its response."""
    from tracing.production_log import LOG_COLUMNS

    return {k: row[k] for k in LOG_COLUMNS if k in row and _plain(row[k])}


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def rows_from_phoenix(
    project: str, *, base_url: str | None = None, client: Any = None, limit: int = 10_000
) -> list[dict[str, Any]]:
    """Audit rows from a Phoenix project's requests, read by ``tracing.production_log.rows_from_phoenix``.

    Spans without text in and out (a failed call) are left out: a reviewer has nothing to read.
    """
    from tracing.production_log import rows_from_phoenix as read_spans

    rows = read_spans(project, base_url=base_url, client=client, limit=limit)
    return [r for r in rows if isinstance(r["prompt"], str) and isinstance(r["response"], str)]


def _number_or_none(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _short_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
