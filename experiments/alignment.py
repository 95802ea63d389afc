"""A judge's evidence of agreement with humans, for the alignment gate: meta-evaluation files, found by judge.

A folder (``evals/judge_evidence/`` by default) holds results files of ``python -m judges meta-eval``. The
evidence for a suite's gating judge is the newest file whose judge configuration (its fingerprint) and
judge model are the suite's; a file for the same judge name under another configuration or model is
named in the note, so the summary says why it does not count.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from experiments.record import Alignment, Interval, ScorerInfo
from judges.errors import JudgeError
from judges.meta_eval import MetaEvalRecord, load_meta_eval

log = logging.getLogger(__name__)

#: Where a repository keeps its judges' meta-evaluations, relative to its root.
DEFAULT_EVIDENCE = "evals/judge_evidence"


def load_evidence(folder: str | os.PathLike[str] | None, *, root: str | os.PathLike[str] | None = None,
                  ) -> list[tuple[MetaEvalRecord, str]]:
    """Every meta-evaluation file in ``folder`` (none when it does not exist), named relative to ``root`` when
    inside it; unreadable files are logged and skipped."""
    if folder is None:
        return []
    p = Path(folder)
    if not p.is_dir():
        return []
    base = Path(root).resolve() if root is not None else None
    out = []
    for f in sorted(p.glob("*.json")):
        shown = f.resolve()
        name = str(shown.relative_to(base)) if base is not None and shown.is_relative_to(base) else str(f)
        try:
            out.append((load_meta_eval(f), name))
        except JudgeError as exc:
            log.warning("judge evidence %s skipped: %s", f, exc)
    return out


def _estimate(v: float | None, low: float | None, high: float | None, n: int) -> Interval:
    return Interval(value=v, low=low, high=high, n=n)


def alignment_of(evidence: Sequence[tuple[MetaEvalRecord, str]], info: ScorerInfo, judge_model: str) -> Alignment:
    """The evidence for the scorer ``info`` on ``judge_model``: the newest matching meta-evaluation, or why none matches."""
    matches = [(r, src) for r, src in evidence
               if r.judge_fingerprint == info.fingerprint and (not judge_model or r.judge_model == judge_model)]
    if not matches:
        same_name = sorted(((r, src) for r, src in evidence if r.judge == info.scorer),
                           key=lambda m: m[0].judge_fingerprint == info.fingerprint)  # the closest last
        if same_name:
            r, src = same_name[-1]
            what = ("another judge model" if r.judge_fingerprint == info.fingerprint
                    else "another configuration of the judge")
            note = (f"{src} measured {what} ({r.judge_model}, fingerprint {r.judge_fingerprint}; this suite: "
                    f"{judge_model or '?'}, fingerprint {info.fingerprint})")
        else:
            note = f"no meta-evaluation of {info.scorer} (fingerprint {info.fingerprint}) on {judge_model or 'this model'}"
        return Alignment(judge=info.scorer, judge_model=judge_model, note=note)
    r, src = max(matches, key=lambda m: m[0].created)
    a, e = r.headline.agreement, r.error_rate
    return Alignment(judge=info.scorer, judge_model=r.judge_model, source=src, n_labels=r.n_labels,
                     metric=r.agreement_metric, agreement=_estimate(a.value, a.low, a.high, a.n),
                     error_rate=_estimate(e.value, e.low, e.high, e.n))
