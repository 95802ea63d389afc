"""Conversions between the records in models.py and the rows of the items table."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from .errors import ConfigError
from .models import Item, JudgeView, LabelRecord, NewItem


def item_row(it: NewItem, now: float) -> dict[str, Any]:
    if it.overlap < 1:
        raise ConfigError(f"overlap must be at least 1, got {it.overlap!r} for {it.source_id!r}")
    if not it.queue or not it.source_id:
        raise ConfigError(f"an item needs a queue and a source_id, got {it.queue!r} / {it.source_id!r}")
    return {
        "queue": it.queue,
        "source_id": it.source_id,
        "criterion": it.criterion,
        "suite": it.suite,
        "input": it.input,
        "output": it.output,
        "context": it.context,
        "expected": it.expected,
        "scale_min": None if it.scale is None else float(it.scale[0]),
        "scale_max": None if it.scale is None else float(it.scale[1]),
        "categories": json.dumps(list(it.categories)),
        "judge_score": it.judge_score,
        "judges": json.dumps([asdict(j) for j in it.judges]),
        "reason": it.reason,
        "priority": float(it.priority),
        "overlap": int(it.overlap),
        "trace_id": it.trace_id,
        "span_id": it.span_id,
        "meta": json.dumps(it.meta),
        "created": now,
        "case_key": case_key(it.source_id, it.criterion, it.suite, it.meta, it.output),
        "trace_key": trace_key(it.source_id, it.criterion, it.trace_id),
    }


#: Source-id prefixes of production items: the audit sample (``prod:``) and the monitor's verdicts (``online:``).
PRODUCTION_PREFIXES = ("prod:", "online:")


def is_production(source_id: str) -> bool:
    """Whether an item shows a production call (as opposed to an eval case, a regression or a synthetic row)."""
    return source_id.startswith(PRODUCTION_PREFIXES)


def trace_key(source_id: str, criterion: str, trace_id: str | None) -> str | None:
    """A production item's identity in its queue: its trace under its criterion, hashed to 64 hex characters.

    The app's log names a call by its CHAIN span, Phoenix by its LLM span; both carry the trace id, so keying
    by trace makes one item of one trace whichever tool queues it. None for eval and other items, and for a
    production item without a trace id (its ``(queue, source_id)`` still keys it).
    """
    if not trace_id or not is_production(source_id):
        return None
    return hashlib.sha256(f"trace\x1f{trace_id}\x1f{criterion}".encode()).hexdigest()


def case_key(source_id: str, criterion: str, suite: str | None, meta: Mapping[str, Any], output: str) -> str:
    """The case an item asks a reviewer to judge; the store lets one reviewer take one item per case.

    An eval item's case is (suite, ``meta["case_id"]``, criterion, the output shown): the escalation and
    calibration items of one verdict share it, as does a Runs-page regression item with the same output,
    while a new run's different output is a new thing to judge. Any other item (production audit rows
    are ``prod:<trace id>``) is its source id under its criterion. Hashed to 64 hex characters.
    """
    case_id = None if is_production(source_id) else meta.get("case_id")
    if case_id is not None and str(case_id):
        output_digest = hashlib.sha256(output.encode("utf-8")).hexdigest()
        parts = ["case", suite or "", str(case_id), criterion, output_digest]
    else:
        parts = ["source", source_id, criterion]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def item_from_row(row: Any) -> Item:
    scale = None if row.scale_min is None else (row.scale_min, row.scale_max)
    return Item(
        id=row.id,
        queue=row.queue,
        source_id=row.source_id,
        input=row.input,
        output=row.output,
        context=row.context,
        expected=row.expected,
        criterion=row.criterion,
        suite=row.suite,
        scale=scale,
        categories=tuple(json.loads(row.categories)),
        judge_score=row.judge_score,
        judges=tuple(JudgeView(**j) for j in json.loads(row.judges)),
        reason=row.reason,
        priority=row.priority,
        overlap=row.overlap,
        trace_id=row.trace_id,
        span_id=row.span_id,
        meta=json.loads(row.meta),
        created=row.created,
    )


def label_from_row(row: Any) -> LabelRecord:
    """A label joined with its item (the columns ``ReviewStore.labels`` selects)."""
    d = row._asdict()
    lo, hi = d.pop("scale_min"), d.pop("scale_max")
    d["scale"] = None if lo is None else (lo, hi)
    d["categories"] = tuple(json.loads(d["categories"]))
    d["meta"] = json.loads(d["meta"])
    return LabelRecord(**d)
