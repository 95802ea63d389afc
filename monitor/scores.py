"""The scores table: one row per online verdict, keyed by trace id and time, as a Parquet dataset.

Layout: ``<path>/day=YYYY-MM-DD/part-<run>-<n>.parquet`` (Hive partitions by the trace's UTC day, so a
window reads only its days). ``pandas.read_parquet(path)``, DuckDB and ``python -m drift report`` read it
as one table. A batch of verdicts is first written under ``<path>/_pending/`` (ignored by readers: the
leading underscore), then written back to Phoenix, then moved into place; a run killed in between
finds the pending part next time and finishes it, so no trace is judged twice.

The table is also the ledger of what has been judged: :meth:`ScoresTable.judged_keys`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from experiments.record import Score
from monitor.checkpoint import fsync_dir

__all__ = ["SCORE_COLUMNS", "ScoresTable", "TraceScore"]


@dataclass(frozen=True)
class TraceScore:
    """One evaluator's verdict on one stored trace, a row of the scores table: the one verdict record
    (``experiments.record.Score``, decided pass/fail by ``experiments.suite.to_score`` as a CI case is) plus
    where it came from (trace keys, time, sample rate, run). ``review_reason`` is set when the verdict was
    doubtful enough for the review queue; ``input``/``output`` are kept only then.
    """

    evaluator: str
    version: str
    key: str
    trace_id: str
    span_id: str | None
    timestamp: datetime
    judged_at: datetime
    run_id: str
    sample_rate: float
    result: Score
    review_reason: str | None = None
    model: str | None = None
    topic: str | None = None
    language: str | None = None
    input: str | None = field(default=None, repr=False)
    output: str | None = field(default=None, repr=False)

    @property
    def ledger_key(self) -> tuple[str, str, str]:
        return (self.evaluator, self.version, self.key)


def _schema() -> Any:
    import pyarrow as pa

    ts = pa.timestamp("us", tz="UTC")
    return pa.schema([
        ("evaluator", pa.string()), ("version", pa.string()), ("criterion", pa.string()), ("judge", pa.string()),
        ("judge_model", pa.string()), ("key", pa.string()), ("trace_id", pa.string()), ("span_id", pa.string()),
        ("timestamp", ts), ("judged_at", ts), ("run_id", pa.string()), ("sample_rate", pa.float64()),
        ("score", pa.float64()), ("label", pa.string()), ("explanation", pa.string()),
        ("prob_source", pa.string()), ("entropy", pa.float64()), ("label_probs", pa.string()),
        ("flags", pa.list_(pa.string())), ("failure", pa.string()), ("passed", pa.bool_()),
        ("review_reason", pa.string()), ("model", pa.string()), ("topic", pa.string()), ("language", pa.string()),
        ("input", pa.string()), ("output", pa.string()),
    ])  # fmt: skip


#: The table's columns: the trace keys, then the ``Score`` fields flattened (names kept from the first layout).
SCORE_COLUMNS: tuple[str, ...] = (
    "evaluator", "version", "criterion", "judge", "judge_model", "key", "trace_id", "span_id", "timestamp",
    "judged_at", "run_id", "sample_rate", "score", "label", "explanation", "prob_source", "entropy", "label_probs",
    "flags", "failure", "passed", "review_reason", "model", "topic", "language", "input", "output",
)  # fmt: skip
_KEYS = ("evaluator", "version", "key", "trace_id", "span_id", "timestamp", "judged_at", "run_id", "sample_rate",
         "review_reason", "model", "topic", "language", "input", "output")


def _row(v: TraceScore) -> dict[str, Any]:
    # getattr, not dataclasses.asdict: asdict deep-copies every field, which cost half a millisecond a verdict
    row = {name: getattr(v, name) for name in _KEYS}
    r = v.result
    row.update(criterion=r.criterion, judge=r.scorer, judge_model=r.judge_model, score=r.score, label=r.label,
               explanation=r.reasoning, prob_source=r.prob_source, entropy=r.entropy,
               label_probs=json.dumps(r.label_probs) if r.label_probs is not None else None, flags=list(r.flags),
               failure=r.failure, passed=r.passed)
    return row


def _verdict(row: dict[str, Any]) -> TraceScore:
    result = Score(scorer=row.get("judge") or "", criterion=row.get("criterion") or "", kind="judge",
                   score=row.get("score"), passed=row.get("passed"), label=row.get("label"),
                   label_probs=json.loads(row["label_probs"]) if row.get("label_probs") else None,
                   prob_source=row.get("prob_source"), entropy=row.get("entropy"), reasoning=row.get("explanation"),
                   judge_model=row.get("judge_model") or "", failure=row.get("failure"),
                   flags=list(row.get("flags") or ()), trace_id=row.get("trace_id"), span_id=row.get("span_id"))
    return TraceScore(**{k: row.get(k) for k in _KEYS}, result=result)  # type: ignore[arg-type]


class ScoresTable:
    """The Parquet dataset at ``path`` (created on first write)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.pending_dir = self.path / "_pending"

    # ------------------------------------------------------------------ writing

    def write_pending(self, verdicts: Sequence[TraceScore], name: str) -> list[Path]:
        """Write ``verdicts`` as pending parts named ``name`` (one per UTC day); returns their paths."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        by_day: dict[str, list[dict[str, Any]]] = {}
        for v in verdicts:
            by_day.setdefault(v.timestamp.date().isoformat(), []).append(_row(v))
        paths = []
        for day, rows in sorted(by_day.items()):
            folder = self.pending_dir / f"day={day}"
            folder.mkdir(parents=True, exist_ok=True)
            final = folder / f"{name}.parquet"
            tmp = folder / f".{name}.parquet.tmp"
            pq.write_table(pa.Table.from_pylist(rows, schema=_schema()), tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
            fsync_dir(folder)
            paths.append(final)
        return paths

    def pending(self) -> list[Path]:
        """Pending parts left by this or an earlier (killed or failed) run, oldest first."""
        if not self.pending_dir.is_dir():
            return []
        return sorted(self.pending_dir.glob("day=*/*.parquet"), key=lambda p: p.name)

    def read_part(self, part: Path) -> list[TraceScore]:
        """The verdicts of one part file."""
        import pyarrow.parquet as pq

        return [_verdict(r) for r in pq.read_table(part, schema=_schema()).to_pylist()]

    def commit(self, part: Path) -> Path:
        """Move a pending part into the table (atomic rename); it is then visible to every reader."""
        day = part.parent.name
        folder = self.path / day
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / part.name
        os.replace(part, final)
        fsync_dir(folder)
        fsync_dir(part.parent)
        return final

    # ------------------------------------------------------------------ reading

    def _dataset(self) -> Any:
        import pyarrow.dataset as ds

        if not self.path.is_dir() or not any(self.path.glob("day=*/*.parquet")):
            return None
        return ds.dataset(self.path, format="parquet", partitioning="hive", schema=_with_day(_schema()))

    def _filter(self, since: datetime | None, until: datetime | None) -> Any:
        import pyarrow.compute as pc

        cond = None
        for op, bound in (("ge", since), ("lt", until)):
            if bound is None:
                continue
            day = pc.field("day")
            day_cond = day >= bound.date().isoformat() if op == "ge" else day <= bound.date().isoformat()
            ts = pc.field("timestamp") >= bound if op == "ge" else pc.field("timestamp") < bound
            both = day_cond & ts
            cond = both if cond is None else cond & both
        return cond

    def judged_keys(self, since: datetime | None = None, until: datetime | None = None) -> set[tuple[str, str, str]]:
        """``(evaluator, version, key)`` of every verdict stored or pending with a timestamp in range."""
        keys: set[tuple[str, str, str]] = set()
        dataset = self._dataset()
        if dataset is not None:
            table = dataset.to_table(columns=["evaluator", "version", "key"], filter=self._filter(since, until))
            cols = table.to_pydict()
            keys.update(zip(cols["evaluator"], cols["version"], cols["key"], strict=True))
        for part in self.pending():
            keys.update(v.ledger_key for v in self.read_part(part)
                        if (since is None or v.timestamp >= since) and (until is None or v.timestamp < until))
        return keys

    def verdicts(self, since: datetime | None = None, until: datetime | None = None, *,
                 doubtful_only: bool = False) -> list[TraceScore]:
        """Stored verdicts in range as :class:`TraceScore` records (only those with a review reason, if asked)."""
        dataset = self._dataset()
        if dataset is None:
            return []
        import pyarrow.compute as pc

        cond = self._filter(since, until)
        if doubtful_only:
            doubtful = pc.field("review_reason").is_valid()
            cond = doubtful if cond is None else cond & doubtful
        table = dataset.to_table(columns=list(SCORE_COLUMNS), filter=cond)
        return [_verdict(r) for r in table.to_pylist()]

    def frame(self, since: datetime | None = None, until: datetime | None = None,
              columns: Iterable[str] | None = None) -> Any:
        """Stored verdicts with ``since <= timestamp < until`` as a pandas DataFrame (empty when none)."""
        import pandas as pd

        cols = list(columns) if columns is not None else list(SCORE_COLUMNS)
        dataset = self._dataset()
        if dataset is None:
            return _schema().empty_table().select(cols).to_pandas()
        table = dataset.to_table(columns=cols, filter=self._filter(since, until))
        frame = table.to_pandas()
        return frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)


def _with_day(schema: Any) -> Any:
    import pyarrow as pa

    return schema.append(pa.field("day", pa.string()))
