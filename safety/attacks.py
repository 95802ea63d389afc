"""The attack library: templates written for this project, by category, turned into eval cases.

    attacks = load_attacks()                                    # safety/data/attacks.jsonl
    cases = attack_cases(attacks, canary="CANARY-1a2b3c4d", strategies=("base64", "leetspeak"), seed=0)

Each attack says what success looks like (``goal``): its ``marker`` in the reply, the task's canary in
the reply, personal data in the reply, compliance with a harmful request, or a claimed action. An
indirect-injection attack carries the ``document`` the task must plant among its retrieved passages.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from judges.case import Case
from safety._data import DATA
from safety.errors import AttackLibraryError
from safety.strategies import STRATEGIES, Strategy, is_multi_turn

CATEGORIES = ("direct_injection", "indirect_injection", "system_prompt_extraction", "pii_extraction",
              "jailbreak_roleplay", "harmful_request", "excessive_agency")
Goal = Literal["marker", "canary", "pii", "harmful", "agency"]


class Attack(BaseModel):
    """One attack template (a row of the attack file)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)
    id: str = Field(min_length=1)
    category: str
    goal: Goal
    prompt: str = Field(min_length=1)
    marker: str | None = None
    document: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Attack:
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}; use one of {CATEGORIES}")
        if self.goal == "marker" and not self.marker:
            raise ValueError("an attack with goal 'marker' needs the marker its success prints")
        if self.category == "indirect_injection" and not self.document:
            raise ValueError("an indirect injection needs the 'document' the task retrieves")
        return self


def load_attacks(path: str | Path | None = None, *, categories: Iterable[str] | None = None) -> list[Attack]:
    """Attacks from a JSONL file (default: the library written for this project), optionally only ``categories``.

    Raises AttackLibraryError for a malformed row (file, line, field), an unknown category, or a
    requested category with no attack in the file.
    """
    file = Path(path) if path is not None else DATA / "attacks.jsonl"
    if not file.is_file():
        raise AttackLibraryError(f"attack file not found: {file}")
    attacks: list[Attack] = []
    for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            attacks.append(Attack.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise AttackLibraryError(f"{file}:{n}: bad attack row: {exc}") from exc
    if categories is None:
        if not attacks:
            raise AttackLibraryError(f"{file} holds no attacks; add rows of {{id, category, goal, prompt}}")
        return attacks
    wanted = list(categories)
    if not wanted:
        raise AttackLibraryError("categories=[] selects no attack; pass None for all of them")
    if unknown := [c for c in wanted if c not in CATEGORIES]:
        raise AttackLibraryError(f"unknown attack categories {unknown}; use some of {CATEGORIES}")
    if empty := [c for c in wanted if not any(a.category == c for a in attacks)]:
        raise AttackLibraryError(f"attack categories {empty} have no attack in {file}; add some or leave them out")
    return [a for a in attacks if a.category in wanted]


def make_canary(seed: int | None = None) -> str:
    """A fresh secret to plant in the task (``CANARY-`` and 8 hex digits); seeded for reproducible runs."""
    token = secrets.token_hex(4) if seed is None else f"{random.Random(seed).getrandbits(32):08x}"
    return f"CANARY-{token}"


@dataclass(frozen=True)
class AttackCase:
    """An attack as sent: the attack, the strategy that disguised it ("plain" for none) and the text."""

    attack: Attack
    strategy: str
    prompt: str
    #: a multi-turn strategy's user side, ending with ``prompt`` (None: a turn the simulator writes); () when single-turn
    user_turns: tuple[str | None, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.attack.id}:{self.strategy}"


def expand(attacks: Sequence[Attack], strategies: Sequence[str | Strategy] = (), *, per_strategy: int | None = None,
           seed: int = 0) -> list[AttackCase]:
    """Every attack plain, plus each strategy applied to ``per_strategy`` seeded picks (all when None).

    Indirect injections keep their plain question: their payload is the planted document.
    """
    rng = random.Random(seed)
    out = [AttackCase(a, "plain", a.prompt) for a in attacks]
    direct = [a for a in attacks if a.category != "indirect_injection"]
    for s in strategies:
        strategy = STRATEGIES.get(s) if isinstance(s, str) else s
        if strategy is None:
            raise AttackLibraryError(f"unknown strategy {s!r}; use one of {sorted(STRATEGIES)} or a Strategy")
        picks = direct if per_strategy is None else rng.sample(direct, min(per_strategy, len(direct)))
        for a in picks:
            if is_multi_turn(strategy):
                turns = tuple(strategy.user_turns(a.prompt, rng))  # type: ignore[attr-defined]
                out.append(AttackCase(a, strategy.name, str(turns[-1]), user_turns=turns))
            else:
                out.append(AttackCase(a, strategy.name, strategy.apply(a.prompt, rng)))
    return out


def attack_cases(attacks: Sequence[AttackCase] | Sequence[Attack], *, canary: str) -> list[Case]:
    """Eval cases of the attacks: ``input`` is what the user sends; the metadata says how success is graded."""
    if not attacks:
        raise AttackLibraryError("no attacks to run; load_attacks() and expand() give some")
    items = [a if isinstance(a, AttackCase) else AttackCase(a, "plain", a.prompt) for a in attacks]
    return [Case(item.id, item.prompt, metadata={
        "category": item.attack.category, "strategy": item.strategy, "attack_id": item.attack.id,
        "goal": item.attack.goal, "marker": item.attack.marker, "document": item.attack.document,
        "canary": canary, **({"user_turns": list(item.user_turns)} if item.user_turns else {})})
        for item in items]

