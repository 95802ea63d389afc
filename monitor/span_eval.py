"""Per-span evaluation of stored traces: select spans, judge each one, write Phoenix annotations and a results file.

    python -m monitor.span_eval --phoenix http://127.0.0.1:6006 --project qa-app \\
        --select 'kind=RETRIEVER' --criterion context_relevance --out results/spans.json

Spans are read from Phoenix (``tracing.span_tree.spans_from_phoenix``) or from a JSON/JSONL file of span dicts,
chosen by a :class:`tracing.span_select.SpanSelector`, and judged by any judge of the ``judges`` package (the
built-in span criteria are pointwise judges with label probabilities). What a judge sees depends on the
criterion's *view*:

* ``documents`` (``context_relevance``): the span's query as the input, its ``retrieval.documents`` as the response;
* ``grounded`` (``faithfulness``): the span's input and output, with the documents of the RETRIEVER spans that
  precede it in its trace (nearest first) as the context;
* ``io`` (``answer_relevance`` and criteria defined by a rubric): the span's input and output.

On request (``SpanContext``, ``--context ancestors,children``) the inputs and outputs of its ancestors and
children are added to the context, bounded in size. Each verdict becomes a ``Score`` in a ``CaseRecord`` whose
``case_id`` is the span id, in the one results record (``experiments.record``), and a span annotation in Phoenix
(``Score.annotation``: name = criterion, identifier ``span_eval``: a rerun replaces it). A span the view cannot be built for (no
documents, no preceding retrieval, no output) is a recorded failure flagged ``not_evaluable``; a judge reply
that cannot be parsed is a recorded judge failure; neither is ever a score.

Lives in ``monitor`` with the online evaluators: every evaluation of stored traces is on one engine (the judge
factory :func:`monitor.online.make_judge`, ``experiments.suite.to_score`` for pass/fail, the one record, the
one annotation writer); ``tracing`` only reads and selects the spans.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import re
import sys
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from experiments.record import (
    CaseRecord,
    RunRecord,
    Score,
    ScorerInfo,
    SuiteRecord,
    TaskInfo,
    TaskRun,
    write_run,
)
from experiments.suite import summarize, to_score
from judges.case import Case
from judges.errors import ConfigError
from judges.results import JudgeFailure
from tracing.span_select import SpanSelector, SpanSelectorError, parse_selector
from tracing.span_tree import SpanNode, SpanTree, span_nodes

__all__ = [
    "ANNOTATION_IDENTIFIER", "CRITERIA", "SpanContext", "SpanCriterion", "SpanEvaluation", "evaluate_spans",
    "main", "span_annotations", "span_case", "span_criterion", "write_span_annotations",
]  # fmt: skip

View = Literal["documents", "grounded", "io"]
_VIEWS = ("documents", "grounded", "io")
#: Phoenix keeps one annotation per (span, name, identifier): a rerun replaces its verdicts, never adds more.
ANNOTATION_IDENTIFIER = "span_eval"
NOT_EVALUABLE = "not_evaluable"
PARTIAL_TRACE = "partial_trace"

EXIT_OK, EXIT_FAILURES, EXIT_ERROR, EXIT_NO_MATCH = 0, 1, 2, 3

_RUBRICS: dict[str, tuple[View, str]] = {
    "context_relevance": ("documents", (
        "The Input is a search query; the Response is the numbered list of documents a retriever returned for it.\n"
        "5: the documents hold what is needed to answer the query\n"
        "3: some documents bear on the query, or they answer it only in part\n"
        "1: none of the documents bears on the query")),
    "faithfulness": ("grounded", (
        "The Context holds the documents retrieved before the model wrote the Response. Grade whether the Response "
        "is supported by them.\n"
        "5: every claim in the response is supported by the context\n"
        "3: partly supported: some claims are not in the context\n"
        "1: contradicts the context or is not based on it")),
    "answer_relevance": ("io", (
        "5: the response answers the input directly\n3: it answers in part or drifts\n1: it does not address the input")),
}
#: The built-in span criteria: name -> (view, rubric of the pointwise judge).
CRITERIA: Mapping[str, tuple[View, str]] = _RUBRICS


class SpanEvalError(ValueError):
    """A span evaluation that cannot start: bad criterion, context or option (the message names the fix)."""


@dataclass(frozen=True)
class SpanCriterion:
    """A judge and the view of the span it reads; ``threshold`` makes its scores pass or fail."""

    judge: Any  # a judges.Judge: PointwiseJudge, GEval, JudgePanel, ...
    view: View = "io"
    threshold: float | None = None

    def __post_init__(self) -> None:
        if self.view not in _VIEWS:
            raise SpanEvalError(f"span criterion view {self.view!r} is not one of {_VIEWS}")

    @property
    def name(self) -> str:
        return str(self.judge.metric_name)


def span_criterion(name: str, *, rubric: str | None = None, judge: Literal["pointwise", "geval"] = "pointwise",
                   scale: tuple[int, int] = (1, 5), threshold: float | None = None, explain: bool = True) -> SpanCriterion:
    """A built-in criterion (``context_relevance``, ``faithfulness``, ``answer_relevance``), or one defined by
    ``rubric`` (read as the span's input and output unless the name is a built-in one)."""
    from monitor.online import make_judge

    if not name or not re.fullmatch(r"[A-Za-z0-9_.\- ]+", name) or name == "note":
        raise SpanEvalError(f"criterion name {name!r} must be letters, digits, '_', '-', '.' or spaces (not 'note')")
    view: View = "io"
    if name in CRITERIA:
        view, builtin = CRITERIA[name]
        rubric = rubric or builtin
    elif rubric is None:
        raise SpanEvalError(f"unknown span criterion {name!r}; built-in: {', '.join(CRITERIA)}; or define it with "
                            "a rubric (--rubric '5: ... 1: ...')")
    if judge not in ("pointwise", "geval"):
        raise SpanEvalError(f"judge kind {judge!r} is not 'pointwise' or 'geval'")
    return SpanCriterion(make_judge(name, kind=judge, rubric=rubric, scale=scale, explain=explain), view, threshold)


@dataclass(frozen=True)
class SpanContext:
    """What of the surrounding trace the judge sees besides the span itself, and the size bounds.

    ``max_spans`` ancestors (parent first) and children (in start order) at most; ``max_chars`` for all of
    them together; ``field_chars`` for each of the span's own input, output and documents.
    """

    ancestors: bool = False
    children: bool = False
    max_spans: int = 5
    max_chars: int = 4000
    field_chars: int = 4000

    def __post_init__(self) -> None:
        for name in ("max_spans", "max_chars", "field_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SpanEvalError(f"SpanContext.{name} must be a whole number >= 1, got {value!r}")

    @classmethod
    def parse(cls, text: str | None, **bounds: int) -> SpanContext:
        """From ``"ancestors"``, ``"children"``, ``"ancestors,children"``, ``"none"`` or None."""
        parts = {p.strip().lower() for p in (text or "").split(",") if p.strip()} - {"none"}
        unknown = parts - {"ancestors", "children"}
        if unknown:
            raise SpanEvalError(f"--context {text!r}: unknown part {', '.join(sorted(unknown))}; use ancestors, "
                                "children, ancestors,children or none")
        return cls("ancestors" in parts, "children" in parts, **bounds)


# --- what the judge sees ---------------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" …[{len(text) - limit} more chars]"


def _render_messages(messages: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(f"{m.get('role') or 'message'}: {m.get('content', '')}" for m in messages)


def span_input_text(node: SpanNode) -> str | None:
    """The span's input as a person reads it: chat messages one per line, else ``input.value``."""
    messages = node.messages("input")
    if messages:
        return _render_messages(messages)
    text = node.input
    if text and text.lstrip().startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            return text
        if isinstance(parsed, list) and parsed and all(isinstance(m, Mapping) and "content" in m for m in parsed):
            return _render_messages(parsed)
    return text


def span_output_text(node: SpanNode) -> str | None:
    """``output.value``, else the last of ``llm.output_messages``."""
    if node.output is not None:
        return node.output
    messages = node.messages("output")
    return messages[-1]["content"] if messages else None


def _documents(docs: Sequence[str], limit: int) -> str:
    return _clip("\n".join(f"[{i}] {d}" for i, d in enumerate(docs, 1)), limit)


def _surrounding(tree: SpanTree, node: SpanNode, ctx: SpanContext, missing: str | None) -> tuple[str, list[str]]:
    """The ancestors' and children's inputs and outputs as text, and their span ids."""
    picked: list[tuple[str, SpanNode]] = []
    if ctx.ancestors:
        picked += [("ancestor", a) for a in tree.ancestors(node.span_id)[: ctx.max_spans]]
    if ctx.children:
        picked += [("child", c) for c in tree.children(node.span_id)[: ctx.max_spans]]
    lines = []
    share = max(40, ctx.max_chars // max(1, len(picked)) // 2)
    for role, n in picked:
        text_in, text_out = span_input_text(n), span_output_text(n)
        lines.append(f"- {role} {n.kind} {n.name!r}: input: {_clip(text_in or '(none)', share)} | "
                     f"output: {_clip(text_out or '(none)', share)}")
    if ctx.ancestors and missing:
        lines.append(f"- (the parent span {missing} is not stored: the ancestors above it are unknown)")
    return _clip("\n".join(lines), ctx.max_chars), [n.span_id for _, n in picked]


def span_case(tree: SpanTree, node: SpanNode, view: View = "io", context: SpanContext | None = None) -> Case | str:
    """The case a judge reads for ``node`` in ``view``, or why the span cannot be judged that way.

    ``case.metadata`` names the span (kind, name, trace, parent), the first missing ancestor of a partial
    trace, the RETRIEVER spans the documents came from and the spans shown as context.
    """
    ctx = context or SpanContext()
    missing = tree.missing_ancestor(node.span_id)
    meta: dict[str, Any] = {"span_kind": node.kind, "span_name": node.name, "trace_id": node.trace_id,
                            "parent_id": node.parent_id, "status": node.status, "view": view}
    if missing:
        meta["missing_ancestor"] = missing
    around, around_ids = _surrounding(tree, node, ctx, missing)
    if around_ids or (ctx.ancestors and missing):
        meta["context_spans"] = around_ids
    where = f"{node.kind} span {node.span_id} ({node.name!r}) of trace {node.trace_id}"
    if view == "documents":
        docs = node.documents
        if not docs:
            return f"{where} has no retrieval.documents to judge; select spans with has=retrieval.documents"
        meta["documents"] = len(docs)
        return Case(node.span_id, _clip(node.input or "", ctx.field_chars), output=_documents(docs, ctx.field_chars),
                    context=f"Surrounding spans:\n{around}" if around else None, metadata=meta)
    output = span_output_text(node)
    if output is None:
        return f"{where} has no output (output.value or llm.output_messages) to judge"
    text_in = _clip(span_input_text(node) or "", ctx.field_chars)
    if view == "grounded":
        retrievers = [r for r in tree.preceding(node.span_id, "RETRIEVER") if r.documents]
        if not retrievers:
            gap = (f"; its parent span {missing} is not stored, the retrieval may be in the missing part"
                   if missing else "")
            return (f"no RETRIEVER span with documents precedes {where}, so there is nothing to be faithful to "
                    f"(select with after=RETRIEVER){gap}")
        docs = [d for r in retrievers for d in r.documents]
        meta["documents_from"] = [r.span_id for r in retrievers]
        meta["documents"] = len(docs)
        text = "Retrieved documents:\n" + _documents(docs, ctx.field_chars)
        if around:
            text += f"\n\nSurrounding spans:\n{around}"
        return Case(node.span_id, text_in, output=_clip(output, ctx.field_chars), context=text, metadata=meta)
    return Case(node.span_id, text_in, output=_clip(output, ctx.field_chars),
                context=f"Surrounding spans:\n{around}" if around else None, metadata=meta)


# --- judging ---------------------------------------------------------------------------------------------


def _scorer_info(c: SpanCriterion) -> ScorerInfo:
    from judges._judge import judge_fingerprint

    uses_model = bool(getattr(c.judge, "uses_model", True))
    scale = getattr(c.judge, "scale", None)
    return ScorerInfo(scorer=c.judge.judge_name, criterion=c.name, kind="judge" if uses_model else "scorer",
                      scale=(float(scale[0]), float(scale[1])) if scale else None, threshold=c.threshold,
                      fingerprint=judge_fingerprint(c.judge) if uses_model else None)


async def _score(c: SpanCriterion, client: Any, node: SpanNode, case: Case | str, partial: bool) -> Score:
    extra = [PARTIAL_TRACE] if partial else []
    if isinstance(case, str):
        info = _scorer_info(c)
        return Score(scorer=info.scorer, criterion=info.criterion, kind=info.kind, scale=info.scale,
                     threshold=c.threshold, failure=case, flags=[NOT_EVALUABLE, *extra], trace_id=node.trace_id,
                     span_id=node.span_id, judge_model=client.info.model if info.kind == "judge" else "deterministic")
    try:
        result = await c.judge.judge(client, case)
    except ConfigError:
        raise  # the judge cannot run at all (model unavailable, bad setting): the run stops
    except Exception as exc:  # noqa: BLE001 - one span's failure is recorded; the run goes on
        result = JudgeFailure(c.judge.judge_name, client.info.model, f"the judge raised {type(exc).__name__}: {exc}")
    score = to_score(c.judge, result, threshold=c.threshold, trace_id=node.trace_id, span_id=node.span_id)
    return score.model_copy(update={"flags": [*score.flags, *extra]}) if extra else score


@dataclass
class SpanEvaluation:
    """One evaluation: what was read and selected, and one ``CaseRecord`` per selected span."""

    source: str
    selector: SpanSelector
    criteria: tuple[SpanCriterion, ...]
    records: list[CaseRecord]
    read: int
    traces: int
    kinds: dict[str, int]
    matched: int
    judge_model: str
    started: str
    finished: str = ""
    run_id: str = field(default_factory=lambda: f"spans-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}")

    def suite_record(self, name: str | None = None) -> SuiteRecord:
        """The suite (kind ``spans``) of the results record; its summary has every mean with a 95% CI."""
        scorers = [_scorer_info(c) for c in self.criteria]
        ids = "\n".join(r.case_id for r in self.records)
        return SuiteRecord(
            suite=name or f"spans:{self.source}", kind="spans", dataset=self.source,
            dataset_hash=hashlib.sha256(ids.encode()).hexdigest()[:16],
            task=TaskInfo(name=f"spans: {self.selector}"), scorers=scorers, gate=None,
            summary=summarize(scorers, self.records, kind="spans", gate=None), cases=list(self.records))

    def run_record(self, suite: str | None = None) -> RunRecord:
        from experiments.run import git_info, harness_version

        return RunRecord(run_id=self.run_id, started=self.started, finished=self.finished or self.started,
                         git=git_info(), harness_version=harness_version(), judge_model=self.judge_model,
                         suites=[self.suite_record(suite)])

    def counts(self, criterion: str) -> dict[str, int]:
        scores = [s for r in self.records for s in r.scores if s.criterion == criterion]
        return {
            "n": len(scores),
            "scored": sum(1 for s in scores if s.failure is None),
            "judge_failures": sum(1 for s in scores if s.failure is not None and NOT_EVALUABLE not in s.flags),
            "not_evaluable": sum(1 for s in scores if NOT_EVALUABLE in s.flags),
            "partial_trace": sum(1 for s in scores if PARTIAL_TRACE in s.flags),
        }

    def summary_lines(self) -> list[str]:
        """Per criterion: n, mean with its 95% CI, judge failures, spans that could not be judged."""
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.kinds.items()))
        lines = [(f"read {self.read} spans in {self.traces} traces of {self.source} ({kinds}); "
                  f"{self.matched} matched {str(self.selector)!r}, {len(self.records)} evaluated")]
        summary = summarize([_scorer_info(c) for c in self.criteria], self.records, kind="spans", gate=None)
        for c, s in zip(self.criteria, summary.scorers, strict=True):
            k = self.counts(c.name)
            m = s.mean
            mean = "-" if m.value is None else f"{m.value:.2f} [{m.low:.2f}, {m.high:.2f}]"
            line = (f"{c.name}: n={k['n']} scored={k['scored']} mean {mean} (95% CI) judge failures={k['judge_failures']}"
                    f" not evaluable={k['not_evaluable']}")
            if k["partial_trace"]:
                line += f" partial traces={k['partial_trace']}"
            if s.pass_rate is not None and s.pass_rate.value is not None:
                line += f" pass rate {s.pass_rate.value:.2f}"
            lines.append(line)
        return lines


def _tree(spans: Sequence[Mapping[str, Any]] | SpanTree) -> SpanTree:
    if isinstance(spans, SpanTree):
        return spans
    seen: set[str] = set()
    unique = []
    for s in spans:  # a span read twice (overlapping reads) is judged once
        sid = str(((s.get("context") or {}) if isinstance(s, Mapping) else {}).get("span_id") or "")
        if sid and sid in seen:
            continue
        seen.add(sid)
        unique.append(s)
    return span_nodes(unique)


async def evaluate_spans(spans: Sequence[Mapping[str, Any]] | SpanTree, selector: str | SpanSelector,
                         criteria: Sequence[SpanCriterion | str] | SpanCriterion | str, client: Any, *,
                         context: SpanContext | None = None, limit: int | None = None, source: str = "spans",
                         progress: bool = False) -> SpanEvaluation:
    """Judge every span ``selector`` picks from ``spans`` (span dicts or a tree) on each criterion.

    ``limit`` keeps the latest ``limit`` matched spans. Unjudgeable spans and judge failures are recorded
    in the scores (``failure`` set, never a score); only a judge that cannot run at all (``ConfigError``) raises.
    """
    sel = parse_selector(selector)
    crits = tuple(span_criterion(c) if isinstance(c, str) else c
                  for c in ([criteria] if isinstance(criteria, (str, SpanCriterion)) else criteria))
    if not crits:
        raise SpanEvalError("no criterion to judge spans on; name one, e.g. faithfulness")
    names = [c.judge.judge_name for c in crits]
    if len(set(names)) != len(names):
        raise SpanEvalError(f"two criteria are judged alike: {names}; give them distinct names")
    if limit is not None and limit < 1:
        raise SpanEvalError(f"limit must be >= 1, got {limit}")
    started = datetime.now(UTC).isoformat(timespec="seconds")
    tree = _tree(spans)
    matched = sel.select(tree)
    chosen = matched[-limit:] if limit else matched
    ctx = context or SpanContext()
    from tqdm import tqdm

    bar = tqdm(total=len(chosen) * len(crits), desc="spans judged", unit="verdict", disable=None if progress else True,
               file=sys.stderr)

    async def one(c: SpanCriterion, node: SpanNode, case: Case | str) -> Score:
        try:
            return await _score(c, client, node, case, tree.missing_ancestor(node.span_id) is not None)
        finally:
            bar.update(1)

    jobs = []
    cases: list[list[Case | str]] = []
    for node in chosen:
        per = [span_case(tree, node, c.view, ctx) for c in crits]
        cases.append(per)
        jobs += [one(c, node, case) for c, case in zip(crits, per, strict=True)]
    try:
        scores = await asyncio.gather(*jobs)
    finally:
        bar.close()
    records = []
    for i, node in enumerate(chosen):
        mine = list(scores[i * len(crits) : (i + 1) * len(crits)])
        shown = next((c for c in cases[i] if isinstance(c, Case)), None)
        meta = dict(shown.metadata) if shown else {"span_kind": node.kind, "span_name": node.name,
                                                   "trace_id": node.trace_id, "parent_id": node.parent_id}
        if (gap := tree.missing_ancestor(node.span_id)) is not None:
            meta["missing_ancestor"] = gap
        docs = node.documents if node.kind == "RETRIEVER" else []
        records.append(CaseRecord(
            case_id=node.span_id, input=shown.input if shown else (span_input_text(node) or ""),
            context=shown.context if shown else None,
            output=shown.output if shown else span_output_text(node), metadata=meta,
            task=TaskRun(output=span_output_text(node), contexts=docs, latency_s=node.latency_s or 0.0,
                         error=(node.status_message or "ERROR") if node.status == "ERROR" else None,
                         trace_id=node.trace_id, span_id=node.span_id),
            scores=mine, trace_id=node.trace_id))
    traces = len({n.trace_id for n in tree.nodes})
    return SpanEvaluation(source=source, selector=sel, criteria=crits, records=records, read=len(tree.nodes),
                          traces=traces, kinds=dict(Counter(n.kind for n in tree.nodes)), matched=len(matched),
                          judge_model=client.info.model, started=started,
                          finished=datetime.now(UTC).isoformat(timespec="seconds"))


# --- annotations -----------------------------------------------------------------------------------------


def span_annotations(evaluation: SpanEvaluation) -> tuple[list[Any], list[str]]:
    """One annotation per verdict on its span (``Score.annotation``, source ``span_eval``; failures labelled
    ``judge_failure`` / ``not_evaluable`` with the reason as the explanation), and the span ids that cannot carry
    one (not 16 hex digits)."""
    from tracing import AnnotationError

    out, skipped = [], []
    for r in evaluation.records:
        for s in r.scores:
            try:
                out.append(s.annotation(r.case_id, source=ANNOTATION_IDENTIFIER, metadata={
                    "run_id": evaluation.run_id, "selector": str(evaluation.selector)}))
            except AnnotationError:
                skipped.append(r.case_id)
    return out, sorted(set(skipped))


def write_span_annotations(annotations: Sequence[Any], *, endpoint: str | None, batch: int = 200,
                           timeout_s: float = 30.0, retry_for_s: float = 30.0) -> int:
    """Write annotations to Phoenix with the one writer; raises ``tracing.AnnotationError`` when Phoenix refuses."""
    from tracing import annotate_spans

    annotate_spans(annotations, endpoint=endpoint, sync=True, timeout_s=timeout_s, retry_for_s=retry_for_s,
                   batch=batch)
    return len(annotations)


# --- the command line ------------------------------------------------------------------------------------

EXAMPLES = """examples:
  python -m monitor.span_eval --phoenix http://127.0.0.1:6006 --project qa-app \\
      --select 'kind=RETRIEVER has=retrieval.documents' --criterion context_relevance --out results/spans-ctx.json
  python -m monitor.span_eval --project qa-app --select 'kind=LLM after=RETRIEVER' \\
      --criterion faithfulness --context ancestors --limit 50
  python -m monitor.span_eval --spans spans.jsonl --select 'kind=AGENT' --criterion helpfulness \\
      --rubric '5: solves the task 3: partly 1: does not' --context children --no-annotate

exit status: 0 every selected span judged; 1 some spans recorded a judge failure or could not be judged
(results still written); 2 error (bad option or selector, Phoenix unreachable, judge model unavailable,
annotations refused); 3 no span matched the selector (nothing written).
"""


def _when(text: str) -> datetime:
    m = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: int(m.group(1))})
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither an ISO 8601 time (2026-01-31T12:00:00Z) nor a "
                                         "duration ago (90m, 24h, 7d)") from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m monitor.span_eval", epilog=EXAMPLES,
                                description="Judge chosen spans of stored traces; annotate them in Phoenix and "
                                            "write a results file (docs/conversations.md, 'Per-span evaluation').",
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--phoenix", metavar="URL", help="Phoenix to read spans from and annotate (default: "
                   "PHOENIX_COLLECTOR_ENDPOINT, the server python -m tracing.phoenix_server started, else "
                   "http://127.0.0.1:6006)")
    p.add_argument("--project", default="default", help="Phoenix project (default: default)")
    p.add_argument("--spans", type=Path, metavar="FILE", help="read span dicts from a JSON list or JSONL file "
                   "instead of Phoenix (annotations are then written only when --phoenix is given)")
    p.add_argument("--select", required=True, metavar="SPEC", help="which spans, e.g. 'kind=LLM after=RETRIEVER' "
                   "(forms: kind=K[,K] ATTR=V has=ATTR ATTR~GLOB ATTR~/RE/ after=K under=K !TERM)")
    p.add_argument("--criterion", required=True, action="append", metavar="NAME",
                   help=f"built-in: {', '.join(CRITERIA)}; or any name with --rubric (repeatable)")
    p.add_argument("--rubric", help="the rubric of a criterion that is not built in (pointwise judge)")
    p.add_argument("--judge", choices=("pointwise", "geval"), default="pointwise", help="judge kind (default pointwise)")
    p.add_argument("--context", default="none", help="also show the judge: ancestors, children, ancestors,children "
                   "or none (default)")
    p.add_argument("--context-chars", type=_positive, default=4000,
                   help="characters of surrounding spans at most (default 4000)")
    p.add_argument("--limit", type=_positive, help="judge only the latest N matched spans")
    p.add_argument("--since", type=_when, help="spans starting at or after (ISO 8601, or a duration ago: 24h)")
    p.add_argument("--until", type=_when, help="spans starting before (ISO 8601, or a duration ago)")
    p.add_argument("--trace-id", action="append", default=[], help="only this trace (repeatable)")
    p.add_argument("--max-spans", type=_positive, default=10_000, help="spans read from Phoenix at most (default 10000)")
    p.add_argument("--threshold", type=float, help="a span passes when its score reaches this")
    p.add_argument("--judge-model", help="judge model: local, local:PATH or openai:MODEL (default: "
                   "EVALHARNESS_JUDGE_MODEL, else local)")
    p.add_argument("--suite", help="suite name in the results file (default spans:<source>)")
    p.add_argument("--out", type=Path, help="results JSON (default results/<run-id>.json)")
    p.add_argument("--no-annotate", action="store_true", help="do not write annotations to Phoenix")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _read_file(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpanEvalError(f"cannot read spans from {path}: {exc}") from exc
    stripped = text.lstrip()
    try:
        if stripped.startswith("["):
            spans = json.loads(text)
        else:
            spans = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise SpanEvalError(f"{path} is neither a JSON list nor JSONL of span dicts ({exc.msg} at line "
                            f"{exc.lineno}); write the dicts phoenix.client's spans.get_spans() returns") from exc
    if not isinstance(spans, list) or not all(isinstance(s, dict) for s in spans):
        raise SpanEvalError(f"{path} must hold span dicts (objects), as phoenix.client's spans.get_spans() returns")
    return spans


def _err(message: str) -> int:
    print(f"span_eval: ERROR {message}", file=sys.stderr)
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None, *, client: Any = None) -> int:
    """Run the command; returns the exit status (see ``EXAMPLES``). ``client``: a judges ``ModelClient`` to use."""
    from judges import JudgeError, get_model
    from tracing import AnnotationError, ProductionLogError
    from tracing._config import resolve_base_url

    args = build_parser().parse_args(argv)
    try:
        selector = SpanSelector.parse(args.select)
        if args.rubric is not None and len(args.criterion) != 1:
            raise SpanEvalError("--rubric defines one criterion; give exactly one --criterion with it")
        criteria = [span_criterion(c, rubric=args.rubric, judge=args.judge, threshold=args.threshold)
                    for c in args.criterion]
        context = SpanContext.parse(args.context, max_chars=args.context_chars)
    except (SpanSelectorError, SpanEvalError) as exc:
        return _err(str(exc))
    try:
        if args.spans is not None:
            spans, source = _read_file(args.spans), f"file:{args.spans}"
        else:
            from tracing.span_tree import spans_from_phoenix

            url = resolve_base_url(args.phoenix)
            source = f"phoenix:{args.project}"
            spans = spans_from_phoenix(args.project, base_url=url, limit=args.max_spans, timeout=60,
                                       trace_ids=args.trace_id or None, start_time=args.since, end_time=args.until)
            if len(spans) >= args.max_spans:
                print(f"span_eval: warning: read the cap of {args.max_spans} spans; older spans (and parts of "
                      "traces) may be missing: narrow with --since/--trace-id or raise --max-spans", file=sys.stderr)
    except (SpanEvalError, ProductionLogError) as exc:
        return _err(str(exc))
    try:
        tree = _tree(spans)
    except ProductionLogError as exc:
        return _err(f"the spans of {source} cannot be read: {exc}")
    matched = selector.select(tree)
    if not matched:
        kinds = Counter(n.kind for n in tree.nodes)
        found = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none"
        print(f"span_eval: no span of {source} matched {str(selector)!r} (read {len(tree.nodes)} spans; kinds: "
              f"{found}); nothing judged, nothing written", file=sys.stderr)
        return EXIT_NO_MATCH
    try:
        judge_client = client or get_model(args.judge_model)

        async def judged() -> SpanEvaluation:
            await judge_client.check()  # fail before judging anything when the model cannot be loaded or reached
            return await evaluate_spans(tree, selector, criteria, judge_client, context=context, limit=args.limit,
                                        source=source, progress=not args.no_progress)

        evaluation = asyncio.run(judged())
    except JudgeError as exc:
        return _err(f"the judge model is not available: {exc}")
    run = evaluation.run_record(args.suite)
    out = write_run(run, args.out or Path("results") / f"{run.run_id}.json")
    for line in evaluation.summary_lines():
        print(line)
    print(f"results: {out}")
    status = EXIT_OK
    if any(s.failure is not None for r in evaluation.records for s in r.scores):
        status = EXIT_FAILURES
    annotate = not args.no_annotate and (args.spans is None or args.phoenix is not None)
    if annotate:
        anns, skipped = span_annotations(evaluation)
        if skipped:
            print(f"span_eval: {len(skipped)} spans have ids Phoenix cannot annotate (not 16 hex digits), e.g. "
                  f"{skipped[0]!r}", file=sys.stderr)
        try:
            n = write_span_annotations(anns, endpoint=resolve_base_url(args.phoenix))
        except AnnotationError as exc:
            return _err(f"the results are in {out}, but the annotations were not written: {exc}")
        print(f"annotated {n} verdicts in Phoenix (identifier {ANNOTATION_IDENTIFIER!r})")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
