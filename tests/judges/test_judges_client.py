"""The model client: cache (zero calls on rerun, resume after a kill), retries, rate limit, concurrency."""

import asyncio
import json
import subprocess
import sys
import textwrap

import httpx
import pytest

from judges import ModelClient, ModelRequest, ProviderError, RetryableProviderError
from judges.cache import CallCache
from judges.providers import FakeFunctionProvider, OpenAICompatibleProvider

REQ = ModelRequest([{"role": "user", "content": "hi"}], max_tokens=5)


def ok_body(text="Score: 4"):
    return {"model": "m", "choices": [{"message": {"content": text}, "logprobs": None}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3}}


def no_sleep_client(provider, **kw):
    slept = []

    async def fake_sleep(s):
        slept.append(s)

    c = ModelClient(provider, sleep=fake_sleep, trace=False, **kw)
    return c, slept


def test_cached_rerun_makes_zero_calls(tmp_path):
    provider = FakeFunctionProvider(lambda r: f"echo {r.messages[0].content}")
    reqs = [ModelRequest([{"role": "user", "content": f"q{i}"}]) for i in range(20)]

    async def go(client):
        return await asyncio.gather(*(client.complete(r) for r in reqs))

    c1 = ModelClient(provider, cache=CallCache(tmp_path / "c.sqlite"), trace=False)
    first = asyncio.run(go(c1))
    assert c1.stats.calls == 20 and len(provider.requests) == 20
    c2 = ModelClient(provider, cache=CallCache(tmp_path / "c.sqlite"), trace=False)
    second = asyncio.run(go(c2))
    assert c2.stats.calls == 0 and c2.stats.cache_hits == 20 and len(provider.requests) == 20
    assert [a.text for a in first] == [b.text for b in second]
    assert all(b.cached for b in second)


def test_cache_key_covers_every_parameter():
    base = ModelRequest([{"role": "user", "content": "x"}])
    variants = [
        ModelRequest([{"role": "user", "content": "y"}]),
        ModelRequest([{"role": "user", "content": "x"}], temperature=0.5),
        ModelRequest([{"role": "user", "content": "x"}], max_tokens=3),
        ModelRequest([{"role": "user", "content": "x"}], seed=1),
        ModelRequest([{"role": "user", "content": "x"}], labels=("1", "2")),
        ModelRequest([{"role": "system", "content": "x"}]),
    ]
    keys = {base.cache_key("p", "m")} | {v.cache_key("p", "m") for v in variants}
    assert len(keys) == len(variants) + 1
    assert base.cache_key("p", "m") != base.cache_key("p", "m2") != base.cache_key("q", "m")


def test_killed_run_resumes_from_cache(tmp_path):
    """A process killed half-way keeps every completed call; the rerun only makes the missing ones."""
    db = tmp_path / "c.sqlite"
    script = textwrap.dedent(f"""
        import asyncio, os, sys
        from judges import ModelClient, ModelRequest
        from judges.cache import CallCache
        from judges.providers import FakeFunctionProvider
        async def slow(r):
            n = int(r.messages[0].content)
            if n == 6:
                os.kill(os.getpid(), 9)   # die in the middle of the run
            return "ok"
        async def main():
            c = ModelClient(FakeFunctionProvider(slow), cache=CallCache({str(db)!r}), max_concurrency=1, trace=False)
            for i in range(10):
                await c.complete(ModelRequest([{{"role": "user", "content": str(i)}}]))
        asyncio.run(main())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, check=False)
    assert proc.returncode == -9
    assert len(CallCache(db)) == 6
    provider = FakeFunctionProvider(lambda r: "ok")
    c = ModelClient(provider, cache=CallCache(db), trace=False)

    async def rerun():
        for i in range(10):
            await c.complete(ModelRequest([{"role": "user", "content": str(i)}]))

    asyncio.run(rerun())
    assert c.stats.cache_hits == 6 and c.stats.calls == 4


def transport_from(statuses, headers=None):
    """A fake HTTP transport answering with the given status codes in order ("timeout" raises)."""
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        status = statuses[min(len(seen) - 1, len(statuses) - 1)]
        if status == "timeout":
            raise httpx.ReadTimeout("slow", request=request)
        if status == 200:
            return httpx.Response(200, json=ok_body())
        return httpx.Response(status, text="busy", headers=(headers or {}).get(len(seen), {}))

    return httpx.MockTransport(handler), seen


@pytest.mark.parametrize("failures", [[429], [500], ["timeout"], [503, 502, "timeout", 429]])
def test_retries_on_transient_errors_then_succeeds(failures):
    transport, seen = transport_from([*failures, 200])
    client, slept = no_sleep_client(OpenAICompatibleProvider("m", base_url="http://fake/v1", transport=transport))
    out = asyncio.run(client.complete(REQ))
    assert out.text == "Score: 4" and out.usage.prompt_tokens == 7
    assert len(seen) == len(failures) + 1
    assert client.stats.retries == len(failures) and len(slept) == len(failures)


def test_retry_after_is_honoured_and_backoff_grows():
    transport, _ = transport_from([429, 429, 200], headers={1: {"retry-after": "7"}})
    client, slept = no_sleep_client(OpenAICompatibleProvider("m", base_url="http://fake/v1", transport=transport),
                                    backoff_base_s=0.5)
    asyncio.run(client.complete(REQ))
    assert slept[0] >= 7.0
    assert 0 <= slept[1] <= 1.0  # full jitter under base * 2**1
    caps = [min(30.0, 0.5 * 2**a) for a in range(8)]
    assert all(0 <= client.backoff_delay(a, None) <= caps[a] for a in range(8))


def test_gives_up_after_max_retries():
    transport, seen = transport_from([500])
    client, _ = no_sleep_client(OpenAICompatibleProvider("m", base_url="http://fake/v1", transport=transport), max_retries=3)
    with pytest.raises(RetryableProviderError):
        asyncio.run(client.complete(REQ))
    assert len(seen) == 4 and client.stats.errors == 1


def test_client_errors_are_not_retried_and_say_how_to_fix():
    transport, seen = transport_from([401])
    client, _ = no_sleep_client(OpenAICompatibleProvider("m", base_url="http://fake/v1", transport=transport))
    with pytest.raises(ProviderError, match="OPENAI_API_KEY"):
        asyncio.run(client.complete(REQ))
    assert len(seen) == 1


def test_openai_payload_requests_logprobs():
    transport, seen = transport_from([200])
    p = OpenAICompatibleProvider("m", base_url="http://fake/v1", transport=transport)
    asyncio.run(ModelClient(p, trace=False).complete(ModelRequest([{"role": "user", "content": "x"}], top_logprobs=5, n=2)))
    assert seen[0]["logprobs"] is True and seen[0]["top_logprobs"] == 5 and seen[0]["n"] == 2


def test_openai_payload_sends_the_json_schema_as_response_format():
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
    req = ModelRequest([{"role": "user", "content": "x"}], json_schema=schema)
    for supported in (True, False):
        transport, seen = transport_from([200])
        p = OpenAICompatibleProvider("m", base_url="http://fake/v1", transport=transport,
                                     supports_json_schema=supported)
        asyncio.run(ModelClient(p, trace=False).complete(req))
        if supported:
            fmt = seen[0]["response_format"]
            assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == schema
            assert fmt["json_schema"]["strict"] is True
        else:
            assert "response_format" not in seen[0]
    transport, seen = transport_from([200])
    plain = OpenAICompatibleProvider("m", base_url="http://fake/v1", transport=transport)
    asyncio.run(ModelClient(plain, trace=False).complete(ModelRequest([{"role": "user", "content": "x"}])))
    assert "response_format" not in seen[0]  # an unconstrained request asks for no format


def test_concurrency_is_bounded():
    active = 0
    peak = 0

    async def fn(r):
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        active -= 1
        return "ok"

    client = ModelClient(FakeFunctionProvider(fn), max_concurrency=3, trace=False)

    async def go():
        await asyncio.gather(*(client.complete(ModelRequest([{"role": "user", "content": str(i)}])) for i in range(12)))

    asyncio.run(go())
    assert peak == 3


def test_rate_limit_spaces_requests():
    client, slept = no_sleep_client(FakeFunctionProvider(lambda r: "ok"), requests_per_minute=600)

    async def go():
        for i in range(5):
            await client.complete(ModelRequest([{"role": "user", "content": str(i)}]))

    asyncio.run(go())
    # 600 rpm = one slot every 0.1 s; the fake sleep lets no time pass, so call k waits until slot k
    assert slept == pytest.approx([0.1, 0.2, 0.3, 0.4], abs=0.01)


def test_check_reports_unreachable_and_unknown_models():
    from judges import ModelUnavailableError

    def models(request):
        return httpx.Response(200, json={"data": [{"id": "served-model"}]})

    p = OpenAICompatibleProvider("missing", base_url="http://fake/v1", transport=httpx.MockTransport(models))
    with pytest.raises(ModelUnavailableError, match="served-model"):
        asyncio.run(p.check())

    def down(request):
        raise httpx.ConnectError("refused", request=request)

    p2 = OpenAICompatibleProvider("m", base_url="http://127.0.0.1:9/v1", transport=httpx.MockTransport(down))
    with pytest.raises(ModelUnavailableError, match="cannot reach"):
        asyncio.run(p2.check())


def test_provider_survives_a_new_event_loop():
    """get_model() shares providers per process; each asyncio.run gets its own HTTP pool."""
    transport, seen = transport_from([200])
    p = OpenAICompatibleProvider("m", base_url="http://fake/v1", transport=transport)
    client = ModelClient(p, trace=False)
    asyncio.run(client.complete(REQ))
    asyncio.run(client.complete(ModelRequest([{"role": "user", "content": "again"}])))
    assert len(seen) == 2
