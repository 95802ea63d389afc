"""Deterministic sampling by hashing ids: the same id is always in or out, so refills add nothing twice."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

from .errors import ConfigError

__all__ = ["hash_sample", "stratified_hash_sample", "unit_hash"]

T = TypeVar("T")


def unit_hash(key: str) -> float:
    """Map a string to a stable number in [0, 1) (first 64 bits of its SHA-256)."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") / 2.0**64


def _check_rate(rate: float) -> None:
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"sample rate must be between 0 and 1 (0.02 means 2%), got {rate!r}")


def hash_sample(rows: Iterable[T], key: Callable[[T], str], rate: float, *, salt: str = "") -> list[T]:
    """Rows whose hashed key falls below ``rate``: about ``rate`` of them, the same ones every time."""
    _check_rate(rate)
    return [r for r in rows if unit_hash(salt + key(r)) < rate]


def stratified_hash_sample(
    rows: Sequence[T],
    key: Callable[[T], str],
    stratum: Callable[[T], Hashable],
    rate: float,
    *,
    min_per_stratum: int = 1,
    salt: str = "",
) -> list[T]:
    """Like :func:`hash_sample`, but every stratum gets at least ``min_per_stratum`` rows.

    Small strata (a rare topic or language) would otherwise often get none. The extra rows are the
    stratum's lowest hashes, so the choice is still deterministic.
    """
    _check_rate(rate)
    if min_per_stratum < 0:
        raise ConfigError(f"min_per_stratum must be >= 0, got {min_per_stratum!r}")
    groups: dict[Hashable, list[tuple[float, int]]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[stratum(r)].append((unit_hash(salt + key(r)), i))
    chosen: list[int] = []
    for members in groups.values():
        members.sort()
        take = sum(1 for h, _ in members if h < rate)
        take = max(take, min(min_per_stratum, len(members)))
        chosen.extend(i for _, i in members[:take])
    return [rows[i] for i in sorted(chosen)]
