"""The injection detector measured: true- and false-positive rates on prompts labelled for this project.

``safety/data/injection_labelled.jsonl`` holds 30 injections worded apart from the attack library (plain,
base64, leetspeak, split characters, indirect notes to the model) and 30 benign requests, many of them
near misses ("how do I ignore a file in git", "developer mode on Android").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from safety._data import read_jsonl
from safety._rates import Rate, rate
from safety.guardrails import Check


@dataclass(frozen=True)
class LabelledPrompt:
    id: str
    text: str
    injection: bool


def labelled_prompts() -> list[LabelledPrompt]:
    """The labelled prompts written for this project."""
    return [LabelledPrompt(r["id"], r["text"], bool(r["injection"])) for r in read_jsonl("injection_labelled.jsonl")]


@dataclass(frozen=True)
class DetectorRates:
    """A check's true-positive rate (injections blocked) and false-positive rate (benign blocked), Wilson CIs."""

    check: str
    true_positive: Rate
    false_positive: Rate
    missed: tuple[str, ...]
    false_alarms: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.check}: TPR {self.true_positive}, FPR {self.false_positive}"


def detector_rates(check: Check, prompts: Sequence[LabelledPrompt] | None = None) -> DetectorRates:
    """Run ``check`` on labelled prompts (default: the project's set) and count what it blocks."""
    rows = list(prompts) if prompts is not None else labelled_prompts()
    blocked = {p.id: check.check(p.text).action == "block" for p in rows}
    pos = [p for p in rows if p.injection]
    neg = [p for p in rows if not p.injection]
    return DetectorRates(
        check.name,
        rate(sum(blocked[p.id] for p in pos), len(pos)),
        rate(sum(blocked[p.id] for p in neg), len(neg)),
        tuple(p.id for p in pos if not blocked[p.id]),
        tuple(p.id for p in neg if blocked[p.id]))
