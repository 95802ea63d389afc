"""The thing a judge or scorer looks at: one case of a dataset, with the output to judge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Case:
    """One thing to judge. Pointwise judges read ``output``; pairwise judges read ``output_a``/``output_b``."""

    id: str
    input: str
    output: str | None = None
    context: str | None = None
    expected: str | None = None
    output_a: str | None = None
    output_b: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
