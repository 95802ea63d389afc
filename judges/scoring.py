"""Turning model output into label distributions and scores.

Three sources, recorded on every judgement:

- ``exact``: the provider scored every label continuation (local llama.cpp);
- ``top_logprobs``: an API's per-token top alternatives at the position where the label starts,
  renormalised over the valid labels; multi-token labels ("10", or " 5" split as space + digit)
  are followed token by token along the generated path;
- ``sampling``: n completions at temperature 1, parsed and counted, when a provider has no logprobs.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

from judges.types import TokenLogprob


def renormalise(weights: Mapping[str, float]) -> dict[str, float] | None:
    """Scale non-negative weights to sum to 1; None when they are all zero."""
    total = float(sum(weights.values()))
    if total <= 0 or not math.isfinite(total):
        return None
    return {k: float(v) / total for k, v in weights.items()}


def weighted_score(probs: Mapping[str, float], values: Mapping[str, float] | None = None) -> float:
    """G-Eval's score: sum over labels of p(label) * value(label), with probabilities renormalised."""
    norm = renormalise(probs)
    if norm is None:
        raise ValueError("weighted_score needs some probability mass on the labels")
    return float(sum(p * (values[k] if values is not None else float(k)) for k, p in norm.items()))


def _label_regex(labels: Sequence[str]) -> re.Pattern[str]:
    return _label_pattern(tuple(labels))


@functools.lru_cache(maxsize=256)
def _label_pattern(labels: tuple[str, ...]) -> re.Pattern[str]:
    alts = "|".join(re.escape(lab) for lab in sorted(labels, key=len, reverse=True))
    # a label standing alone: not glued to other letters/digits (so "10" is not read as "1")
    return re.compile(rf"(?<![A-Za-z0-9])({alts})(?![A-Za-z0-9])")


@functools.lru_cache(maxsize=64)
def _marker_pattern(marker: str) -> re.Pattern[str]:
    return re.compile(re.escape(marker), re.IGNORECASE)


def parse_label(text: str, labels: Sequence[str], *, marker: str | None = None) -> tuple[str, int] | None:
    """First valid label in ``text`` (after ``marker`` when given, e.g. "Score:"), with its character offset."""
    start = 0
    if marker:
        m = _marker_pattern(marker).search(text)
        if m is None:
            return None
        start = m.end()
    m = _label_regex(labels).search(text, start)
    return (m.group(1), m.start(1)) if m else None


def token_index_at(logprobs: Sequence[TokenLogprob], char_offset: int) -> int | None:
    """Index of the token that covers ``char_offset`` in the concatenated token text."""
    pos = 0
    for i, t in enumerate(logprobs):
        if pos <= char_offset < pos + len(t.token):
            return i
        pos += len(t.token)
    return None


def _alternatives(tok: TokenLogprob) -> dict[str, float]:
    alts: dict[str, float] = {}
    get, inf = alts.get, -math.inf
    for t, lp in tok.top:
        if lp > get(t, inf):
            alts[t] = lp
    alts.setdefault(tok.token, tok.logprob)
    return alts


class _Alternatives(dict[int, dict[str, float]]):
    """Each position's alternatives, built once for all the labels of one distribution."""

    def __init__(self, lps: Sequence[TokenLogprob]) -> None:
        super().__init__()
        self.lps = lps

    def __missing__(self, i: int) -> dict[str, float]:
        alts = self[i] = _alternatives(self.lps[i])
        return alts


def _spell(label: str, lps: Sequence[TokenLogprob], i: int, first: bool, labels: Sequence[str],
           memo: _Alternatives | None = None) -> float:
    """P(tokens from position i spell ``label`` and stop), following the generated path for continuations."""
    if i >= len(lps):
        return 0.0
    memo = memo if memo is not None else _Alternatives(lps)
    p = 0.0
    for tok, lp in memo[i].items():
        t = tok.lstrip() if first else tok
        if not t:
            continue
        if t == label:
            p += math.exp(lp) * _stops_here(lps, i, tok, t, labels, memo)
        elif label.startswith(t) and tok == lps[i].token:
            # only the generated token has a known continuation distribution
            p += math.exp(lp) * _spell(label[len(t):], lps, i + 1, False, labels, memo)
    return p


def _stops_here(lps: Sequence[TokenLogprob], i: int, tok: str, spelled: str, labels: Sequence[str],
                memo: _Alternatives) -> float:
    """Probability that nothing extends ``spelled`` into a longer label (e.g. "1" versus "10")."""
    longer = [lab for lab in labels if lab != spelled and lab.startswith(spelled)]
    if not longer or tok != lps[i].token or i + 1 >= len(lps):
        return 1.0
    extend = sum(
        math.exp(lp)
        for nxt, lp in memo[i + 1].items()
        if nxt and any(lab.startswith(spelled + nxt) for lab in longer)
    )
    return max(0.0, 1.0 - extend)


@functools.lru_cache(maxsize=256)
def _extended(labels: tuple[str, ...]) -> frozenset[str]:
    """The labels that begin a longer label ("1" when "10" is a label)."""
    return frozenset(a for a in labels if any(b != a and b.startswith(a) for b in labels))


def probs_from_top_logprobs(
    logprobs: Sequence[TokenLogprob], labels: Sequence[str], start: int
) -> dict[str, float] | None:
    """Label distribution from top-logprobs at token ``start`` (leading whitespace tokens are skipped).

    One pass over the alternatives at the label's position: an alternative that spells a whole label counts for
    it (unless a longer label goes on from it); the generated token, when it spells only the start of labels,
    counts for each of them as far as the following tokens spell the rest (``_spell``)."""
    i = start
    while i < len(logprobs) and not logprobs[i].token.strip():
        i += 1
    raw = dict.fromkeys(labels, 0.0)
    if i < len(logprobs):
        memo = _Alternatives(logprobs)
        alts = memo[i]
        extended = _extended(tuple(labels))
        for tok, lp in alts.items():
            t = tok.lstrip()
            if t in raw:
                stops = _stops_here(logprobs, i, tok, t, labels, memo) if t in extended else 1.0
                raw[t] += math.exp(lp) * stops
        generated = logprobs[i].token
        g = generated.lstrip()
        if g:
            for lab in labels:
                if lab != g and lab.startswith(g):
                    raw[lab] += math.exp(alts[generated]) * _spell(lab[len(g):], logprobs, i + 1, False, labels, memo)
    return renormalise(raw)


def probs_from_samples(texts: Sequence[str], labels: Sequence[str], *, marker: str | None = None) -> dict[str, float] | None:
    """Label distribution from n sampled completions; unparseable samples are left out."""
    found = [parse_label(t, labels, marker=marker) for t in texts]
    counts = Counter(f[0] for f in found if f is not None)
    return renormalise({lab: float(counts.get(lab, 0)) for lab in labels})
