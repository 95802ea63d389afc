"""An eval suite whose cases are generated in code (attacks, counterfactual pairs), not read from a file."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from experiments.suite import EvalSuite
from judges.case import Case
from safety.errors import SafetyError


@dataclass(frozen=True)
class GeneratedSuite(EvalSuite):
    """``EvalSuite`` over ``generated`` cases; ``dataset`` only names where they came from.

    Everything else (the task, scorers, records, baseline comparison, the gate) is the experiments
    machinery unchanged; the dataset hash is a hash of the generated cases, so a baseline made from
    other attacks or pairs is refused like a changed dataset file.
    """

    generated: tuple[Case, ...] = ()

    @cached_property
    def _cases(self) -> tuple[Case, ...]:
        if not self.generated:
            raise SafetyError(f"suite {self.name!r} has no generated cases")
        ids = [c.id for c in self.generated]
        if dupes := sorted({i for i in ids if ids.count(i) > 1}):
            raise SafetyError(f"suite {self.name!r}: case ids repeat: {dupes[:5]}")
        return self.generated

    @cached_property
    def dataset_hash(self) -> str:
        return cases_hash(self.generated)


def cases_hash(cases: Sequence[Case]) -> str:
    """A short hash of generated cases (ids, inputs, metadata): the dataset hash of a generated suite."""
    payload = json.dumps([[c.id, c.input, c.metadata] for c in cases], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
