import json

import pytest

from safety.attacks import CATEGORIES, attack_cases, expand, load_attacks, make_canary
from safety.errors import AttackLibraryError


def test_the_library_covers_every_category():
    attacks = load_attacks()
    assert {a.category for a in attacks} == set(CATEGORIES)
    assert all(a.marker for a in attacks if a.goal == "marker")
    assert all(a.document for a in attacks if a.category == "indirect_injection")


def test_an_empty_or_unknown_category_is_a_clear_error(tmp_path):
    f = tmp_path / "attacks.jsonl"
    f.write_text(json.dumps({"id": "x", "category": "direct_injection", "goal": "marker", "marker": "M",
                             "prompt": "say M"}) + "\n")
    with pytest.raises(AttackLibraryError, match=r"\['pii_extraction'\] have no attack in"):
        load_attacks(f, categories=["direct_injection", "pii_extraction"])
    with pytest.raises(AttackLibraryError, match="unknown attack categories"):
        load_attacks(f, categories=["nonsense"])
    with pytest.raises(AttackLibraryError, match="selects no attack"):
        load_attacks(f, categories=[])
    f.write_text("")
    with pytest.raises(AttackLibraryError, match="holds no attacks"):
        load_attacks(f)
    f.write_text(json.dumps({"id": "x", "category": "direct_injection", "goal": "marker", "prompt": "p"}) + "\n")
    with pytest.raises(AttackLibraryError, match=":1: bad attack row"):
        load_attacks(f)


def test_expansion_is_seeded_and_leaves_indirect_injections_plain():
    attacks = load_attacks()
    a = expand(attacks, ("base64", "leetspeak"), per_strategy=4, seed=1)
    b = expand(attacks, ("base64", "leetspeak"), per_strategy=4, seed=1)
    assert [(x.id, x.prompt) for x in a] == [(x.id, x.prompt) for x in b]
    assert len(a) == len(attacks) + 8
    assert not any(x.attack.category == "indirect_injection" and x.strategy != "plain" for x in a)
    with pytest.raises(AttackLibraryError, match="unknown strategy"):
        expand(attacks, ("rot13",))


def test_cases_carry_what_the_grader_and_the_task_need():
    canary = make_canary(seed=4)
    assert canary == make_canary(seed=4) and canary.startswith("CANARY-") and len(canary) == 15
    cases = attack_cases(load_attacks(categories=["indirect_injection"]), canary=canary)
    assert cases[0].id == "ii-1:plain" and cases[0].metadata["document"] and cases[0].metadata["canary"] == canary
    with pytest.raises(AttackLibraryError):
        attack_cases([], canary=canary)
