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
    # completions mode on llama.cpp sends the embedded judge's own label requests: exact probabilities
    return "exact" if client.provider.api == "completions" else "constrained_logprobs"


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


def test_gemma_over_http_in_completions_mode_equals_the_embedded_judge(gemma_server):
    """The same model served over HTTP and in process gives the same label probabilities to 1e-3 (measured: equal
    to the last bit), for pointwise, G-Eval on 1-10 (multi-token labels: " 10") and both pairwise orders, although
    the two servers have other slot counts and context sizes. One request at a time: llama.cpp's CPU kernels give
    other logits when other slots' tokens share a batch."""
    from judges.providers.embedded import EmbeddedLlamaProvider

    judges = [PointwiseJudge("correctness", "5: correct and complete ... 1: wrong", explain=False),
              GEval("correctness", "Is the answer correct?", evaluation_steps=STEPS, scale=(1, 10))]
    pairwise = PairwiseJudge("correctness")

    def distributions(client):
        out = [asyncio.run(j.judge(client, c)) for j in judges for c in CASES]
        pair = asyncio.run(pairwise.judge(client, PAIR))
        for r in [*out, pair]:
            assert isinstance(r, Judgement), getattr(r, "error", r)
            assert r.prob_source == "exact"
        return [r.label_probs for r in out] + [pair.details["order1_probs"], pair.details["order2_probs"]]

    embedded = ModelClient(EmbeddedLlamaProvider(n_threads=2, slots=1), trace=False)
    try:
        local = distributions(embedded)
    finally:
        embedded.provider.close()
    provider = OpenAICompatibleProvider(gemma_server.model, base_url=gemma_server.base_url, api="completions")
    http = distributions(ModelClient(provider, max_concurrency=1, adaptive=False, trace=False))
    assert [sorted(d) for d in http] == [sorted(d) for d in local]
    assert set(local[2]) == {str(k) for k in range(1, 11)}
    worst = max(abs(a[k] - b[k]) for a, b in zip(local, http, strict=True) for k in a)
    assert worst <= 1e-3, worst
