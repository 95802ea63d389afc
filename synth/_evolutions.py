"""Named evolutions (ways to make a question harder), personas (who asks, and how), and the mix.

An evolution rewrites a seed question under one instruction. ``needs_two`` evolutions (multi-context,
comparative) are given a second context from another source; ``needs_context`` ones cannot be applied
to production inputs, which have none.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from synth.errors import SynthConfigError


@dataclass(frozen=True)
class Evolution:
    """One way to make a question harder: a name and the instruction the generator follows."""

    name: str
    instruction: str
    needs_two: bool = False
    needs_context: bool = True


EVOLUTIONS: dict[str, Evolution] = {
    e.name: e
    for e in (
        Evolution("reasoning", "Rewrite the question so that answering it needs two or more steps of reasoning "
                  "over the facts in the context, not a lookup of one sentence."),
        Evolution("multi_context", "Write a question whose answer needs facts from BOTH contexts; neither "
                  "context alone is enough.", needs_two=True),
        Evolution("concretizing", "Rewrite the question to be about a concrete, specific case (a named "
                  "situation, number or example) instead of a general idea.", needs_context=False),
        Evolution("constrained", "Add a constraint to the question (a limit on length, format, time or "
                  "scope) that the answer must respect.", needs_context=False),
        Evolution("comparative", "Write a question that asks to compare or contrast what the two contexts "
                  "say.", needs_two=True),
        Evolution("hypothetical", "Rewrite the question as a what-if scenario that the context still lets "
                  "one answer.", needs_context=False),
        Evolution("in_breadth", "Write a new question on a different aspect of the same topic as the "
                  "question, still answerable from the context.", needs_context=False),
    )
}


@dataclass(frozen=True)
class WriterPersona:
    """Who asks and how: widens the style of the generated inputs."""

    name: str
    description: str


PERSONAS: dict[str, WriterPersona] = {
    p.name: p
    for p in (
        WriterPersona("novice", "a beginner who uses plain everyday words"),
        WriterPersona("expert", "an expert who asks tersely and precisely"),
        WriterPersona("student", "a student preparing for an exam"),
        WriterPersona("busy_professional", "a busy professional who wants a short practical answer"),
    )
}


def parse_mix(spec: str | Mapping[str, float] | None) -> dict[str, float]:
    """The evolution distribution, normalised to sum 1: ``"reasoning=2,comparative=1"`` or a mapping.

    ``None`` gives every evolution the same weight. Unknown names and negative weights are a SynthConfigError.
    """
    if spec is None:
        weights: dict[str, float] = dict.fromkeys(EVOLUTIONS, 1.0)
    elif isinstance(spec, str):
        weights = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, _, value = part.partition("=")
            try:
                weights[name.strip()] = float(value) if value else 1.0
            except ValueError as exc:
                raise SynthConfigError(f"evolution weight {part!r} is not a number; write name=weight") from exc
    else:
        weights = {k: float(v) for k, v in spec.items()}
    unknown = sorted(set(weights) - set(EVOLUTIONS))
    if unknown:
        raise SynthConfigError(f"unknown evolutions {unknown}; use {sorted(EVOLUTIONS)}")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise SynthConfigError(f"evolution weights must be >= 0 with a positive sum, got {weights}")
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items() if w > 0}


def choose_evolution(mix: Mapping[str, float], rng: random.Random, *, has_context: bool, has_partner: bool) -> str:
    """Draw an evolution from ``mix``, leaving out those the context cannot support."""
    usable = {k: w for k, w in mix.items()
              if (has_context or not EVOLUTIONS[k].needs_context) and (has_partner or not EVOLUTIONS[k].needs_two)}
    if not usable:
        raise SynthConfigError(f"no evolution in the mix {sorted(mix)} fits this input "
                          "(production inputs have no context; multi-context ones need two sources)")
    names = sorted(usable)
    return rng.choices(names, weights=[usable[k] for k in names])[0]
