"""The results file of a meta-evaluation: one typed record from the command to the gate and the dashboard.

Versioned (``schema_version``); ``load_meta_eval`` refuses another version with the fix. The gate reads
``judge_fingerprint``, ``judge_model``, ``n_labels`` and ``headline`` (its ``agreement`` and ``accuracy``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from judges.errors import JudgeError
from judges.records import Interval, load_record, write_record

SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Confusion(_Model):
    """Counts of (human label, judge label); rows are human, columns judge."""

    labels: list[str]
    counts: list[list[int]]


class Bin(_Model):
    """A reliability-diagram bin: its range, cases, mean judge value and mean human value."""

    low: float
    high: float
    n: int
    predicted: float
    observed: float


class Variant(_Model):
    """One way of turning the judge's answers into verdicts, and how well those verdicts agree with humans."""

    name: str
    description: str
    n: int
    accuracy: Interval  # share of cases where the judge's label equals the human label
    agreement: Interval  # Cohen's kappa (preferences) or quadratic-weighted kappa (ordinal scores)
    tie_rate: Interval | None = None
    consistency: Interval | None = None  # both orders name the same candidate (pairwise)
    spearman: Interval | None = None
    spearman_p: float | None = None
    kendall: Interval | None = None
    kendall_p: float | None = None
    mae: Interval | None = None
    calibration_error: float | None = None  # binned ECE of P(A) (pairwise) or of the score (ordinal, / scale width)
    reliability: list[Bin] = []
    confusion: Confusion


class SelfPreference(_Model):
    """Does the judge favour outputs of its own model family more than the humans do?"""

    judge_family: str
    n: int  # cases where the family is known to be involved
    judge: Interval  # pairwise: rate of preferring the own-family output; ordinal: mean judge - human on own outputs
    human: Interval  # pairwise: the humans' rate on the same pairs; ordinal: mean judge - human on other outputs
    gap: Interval  # judge - human


class Bias(_Model):
    """Bias probes of the judge's raw answers; a line in ``notes`` for every probe that could not run."""

    slot_a_rate: Interval | None = None  # single-order answers naming the first slot (0.5 = no slot preference)
    position_consistency: Interval | None = None
    length_correlation: Interval | None = None  # Spearman: verdict (or score) vs length (difference A - B)
    human_length_correlation: Interval | None = None  # the same for the human labels, for comparison
    self_preference: SelfPreference | None = None
    notes: list[str] = []


class CurvePoint(_Model):
    coverage: float
    risk: float
    threshold: float


class Abstention(_Model):
    """What abstaining on the least confident verdicts buys: the coverage–risk curve and the 80% point."""

    confidence: str  # what ranks the verdicts, e.g. "margin between the two likeliest labels"
    curve: list[CurvePoint]
    coverage: float
    risk: Interval  # disagreement among the verdicts kept
    full: Interval  # disagreement without abstention
    change: Interval  # risk - full, paired
    threshold: float  # AbstainBand(min_margin=threshold) keeps about this coverage


class FewShot(_Model):
    """Agreement on held-out cases without and with few-shot examples from human corrections."""

    source: str
    k: int
    examples: list[str]  # case ids (or file rows) shown as examples
    n_train: int
    n_test: int
    before: Interval  # accuracy without examples on the held-out cases
    after: Interval
    change: Interval  # after - before, paired over the held-out cases
    pvalue: float | None  # exact McNemar test on the cases that changed
    agreement_before: Interval
    agreement_after: Interval


class Dataset(_Model):
    name: str
    kind: str
    sha256: str
    rows: int
    labelled: int  # rows with a human label
    evaluated: int  # of those, judged (after --limit)


class CaseRow(_Model):
    """One human-labelled case: what was judged, the human label, the judge's raw answers and headline verdict."""

    case_id: str
    input: str
    output: str | None = None
    output_a: str | None = None
    output_b: str | None = None
    human: str | float
    verdict: str | float | None = None  # the configured judge's label (pairwise) or score (ordinal)
    probs: dict[str, float] | None = None  # ordinal: the raw label distribution
    order1_probs: dict[str, float] | None = None  # pairwise: raw slot distributions, A first then B first
    order2_probs: dict[str, float] | None = None
    confidence: float | None = None
    failure: str | None = None


class MetaEvalRecord(_Model):
    """A judge measured against human labels (``python -m judges meta-eval``)."""

    schema_version: int = SCHEMA_VERSION
    created: str
    harness_version: str = ""
    judge: str  # the judge's name, e.g. "pairwise:helpfulness and correctness"
    judge_kind: str
    judge_fingerprint: str
    judge_config: dict[str, Any] = {}
    judge_model: str
    criterion: str
    dataset: Dataset
    labels: Literal["preference", "ordinal"]
    agreement_metric: Literal["cohen_kappa", "quadratic_kappa"]
    n_labels: int  # cases with a human label and a judge verdict behind the headline
    failures: int = 0
    majority_rate: Interval | None = None  # share of the most common human label: the accuracy of a constant judge
    headline: Variant  # the judge as configured
    rule_gain: Interval | None = None  # pairs: accuracy of mean_prob minus per_order on the same pairs (paired)
    variants: list[Variant] = []
    prior: dict[str, float] | None = None
    isotonic_map: dict[str, list[float]] | None = None  # fitted on every case: IsotonicMap.load(this file)
    bias: Bias = Bias()
    abstention: Abstention | None = None
    few_shot: FewShot | None = None
    cases: list[CaseRow] = []
    machine: str = ""
    wall_s: float = 0.0
    model_calls: int = 0
    cache_hits: int = 0  # answers read from the call cache (a rerun's wall time is not the measurement's)

    @property
    def error_rate(self) -> Interval:
        """Disagreement with the human labels (1 - accuracy) with its CI."""
        a = self.headline.accuracy
        flip = (lambda v: None if v is None else 1.0 - v)
        return Interval(value=flip(a.value), low=flip(a.high), high=flip(a.low), n=a.n)


def load_meta_eval(path: str | os.PathLike[str]) -> MetaEvalRecord:
    """Read and validate a meta-evaluation file; every problem is a JudgeError naming the file and the fix."""
    return load_record(path, MetaEvalRecord, version=SCHEMA_VERSION, what="meta-evaluation file",
                       rewrite="run `python -m judges meta-eval`", error=JudgeError)


def write_meta_eval(record: MetaEvalRecord, path: str | os.PathLike[str]) -> Path:
    """Write ``record`` to ``path`` atomically."""
    return write_record(record, path)
