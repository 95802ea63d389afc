"""The two pairwise verdict rules, contextual calibration and abstention on a position-biased fake judge."""

from __future__ import annotations

import pytest
from judge_fakes import client_for, exact_fake

from judges import Case, PairwiseJudge
from judges.abstention import AbstainBand
from judges.calibration import IsotonicMap
from judges.pairwise import pair_verdict


def test_mean_prob_reads_a_signal_that_a_slot_preference_hides():
    # the judge says "A" in both orders, but less surely when candidate B sits in slot A
    p1, p2 = {"A": 0.9, "B": 0.1}, {"A": 0.8, "B": 0.2}
    per_order = pair_verdict(p1, p2, rule="per_order")
    assert per_order.outcome == 0.5 and not per_order.consistent
    mean = pair_verdict(p1, p2, rule="mean_prob")
    # P(A) = (0.9 + 0.2) / 2 = 0.55, P(B) = (0.1 + 0.8) / 2 = 0.45
    assert mean.outcome == 1.0 and mean.probs == pytest.approx({"A": 0.55, "B": 0.45})
    assert pair_verdict(p2, p1, rule="mean_prob").outcome == 0.0


def test_tie_margin_boundary():
    p1, p2 = {"A": 0.9, "B": 0.1}, {"A": 0.8, "B": 0.2}  # P(A) - P(B) = 0.1
    assert pair_verdict(p1, p2, tie_margin=0.09).outcome == 1.0
    assert pair_verdict(p1, p2, tie_margin=0.1).outcome == 0.5  # within the margin (float noise aside): a tie
    assert pair_verdict({"A": 0.5, "B": 0.5}, {"A": 0.5, "B": 0.5}).outcome == 0.5  # equal: a tie at margin 0


def test_contextual_prior_turns_a_slot_bias_into_consistent_votes():
    prior = {"A": 0.85, "B": 0.15}
    p1, p2 = {"A": 0.9, "B": 0.1}, {"A": 0.8, "B": 0.2}
    v = pair_verdict(p1, p2, rule="per_order", prior=prior)
    # order 1: 0.9/0.85 vs 0.1/0.15 -> A; order 2: 0.8/0.85 vs 0.2/0.15 -> B (= candidate A): consistent
    assert v.consistent and v.outcome == 1.0


def test_isotonic_map_is_applied_to_p_of_a():
    flip = IsotonicMap((0.0, 0.5, 1.0), (0.0, 0.2, 0.3))  # the judge's 0.55 means a human P(A) of about 0.21
    v = pair_verdict({"A": 0.9, "B": 0.1}, {"A": 0.8, "B": 0.2}, calibration=flip)
    assert v.outcome == 0.0 and v.probs["A"] == pytest.approx(0.2 + 0.05 / 0.5 * 0.1)


def slot_biased(run_signal: float = 0.1):
    """A fake judge that prefers slot A by far, and a little more when the GOOD answer sits there."""

    def fn(req):
        prompt = req.messages[-2].content
        if "GOOD" not in prompt:
            return {" A": 0.85, " B": 0.15}  # content-free input: the bare slot preference
        good_first = prompt.index("GOOD") < prompt.index("BAD")
        return {" A": 0.85 + (run_signal if good_first else -run_signal), " B": 0.15 - (run_signal if good_first else -run_signal)}

    return exact_fake(fn)


def test_the_default_rule_discriminates_on_a_slot_biased_judge(run):
    client = client_for(slot_biased())
    good_a = Case("c", "q", output_a="GOOD", output_b="BAD")
    good_b = Case("d", "q", output_a="BAD", output_b="GOOD")
    assert PairwiseJudge("q").rule == "mean_prob"
    assert run(PairwiseJudge("q").judge(client, good_a)).score == 1.0
    assert run(PairwiseJudge("q").judge(client, good_b)).score == 0.0
    old = run(PairwiseJudge("q", rule="per_order").judge(client, good_a))
    assert old.score == 0.5 and "order_inconsistent" in old.flags
    assert old.details["verdicts"] == {"per_order": 0.5, "mean_prob": 1.0}
    assert old.details["order1_probs"]["A"] == pytest.approx(0.95)


def test_contextual_judge_estimates_the_prior_once_per_model(run):
    provider = slot_biased()
    client = client_for(provider)
    judge = PairwiseJudge("q-contextual", rule="per_order", contextual=True)
    first = run(judge.judge(client, Case("c", "q", output_a="GOOD", output_b="BAD")))
    assert first.score == 1.0 and first.details["prior"] == pytest.approx({"A": 0.85, "B": 0.15})
    calls = len(provider.requests)
    run(judge.judge(client, Case("d", "q", output_a="BAD", output_b="GOOD")))
    assert len(provider.requests) == calls + 2  # the two orders; the prior is not asked again


def test_abstained_verdicts_are_flagged_with_the_reason(run):
    client = client_for(slot_biased(run_signal=0.01))  # P(A) = (0.86 + 0.16) / 2 = 0.51: margin 0.02
    judge = PairwiseJudge("q", abstain=AbstainBand(min_margin=0.05))
    res = run(judge.judge(client, Case("c", "q", output_a="GOOD", output_b="BAD")))
    assert "abstained" in res.flags and "margin 0.020 < 0.05" in res.details["abstained"]
    sure = run(PairwiseJudge("q", abstain=AbstainBand(min_margin=0.015)).judge(
        client, Case("c", "q", output_a="GOOD", output_b="BAD")))
    assert "abstained" not in sure.flags


def test_identical_candidates_are_marked(run):
    client = client_for(slot_biased())
    res = run(PairwiseJudge("q").judge(client, Case("c", "q", output_a="same", output_b="same")))
    assert res.details["identical"] and res.score == 0.5


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="rule must be"):
        PairwiseJudge("q", rule="vote")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tie_margin"):
        PairwiseJudge("q", tie_margin=1.5)
