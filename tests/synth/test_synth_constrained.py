"""JSON-schema constrained decoding: the request field, its cache key, and (slow) the local llama.cpp model."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest

from judges.types import Message, ModelRequest

SCHEMA = {"type": "object", "properties": {"question": {"type": "string", "minLength": 8, "maxLength": 60},
                                           "level": {"enum": ["easy", "hard"]}},
          "required": ["question", "level"], "additionalProperties": False}


def test_unconstrained_requests_keep_their_old_cache_key() -> None:
    req = ModelRequest([Message("user", "hi")], max_tokens=5)
    assert "json_schema" not in req.to_dict()
    old = {"provider": "p", "model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5,
           "temperature": 0.0, "top_p": 1.0, "seed": 0, "stop": [], "top_logprobs": 0, "n": 1, "labels": None}
    assert req.cache_key("p", "m") == hashlib.sha256(json.dumps(old, sort_keys=True).encode()).hexdigest()


def test_the_schema_is_part_of_the_cache_key() -> None:
    plain = ModelRequest([Message("user", "hi")])
    a = ModelRequest([Message("user", "hi")], json_schema=SCHEMA)
    b = ModelRequest([Message("user", "hi")], json_schema=json.dumps(SCHEMA, indent=2))
    c = ModelRequest([Message("user", "hi")], json_schema={**SCHEMA, "required": ["question"]})
    assert a.json_schema == b.json_schema and a.cache_key("p", "m") == b.cache_key("p", "m")
    assert len({plain.cache_key("p", "m"), a.cache_key("p", "m"), c.cache_key("p", "m")}) == 3


@pytest.mark.slow
def test_local_model_replies_follow_the_schema() -> None:
    from judges.providers import EmbeddedLlamaProvider

    provider = EmbeddedLlamaProvider()
    prompts = ["Write a hard question about rivers.", "Say hello in French.", "List three colours, then stop."]

    async def ask(prompt: str, seed: int, temperature: float) -> str:
        req = ModelRequest([Message("user", prompt)], max_tokens=120, seed=seed, temperature=temperature,
                           json_schema=SCHEMA)
        return (await provider.generate(req)).text

    for i, prompt in enumerate(prompts):
        text = asyncio.run(ask(prompt, i, 0.8 if i else 0.0))
        data = json.loads(text, strict=False)
        assert set(data) == {"question", "level"} and data["level"] in ("easy", "hard")
        assert 8 <= len(data["question"]) <= 60
    # the same seed gives the same reply, at temperature 0 and above it
    assert asyncio.run(ask(prompts[1], 7, 0.8)) == asyncio.run(ask(prompts[1], 7, 0.8))
