"""Filling the review queues from eval results and production logs (idempotent: refills add nothing twice).

* **escalation** — eval cases a judge was unsure about: flags from the judge (low confidence, order
  inconsistency, parse failure, panel disagreement) or this module's own thresholds on entropy, on the
  spread of probability mass, and on the range of a panel's scores.
* **calibration** — a stable ~5% of eval cases (chosen by hashing their ids), each for 2+ reviewers.
* **audit** — a 1–2% sample of production calls from a JSONL log or from Phoenix spans, optionally
  stratified (e.g. by topic) so rare strata are not missed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ._results import CaseResult, ResultsFile, SuiteResult
from .errors import ConfigError
from .models import JudgeView, NewItem
from .sampling import hash_sample, stratified_hash_sample

__all__ = [
    "PAIRWISE_CHOICES",
    "PAIRWISE_SCORES",
    "EscalationRules",
    "FillReport",
    "audit_items",
    "calibration_items",
    "escalation_items",
    "escalation_reasons",
    "read_prod_log",
    "rows_from_phoenix",
]


#: A human's answer to a pairwise case, and the judge-scale score each one means (A wins = 1).
PAIRWISE_CHOICES = ("A", "B", "tie")
PAIRWISE_SCORES = {"A": 1.0, "B": 0.0, "tie": 0.5}


@dataclass(frozen=True)
class EscalationRules:
    """When an eval case goes to a human.

    ``max_entropy`` is in bits (as ``judges.stats.entropy`` reports it) over the judge's label distribution; ``min_top_mass`` is the least
    probability the top label must carry; ``max_panel_range`` is the largest tolerated spread of a panel's
    scores as a fraction of the scale width. Any judge flag escalates too.
    """

    max_entropy: float = 1.0
    min_top_mass: float = 0.5
    max_panel_range: float = 0.25
    escalate_failures: bool = True

    def __post_init__(self) -> None:
        if self.max_entropy < 0 or not 0 <= self.min_top_mass <= 1 or not 0 <= self.max_panel_range <= 1:
            raise ConfigError(
                f"escalation thresholds out of range: max_entropy={self.max_entropy!r} (>= 0), "
                f"min_top_mass={self.min_top_mass!r} and max_panel_range={self.max_panel_range!r} (0..1)"
            )


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


def _entropy(probs: Mapping[str, float]) -> float:
    total = sum(p for p in probs.values() if p > 0)
    return -sum((p / total) * math.log2(p / total) for p in probs.values() if p > 0) if total > 0 else 0.0


def escalation_reasons(
    case: CaseResult, scale: tuple[float, float] | None, rules: EscalationRules
) -> list[str]:
    """Why this case needs a human (empty when it does not)."""
    reasons = list(case.flags)
    if case.failure and rules.escalate_failures and "parse_failure" not in reasons:
        reasons.append("judge_failure")
    entropy = case.entropy
    if entropy is None and case.label_probs:
        entropy = _entropy(case.label_probs)
    if entropy is not None and entropy > rules.max_entropy:
        reasons.append(f"entropy {entropy:.2f} > {rules.max_entropy:g}")
    if case.label_probs:
        top = max(case.label_probs.values()) / (sum(case.label_probs.values()) or 1.0)
        if top < rules.min_top_mass:
            reasons.append(f"top label mass {top:.2f} < {rules.min_top_mass:g}")
    panel = [j.score for j in case.judges if j.score is not None]
    if len(panel) >= 2 and scale is not None and scale[1] > scale[0]:
        spread = (max(panel) - min(panel)) / (scale[1] - scale[0])
        if spread > rules.max_panel_range and "judges_disagree" not in reasons:
            reasons.append(f"panel range {spread:.2f} of scale > {rules.max_panel_range:g}")
    return reasons


def _case_item(suite: SuiteResult, case: CaseResult, queue: str, **kw: Any) -> NewItem:
    judges = [JudgeView(case.judge_model, case.score, case.label_probs, case.reasoning)]
    judges += [JudgeView(j.judge_model, j.score, j.label_probs, j.reasoning) for j in case.judges]
    categories: tuple[str, ...] = ()
    scale = suite.scale
    if suite.kind == "pairwise":
        # Humans answer a pairwise case with a preference; the page maps it onto the judge's 0..1 score.
        categories, scale = PAIRWISE_CHOICES, None
    elif case.label_probs and not all(_is_number(k) for k in case.label_probs):
        categories = tuple(case.label_probs)
    return NewItem(
        queue=queue,
        # The output is part of the identity: a new run that changes the answer is a new thing to review,
        # while rerunning the same answers adds nothing.
        source_id=f"eval:{suite.suite}:{suite.criterion}:{case.case_id}:{_short_hash(case.output)}",
        input=case.input,
        output=case.output,
        context=case.context,
        expected=case.expected,
        criterion=suite.criterion,
        suite=suite.suite,
        scale=scale,
        categories=categories,
        judge_score=case.score,
        judges=tuple(judges),
        trace_id=case.trace_id,
        span_id=case.span_id,
        meta={
            "case_id": case.case_id,
            "judge": suite.judge,
            "kind": suite.kind,
            "passed": case.passed,
            "failure": case.failure,
        },
        **kw,
    )


def escalation_items(results: ResultsFile, rules: EscalationRules | None = None) -> list[NewItem]:
    """Escalated eval cases, most severe first (priority = number of reasons)."""
    rules = rules or EscalationRules()
    out = []
    for suite in results.suites:
        for case in suite.cases:
            reasons = escalation_reasons(case, suite.scale, rules)
            if reasons:
                out.append(
                    _case_item(
                        suite, case, "escalation", reason="; ".join(reasons), priority=float(len(reasons))
                    )
                )
    return sorted(out, key=lambda it: -it.priority)


def calibration_items(results: ResultsFile, *, rate: float = 0.05, reviewers: int = 2) -> list[NewItem]:
    """A stable ``rate`` sample of eval cases (by hash of suite, criterion and case id), each for N reviewers."""
    if reviewers < 1:
        raise ConfigError(f"calibration reviewers per item must be >= 1, got {reviewers!r}")
    pairs = [(s, c) for s in results.suites for c in s.cases]
    chosen = hash_sample(
        pairs, lambda sc: f"{sc[0].suite}:{sc[0].criterion}:{sc[1].case_id}", rate, salt="calibration:"
    )
    return [
        _case_item(s, c, "calibration", reason="calibration sample", priority=0.5, overlap=reviewers)
        for s, c in chosen
    ]


def read_prod_log(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a production JSONL log; a malformed line raises with its line number."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"production log {path} does not exist")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{n} is not a JSON object: {exc}") from exc
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{n} is not a JSON object")
            rows.append(row)
    return rows


def _row_key(row: Mapping[str, Any], where: str) -> str:
    key = row.get("span_id") or row.get("trace_id")
    if not key:
        raise ConfigError(f"{where}: a production row needs a span_id or trace_id to be sampled stably")
    return str(key)


def audit_items(
    rows: Sequence[Mapping[str, Any]],
    *,
    rate: float = 0.02,
    stratify_by: str | None = None,
    min_per_stratum: int = 1,
    criterion: str = "overall",
    scale: tuple[float, float] = (1, 5),
) -> list[NewItem]:
    """The audit sample of production rows (``prompt``/``response`` plus ids and metadata)."""
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
    meta_skip = {"prompt", "response", "trace_id", "span_id", "context"}
    return [
        NewItem(
            queue="audit",
            source_id=f"prod:{_row_key(r, '')}",
            input=r["prompt"],
            output=r["response"],
            context=r.get("context"),
            criterion=criterion,
            scale=scale,
            # An online judge's score, when the app logged one, makes audit labels count for calibration too.
            judge_score=_number_or_none(r.get("judge_score")),
            reason=f"audit sample {rate:.1%}"
            + (f" by {stratify_by}={r.get(stratify_by)}" if stratify_by else ""),
            trace_id=r.get("trace_id"),
            span_id=r.get("span_id"),
            meta={k: v for k, v in r.items() if k not in meta_skip},
        )
        for r in chosen
    ]


class SpansClient(Protocol):
    """The part of ``phoenix.client.Client`` used here (``client.spans.get_spans``)."""

    @property
    def spans(self) -> Any: ...


def _attr(attrs: Mapping[str, Any], dotted: str) -> Any:
    if dotted in attrs:
        return attrs[dotted]
    node: Any = attrs
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def rows_from_phoenix(client: SpansClient, project: str, *, limit: int = 10_000) -> list[dict[str, Any]]:
    """Production rows from a Phoenix project's LLM spans (via ``arize-phoenix-client``)."""
    spans = client.spans.get_spans(project_identifier=project, span_kind="LLM", limit=limit)
    return list(_span_rows(spans))


def _span_rows(spans: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    for span in spans:
        attrs = span.get("attributes") or {}
        prompt, response = _attr(attrs, "input.value"), _attr(attrs, "output.value")
        if not isinstance(prompt, str) or not isinstance(response, str):
            continue  # a span without text in and out has nothing for a reviewer to read
        ctx = span.get("context") or {}
        meta = _attr(attrs, "metadata")
        if isinstance(meta, str):
            try:
                meta = json.loads(meta)
            except json.JSONDecodeError:
                meta = {}
        row = {
            "timestamp": span.get("start_time"),
            "prompt": prompt,
            "response": response,
            "model": _attr(attrs, "llm.model_name"),
            "trace_id": ctx.get("trace_id"),
            "span_id": ctx.get("span_id"),
        }
        if isinstance(meta, Mapping):
            row.update({k: v for k, v in meta.items() if k not in row})
        yield row


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
