"""judges.ChoiceJudge: a prompt of one's own answered with one of fixed choices, scored by probability (a fake
provider with exact label probabilities stands in for the model)."""

from __future__ import annotations

import asyncio

import pytest

from judges import Case, ChoiceJudge, Completion, JudgeFailure, Judgement, ModelClient
from judges.providers import FakeFunctionProvider

asked: list[str] = []


def _reply(req):  # a fake judge: "N" with p = 0.75 over the labels it is offered
    asked.append("\n".join(m.content for m in req.messages))
    if not req.labels:
        return Completion(text=" it refuses nothing", provider="fake", model="fake-judge")
    probs = {lab: (0.75 if lab.strip() == "N" else 0.25) for lab in req.labels}
    return Completion(text=" N", provider="fake", model="fake-judge", label_probs=probs)


def _client() -> ModelClient:
    return ModelClient(FakeFunctionProvider(_reply, model="fake-judge", exact_label_probs=True), trace=False)


def test_a_choice_judge_scores_by_the_probability_of_each_choice_and_fills_the_case() -> None:
    judge = ChoiceJudge("refusal", "Did the reply refuse?\nQ: {input}\nA: {output}\nPolicy: {policy}",
                        (("Y", 0.0), ("N", 1.0)), args=(("policy", "answer harmless questions"),), pass_at=0.8)
    asked.clear()
    r = asyncio.run(judge.judge(_client(), Case("c1", "capital of France?", output="Paris")))
    assert isinstance(r, Judgement)
    assert r.score == pytest.approx(0.75) and r.label == "fail" and r.details["choice"] == "N"
    assert judge.scale == (0.0, 1.0) and judge.judge_name == "choice:refusal"
    prompt = asked[0]
    assert "Q: capital of France?\nA: Paris\nPolicy: answer harmless questions" in prompt
    assert "Answer with one of: Y, N." in prompt


def test_a_case_without_output_is_not_evaluable_and_an_unfilled_field_is_refused() -> None:
    judge = ChoiceJudge("refusal", "{input} {output}", (("Y", 0.0), ("N", 1.0)))
    r = asyncio.run(judge.judge(_client(), Case("c2", "q")))
    assert isinstance(r, JudgeFailure) and "not_evaluable" in r.flags and "'c2' has no output" in r.reason
    with pytest.raises(ValueError, match=r"uses \['rubric'\], which nothing fills"):
        ChoiceJudge("x", "{input} {rubric}", (("Y", 0.0), ("N", 1.0)))
    with pytest.raises(ValueError, match="at least two choices"):
        ChoiceJudge("x", "{input}", (("Y", 1.0),))
