"""Distinct and balanced: de-duplication by meaning and per-source balance, as small pure functions.

Embeddings are unit vectors (the offline MiniLM of ``embed`` by default; any object
with ``embed(texts) -> (n, d) array`` fits), so cosine similarity is a dot product.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from typing import Protocol, TypeVar

import numpy as np

#: The near-duplicate line of the report (the issue's "cosine > 0.95").
NEAR_DUPLICATE_COSINE = 0.95

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class Embedder(Protocol):
    """Anything that embeds texts as unit-normalised rows of a matrix."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class DedupIndex:
    """The embeddings kept so far; a new text is a duplicate at cosine >= ``threshold`` with any of them.

    ``reference`` embeddings (the golden set) count as kept but are not part of the new set.
    """

    def __init__(self, threshold: float, reference: np.ndarray | None = None) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f"dedup threshold is a cosine in [-1, 1], got {threshold}")
        self.threshold = threshold
        self._ref = reference if reference is not None and len(reference) else None
        self._kept: list[np.ndarray] = []

    def nearest(self, vec: np.ndarray) -> tuple[float, str]:
        """The highest cosine to a kept text and where that text is ("set", "golden" or "" when empty)."""
        best, where = -1.0, ""
        if self._kept:
            s = float(np.max(np.stack(self._kept) @ vec))
            best, where = s, "set"
        if self._ref is not None:
            s = float(np.max(self._ref @ vec))
            if s > best:
                best, where = s, "golden"
        return best, where

    def is_duplicate(self, vec: np.ndarray) -> tuple[bool, str]:
        """Whether ``vec`` duplicates a kept or golden text, and which ("set" / "golden")."""
        sim, where = self.nearest(vec)
        return sim >= self.threshold, where

    def add(self, vec: np.ndarray) -> None:
        self._kept.append(np.asarray(vec, dtype=np.float32))


def near_duplicate_share(vectors: np.ndarray, threshold: float = NEAR_DUPLICATE_COSINE) -> float:
    """Share of rows whose cosine with an earlier row is above ``threshold`` (0 for fewer than two rows)."""
    n = len(vectors)
    if n < 2:
        return 0.0
    sims = vectors @ vectors.T
    dup = sum(1 for i in range(1, n) if float(np.max(sims[i, :i])) > threshold)
    return dup / n


def max_min_ratio(counts: Mapping[K, int]) -> float | None:
    """The largest count over the smallest, over sources with at least one row (None when there are none)."""
    covered = [c for c in counts.values() if c > 0]
    return max(covered) / min(covered) if covered else None


def balance(rows: Sequence[R], key: Sequence[K], max_ratio: float) -> list[R]:
    """Drop the latest rows of over-represented sources until max/min <= ``max_ratio``.

    ``key[i]`` is row i's source. Each source keeps at most ``floor(max_ratio * min)`` rows, where
    ``min`` is the smallest source's count; earlier rows are kept first.
    """
    if max_ratio < 1:
        raise ValueError(f"max_ratio must be >= 1, got {max_ratio}")
    if len(rows) != len(key):
        raise ValueError("balance needs one source key per row")
    counts = Counter(key)
    if not counts:
        return []
    cap = int(max_ratio * min(counts.values()))
    seen: Counter[K] = Counter()
    out: list[R] = []
    for row, k in zip(rows, key, strict=True):
        seen[k] += 1
        if seen[k] <= cap:
            out.append(row)
    return out
