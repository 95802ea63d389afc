"""Every judge kind against llama.cpp's real HTTP server (issue 27): SmolLM2 in chat mode, Gemma 3 270M (a base
model) in completions mode. A label distribution from every call, read from the label slot's logprobs."""

import asyncio

import pytest

from judges import Case, GEval, JudgePanel, ModelClient, PairwiseJudge, PointwiseJudge
from judges.providers import OpenAICompatibleProvider
from judges.providers.capabilities import known
from judges.results import Judgement

pytestmark = pytest.mark.slow

CASES = [Case(id="right", input="What is 2+2?", output="2+2 is 4."),
         Case(id="wrong", input="What is the capital of France?", output="Berlin.")]
PAIR = Case(id="pair", input="What is 2+2?", output_a="4", output_b="It is 5, I think.")
STEPS = ("Check the response answers the question.", "Check the answer is correct.")


def _client(server, api):
    provider = OpenAICompatibleProvider(server.model, base_url=server.base_url, api=api, timeout_s=120)
    return ModelClient(provider, max_concurrency=4, trace=False)


@pytest.fixture(params=["smollm2-chat", "gemma-completions"])
def client(request):
    name, api = request.param.split("-")
    server = request.getfixturevalue("smollm2_server" if name == "smollm2" else "gemma_server")
    return _client(server, api)


def _source(client):
    return "completion_logprobs" if client.provider.api == "completions" else "constrained_logprobs"


def _assert_distribution(result, client, labels):
    assert isinstance(result, Judgement), getattr(result, "error", result)
    assert result.prob_source == _source(client)
    assert set(result.label_probs) == set(labels)
    assert sum(result.label_probs.values()) == pytest.approx(1.0)
    assert result.label == max(result.label_probs, key=result.label_probs.get)


def test_pointwise_and_geval_give_a_distribution_for_every_case(client):
    pointwise = PointwiseJudge("correctness", "5: correct and complete ... 1: wrong", explain=False)
    geval = GEval("correctness", "Is the answer correct?", evaluation_steps=STEPS)

    async def go():
        return await asyncio.gather(*(j.judge(client, c) for j in (pointwise, geval) for c in CASES))

    results = asyncio.run(go())
    for r in results:
        _assert_distribution(r, client, "12345")
    caps = known(client.provider.base_url, client.provider.info.model)
    assert caps.grammar and caps.chat_alternatives >= 20  # llama.cpp: GBNF grammar, wide logprobs


def test_pairwise_runs_both_orders_and_a_panel_combines_two_clients(client):
    pairwise = PairwiseJudge("correctness")
    result = asyncio.run(pairwise.judge(client, PAIR))
    assert isinstance(result, Judgement), getattr(result, "error", result)
    assert result.prob_source == _source(client) and result.calls.model_calls == 2  # A/B and B/A
    panel = JudgePanel(PointwiseJudge("correctness", "5: correct ... 1: wrong", explain=False),
                       clients=(client, _client_like(client)))
    verdict = asyncio.run(panel.judge(client, CASES[0]))
    assert isinstance(verdict, Judgement), getattr(verdict, "error", verdict)
    assert len(verdict.details["members"]) == 2


def _client_like(client):
    p = client.provider
    return ModelClient(OpenAICompatibleProvider(p.info.model, base_url=p.base_url, api=p.api), trace=False)


def test_the_judge_reason_is_free_text_from_the_same_server(smollm2_server):
    client = _client(smollm2_server, "chat")
    result = asyncio.run(PointwiseJudge("correctness", "5: correct ... 1: wrong").judge(client, CASES[0]))
    assert isinstance(result, Judgement) and result.calls.model_calls == 2  # the label call, then the reason
    assert result.prob_source == "constrained_logprobs"
