"""Pointwise, G-Eval, pairwise and panel judges on fake providers: the logic, not a model."""

import json
import random

import pytest
from judge_fakes import client_for, exact_fake

from judges import Case, GEval, JudgeFailure, Judgement, JudgePanel, PairwiseJudge, PointwiseJudge
from judges.providers import FakeScriptedProvider
from judges.types import Completion, TokenLogprob, TopLogprob

CASE = Case("c1", "Summarise the article.", output="A summary.")


@pytest.fixture(autouse=True)
def _steps_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALHARNESS_STEPS_DIR", str(tmp_path / "steps"))


def test_geval_weights_exact_probabilities(run):
    dist = {" 1": 0.05, " 2": 0.1, " 3": 0.2, " 4": 0.4, " 5": 0.25}
    provider = exact_fake(lambda r: dist if r.labels else " Read it.\n2. Check facts.")  # continues the "1." prefill
    judge = GEval("Coherence", "Is it coherent?")
    res = run(judge.judge(client_for(provider), CASE))
    assert isinstance(res, Judgement)
    # hand-computed: .05 + .2 + .6 + 1.6 + 1.25 = 3.7
    assert res.score == pytest.approx(3.7)
    assert res.prob_source == "exact" and res.label == "4"
    assert sum(res.label_probs.values()) == pytest.approx(1.0)
    # the form-filling prompt carries the generated steps and ends on the criterion's form field
    scoring = next(r for r in provider.requests if r.labels)
    assert "2. Check facts." in scoring.messages[-2].content
    assert scoring.messages[-1].content == "- Coherence:"


def test_geval_steps_generated_once_and_stored_with_a_version(run, tmp_path):
    calls = []

    def fn(r):
        calls.append(r)
        return {" 3": 1.0} if r.labels else " Step one\n2. Step two"

    judge = GEval("Fluency", "Is it fluent?")
    client = client_for(exact_fake(fn))
    for i in range(4):
        run(judge.judge(client, Case(f"c{i}", "x", output="y")))
    generations = [r for r in calls if r.labels is None]
    assert len(generations) == 1
    stored = list((tmp_path / "steps").glob("Fluency-*.json"))
    assert len(stored) == 1
    data = json.loads(stored[0].read_text())
    assert data["steps"] == ["Step one", "Step two"] and data["version"] == judge.steps_key("fake-model")
    # a different judge model gets its own steps
    assert judge.steps_key("other-model") != judge.steps_key("fake-model")


def _score_reply(text, alts):
    toks = [TokenLogprob("Score", -0.01), TokenLogprob(":", -0.01)]
    toks.append(TokenLogprob(alts[0][0], alts[0][1], tuple(TopLogprob(t, lp) for t, lp in alts)))
    toks.append(TokenLogprob(text[len("Score: x"):] or "\n", -0.1))
    return Completion(text=text, provider="fake", model="api-model", logprobs=tuple(toks))


def test_pointwise_top_logprobs_path(run):
    import math

    reply = _score_reply("Score: 4\nIt is mostly right.", [(" 4", math.log(0.6)), (" 5", math.log(0.2)), (" 3", math.log(0.2))])
    provider = FakeScriptedProvider([reply], model="api-model", top_logprobs=True)
    res = run(PointwiseJudge("accuracy", "5 = right").judge(client_for(provider), CASE))
    assert res.prob_source == "top_logprobs"
    assert res.score == pytest.approx(0.6 * 4 + 0.2 * 5 + 0.2 * 3)
    assert res.reasoning == "It is mostly right."
    assert provider.requests[0].top_logprobs == 20


def test_parse_failure_retries_then_records_failure_with_raw_text(run):
    provider = FakeScriptedProvider(["I refuse.", "Still no score", "Nope"], model="api-model", top_logprobs=True)
    res = run(PointwiseJudge("accuracy", "5 = right", max_parse_retries=2).judge(client_for(provider), CASE))
    assert isinstance(res, JudgeFailure)
    assert res.score is None and not res.ok
    assert res.attempts == 3 and len(provider.requests) == 3
    assert "I refuse." in res.raw and "Nope" in res.raw
    # every retry is a different request (so the cache cannot replay the bad reply)
    assert len({r.cache_key("p", "m") for r in provider.requests}) == 3


def test_parse_recovers_on_retry(run):
    import math

    good = _score_reply("Score: 2", [(" 2", math.log(0.9)), (" 1", math.log(0.1))])
    provider = FakeScriptedProvider(["garbage", good], model="api-model", top_logprobs=True)
    res = run(PointwiseJudge("accuracy", "r").judge(client_for(provider), CASE))
    assert isinstance(res, Judgement) and res.label == "2"


def test_sampling_fallback_when_provider_has_no_logprobs(run):
    replies = Completion(text="- C: 4", provider="fake", model="m",
                         texts=("- C: 4", "- C: 4", "- C: 5", "- C: 4", "bad"))
    provider = FakeScriptedProvider([replies])
    res = run(GEval("C", "c", evaluation_steps=("look",)).judge(client_for(provider), CASE))
    assert res.prob_source == "sampling"
    assert res.label_probs["4"] == pytest.approx(0.75)
    assert res.score == pytest.approx(4.25)
    assert provider.requests[0].n == 5 and provider.requests[0].temperature == 1.0


def position_biased(p_first: float, seed: int):
    """A fake judge that answers the first slot with probability p, else the truly better candidate (A)."""
    rng = random.Random(seed)

    def fn(req):
        prompt = req.messages[-2].content
        a_first = prompt.index("GOOD") < prompt.index("BAD")
        if rng.random() < p_first:
            pick = "A"
        else:
            pick = "A" if a_first else "B"
        return {" A": 0.9 if pick == "A" else 0.1, " B": 0.1 if pick == "A" else 0.9}

    return exact_fake(fn)


@pytest.mark.parametrize("p", [0.0, 0.3, 0.6])
def test_swap_neutralises_position_bias_and_reports_consistency(run, p):
    from judges.stats import win_rates

    judge = PairwiseJudge("quality")
    client = client_for(position_biased(p, seed=11))
    results = [run(judge.judge(client, Case(f"c{i}", f"q{i}", output_a="GOOD", output_b="BAD"))) for i in range(400)]
    outcomes = [r.score for r in results]
    consistent = [r.details["consistent"] for r in results]
    w = win_rates(outcomes, consistent=consistent)
    # A is truly better: order 1 always says A; order 2 says A with probability 1-p -> consistency 1-p
    assert w.consistency.value == pytest.approx(1 - p, abs=0.06)
    assert w.consistency.low <= 1 - p <= w.consistency.high or p == 0.0
    # never a loss for the better answer: position bias turns into ties, not into wrong winners
    assert w.loss.value == 0.0
    assert all(("order_inconsistent" in r.flags) != r.details["consistent"] for r in results)


def test_pairwise_maps_the_swapped_order_back(run):
    provider = exact_fake(lambda r: {" A": 0.2, " B": 0.8})  # always prefers the second slot
    res = run(PairwiseJudge("q").judge(client_for(provider), Case("c", "q", output_a="x", output_b="yy")))
    assert res.score == 0.5 and not res.details["consistent"]
    assert res.label_probs["A"] == pytest.approx(0.5)
    assert res.details["length_diff"] == -1


def test_panel_flags_disagreement_and_self_enhancement(run):
    lo = client_for(exact_fake(lambda r: {" 1": 1.0, " 2": 0.0, " 3": 0, " 4": 0, " 5": 0}, model="gpt-4o-mini"))
    hi = client_for(exact_fake(lambda r: {" 1": 0.0, " 2": 0, " 3": 0, " 4": 0, " 5": 1.0}, model="claude-3-haiku"))
    judge = PointwiseJudge("accuracy", "r", explain=False)
    panel = JudgePanel(judge, (lo, hi), model_under_test="gpt-4.1")
    res = run(panel.judge(None, CASE))
    assert res.score == pytest.approx(3.0)
    assert "judges_disagree" in res.flags and "self_enhancement_risk" in res.flags
    assert [m["score"] for m in res.details["members"]] == [1.0, 5.0]
    agree = run(JudgePanel(judge, (lo, lo)).judge(None, CASE))
    assert agree.flags == () and agree.details["agree"]


def test_low_confidence_is_flagged_by_entropy(run):
    flat = exact_fake(lambda r: {f" {i}": 1.0 for i in range(1, 6)})
    res = run(PointwiseJudge("a", "r", explain=False).judge(client_for(flat), CASE))
    assert res.entropy == pytest.approx(2.3219, abs=1e-3)
    assert "low_confidence" in res.flags


def test_judges_reject_cases_without_outputs(run):
    client = client_for(exact_fake(lambda r: {" A": 1, " B": 1}))
    with pytest.raises(ValueError, match="output_a"):
        run(PairwiseJudge("q").judge(client, Case("c", "q", output="x")))
