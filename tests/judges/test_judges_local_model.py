"""The embedded judge for real: llama.cpp with the Gemma 3 270M GGUF from PyPI."""

from __future__ import annotations

import asyncio

import pytest

pytestmark = pytest.mark.slow  # loads the real model

pytest.importorskip("llama_cpp", reason="the llama-cpp-python engine (the embedded judge's old path) needs: "
                    "pip install 'evalharness[llama-cpp]'; the default engine is tested in test_local_embedded.py")

from judges import Case, GEval, Judgement, ModelClient, ModelRequest, PairwiseJudge
from judges.providers import LlamaCppProvider


@pytest.fixture(scope="module")
def local_client() -> ModelClient:
    client = ModelClient(LlamaCppProvider(), trace=False)
    asyncio.run(client.check())
    return client


def test_exact_label_probabilities_sum_to_one(local_client):
    labels = tuple(f" {i}" for i in range(1, 6))
    req = ModelRequest([{"role": "user", "content": "Rate 'Paris is the capital of France' for accuracy, 1 to 5."},
                        {"role": "assistant", "content": "Score:"}], labels=labels)
    out = asyncio.run(local_client.complete(req))
    assert set(out.label_probs) == set(labels)
    assert sum(out.label_probs.values()) == pytest.approx(1.0, abs=1e-9)
    assert all(0.0 < p < 1.0 for p in out.label_probs.values())
    assert 0.0 < out.label_mass <= 1.0  # the raw mass before renormalising
    assert out.usage.prompt_tokens > 10


def test_multi_token_labels_are_scored_token_by_token(local_client):
    """P(" 10") / P(" 1") from the provider equals the ratio computed by hand from llama.cpp's logits."""
    import numpy as np

    provider = local_client.provider
    labels = tuple(f" {i}" for i in range(1, 11))
    msgs = [{"role": "user", "content": "Rate this from 1 to 10: 'The cat sat on the mat.'"},
            {"role": "assistant", "content": "Score:"}]
    out = asyncio.run(local_client.complete(ModelRequest(msgs, labels=labels)))
    assert sum(out.label_probs.values()) == pytest.approx(1.0)

    llm = provider._llm
    prompt = provider._tokens(provider.format_prompt(ModelRequest(msgs).messages), bos=True)

    def logprob(continuation: list[int]) -> float:
        total = 0.0
        llm.reset()
        llm.eval(prompt)
        for tok in continuation:
            logits = provider._last_logits()
            total += float(logits[tok] - (logits.max() + np.log(np.exp(logits - logits.max()).sum())))
            llm.eval([tok])
        return total

    with provider._lock:
        t1, t10 = provider._tokens(" 1", bos=False), provider._tokens(" 10", bos=False)
        assert len(t10) >= 2  # " 10" is more than one token for Gemma's tokenizer
        expected = np.exp(logprob(t10) - logprob(t1))
    assert out.label_probs[" 10"] / out.label_probs[" 1"] == pytest.approx(expected, rel=1e-4)


def test_geval_and_pairwise_on_the_real_model(local_client, tmp_path, monkeypatch):
    monkeypatch.setenv("EVALHARNESS_STEPS_DIR", str(tmp_path))
    case = Case("c", "The council approved a new bike lane network.", output="A bike lane plan was approved.")
    res = asyncio.run(GEval("Coherence", "The summary is coherent and faithful.").judge(local_client, case))
    assert isinstance(res, Judgement), res
    assert res.prob_source == "exact" and 1.0 <= res.score <= 5.0
    assert sum(res.label_probs.values()) == pytest.approx(1.0)
    pair = Case("p", "What is 2+2?", output_a="4", output_b="5")
    res2 = asyncio.run(PairwiseJudge("correctness").judge(local_client, pair))
    assert isinstance(res2, Judgement) and res2.score in (0.0, 0.5, 1.0)
    assert res2.label_probs["A"] + res2.label_probs["B"] == pytest.approx(1.0)
