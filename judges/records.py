"""Reading and writing the harness's versioned JSON records (results runs, meta-evaluations).

One reader so every record file fails the same clear way: missing, a folder, empty, truncated JSON, not an
object, another schema version (older: rewrite it; newer: upgrade), or a field that does not validate, each
an error of the caller's type that names the file and says how to write a good one.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

if TYPE_CHECKING:
    from judges.stats import Estimate

M = TypeVar("M", bound=BaseModel)


class Interval(BaseModel):
    """A point estimate with its 95% confidence interval as a record stores it (``n`` values behind it; None
    where undefined, e.g. a constant rater). Declared once: the results record (``experiments.record``) and
    the meta-evaluation record (``judges.meta_eval``) both hold it. ``judges.stats.Estimate`` is the
    in-memory result of a statistic (floats, NaN where undefined); ``Interval.of`` turns one into the other."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float | None
    low: float | None
    high: float | None
    n: int

    @classmethod
    def of(cls, e: Estimate) -> Interval:
        """From a ``judges.stats.Estimate``; NaN (undefined) becomes None."""

        def num(v: float) -> float | None:
            return float(v) if math.isfinite(v) else None

        return cls(value=num(e.value), low=num(e.low), high=num(e.high), n=e.n)

    def __str__(self) -> str:
        if self.value is None:
            return "n/a"
        if self.low is None or self.high is None:
            return f"{self.value:.3f}"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}]"


def load_record(path: str | os.PathLike[str], model: type[M], *, version: int, what: str, rewrite: str,
                error: type[Exception]) -> M:
    """Read ``path`` as a ``model`` of schema ``version``.

    ``what`` names the file kind ("results file"), ``rewrite`` says how to write a current one ("rerun
    `pytest evals/`"); problems raise ``error``. A file without ``schema_version`` counts as version 1.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise error(f"{what} {p} does not exist; {rewrite} to write one") from exc
    except IsADirectoryError as exc:
        raise error(f"{p} is a folder; name a {what} inside it") from exc
    if not text.strip():
        raise error(f"{what} {p} is empty; {rewrite} to write it again")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{what} {p} is not JSON ({exc.msg} at line {exc.lineno}); it may be truncated: "
                    f"{rewrite} to write it again") from exc
    if not isinstance(raw, dict):
        raise error(f"{what} {p} holds a JSON {type(raw).__name__}, not an object")
    found = raw.get("schema_version", 1)
    if found != version:
        older = isinstance(found, int) and found < version
        raise error(f"{what} {p} has schema version {found!r}; this harness reads version {version}. "
                    + (f"It was written by an older harness: {rewrite} to write a current file." if older
                       else "It was written by a newer harness: upgrade evalharness to read it."))
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise error(f"{what} {p} does not match its schema at {where}: {err['msg']}") from exc


def write_record(record: BaseModel, path: str | os.PathLike[str]) -> Path:
    """Write ``record`` to ``path`` atomically (readers never see half a file)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(record.model_dump_json(indent=1), encoding="utf-8")
    tmp.replace(p)
    return p
