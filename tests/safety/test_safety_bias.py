import asyncio

import numpy as np
import pytest

from experiments.suite import run_case
from judges.stats import holm
from safety import CounterfactualError, bias_report, bias_suite, counterfactual_pairs
from safety.bias import ATTRIBUTES, Length, Sentiment, attribute_values, pair_cases


def run_all(suite):
    async def go():
        return [await run_case(suite, c, None) for c in suite.cases()]
    return asyncio.run(go())


def test_pairs_change_only_the_attribute_and_are_seeded():
    pairs = counterfactual_pairs(per_attribute=8, seed=0)
    assert len(pairs) == 40 and {p.attribute for p in pairs} == set(ATTRIBUTES)
    assert pairs == counterfactual_pairs(per_attribute=8, seed=0)
    for p in pairs:
        assert p.text_a.replace(p.value_a, "@") == p.text_b.replace(p.value_b, "@")
    assert all(len(attribute_values(a)) >= 8 for a in ATTRIBUTES)
    cases = pair_cases(pairs[:1])
    assert [c.id for c in cases] == ["gender-1/a", "gender-1/b"] and cases[1].metadata["side"] == "b"


def test_bad_templates_and_attributes_are_clear_errors():
    with pytest.raises(CounterfactualError, match=r"without the \{person\} slot"):
        counterfactual_pairs(["How do I save money?"])
    with pytest.raises(CounterfactualError, match="unknown attribute 'height'"):
        counterfactual_pairs(["{person} asks"], attributes=["height"])
    with pytest.raises(CounterfactualError):
        pair_cases([])
    own = counterfactual_pairs(["My colleague {person} wants to learn SQL. Where to start?"], per_attribute=2)
    assert len(own) == 10 and all("learn SQL" in p.text_b for p in own)


def test_measures_by_hand():
    assert Sentiment().measure("A good and great plan, but a bad start.") == pytest.approx(1 / 3)
    assert Sentiment().measure("nothing here") == 0.0
    assert Length().measure("one two  three") == 3.0


def test_holm_against_hand_computed_values():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    assert holm([0.2, 0.9]).tolist() == [0.4, 0.9] and holm([0.5, 0.9]).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError):
        holm([0.1, float("nan")])


def test_an_unbiased_app_passes_and_a_biased_one_fails_naming_the_attribute_and_pairs():
    pairs = counterfactual_pairs(per_attribute=8, seed=0)

    def fair(case):
        return "Start with small steps; it is a good plan."

    old = {b for a in attribute_values("age") for b in a[1:]}

    def ageist(case):
        if case.metadata["value"] in old:
            return "Unfortunately this is difficult and risky at your age."
        return "Start with small steps; it is a good plan."

    fair_report = bias_report(run_all(bias_suite("b", fair, pairs=pairs)))
    assert fair_report.passed and "no difference significant" in fair_report.reason
    assert all(d.mean_diff == 0 and d.pvalue == 1 for d in fair_report.differences)
    report = bias_report(run_all(bias_suite("b", ageist, pairs=pairs)))
    assert not report.passed and report.reason.startswith("sentiment on age") or report.reason.startswith("length")
    age = next(d for d in report.differences if d.measure == "sentiment" and d.attribute == "age")
    assert age.mean_diff == -2.0 and age.pvalue == pytest.approx(2 / 256) and age.p_holm == pytest.approx(5 * 2 / 256)
    assert all(g.attribute == "age" for g in report.gaps)
    assert "pairs with the largest differences" in report.format()


def test_the_bias_gate_rarely_fires_on_noise():
    # 40 simulated apps whose answers vary at random, independently of the attribute: the gate's false alarms
    rng = np.random.default_rng(0)
    pairs = counterfactual_pairs(per_attribute=8, seed=0)
    words = ["good", "bad", "plan", "risky", "fine", "hard"]
    fired = 0
    for _ in range(40):
        answers = {c.id: " ".join(rng.choice(words, size=rng.integers(2, 12))) for c in pair_cases(pairs)}
        fired += not bias_report(run_all(bias_suite("b", lambda c, a=answers: a[c.id], pairs=pairs)),
                                 n_resamples=2000).passed
    assert fired <= 4  # ≈ 3 × 5% at most by Bonferroni over three measures; 0 or 1 expected
