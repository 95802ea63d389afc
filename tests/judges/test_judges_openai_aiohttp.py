"""The OpenAI-compatible provider on its aiohttp stack: same results and errors as on httpx, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from judges import ModelClient, ModelRequest, ModelUnavailableError, ProviderError, RetryableProviderError
from judges.providers import OpenAICompatibleProvider

web = pytest.importorskip("aiohttp.web")

REQ = ModelRequest([{"role": "user", "content": "Grade it."}], top_logprobs=5)
BODY = {
    "model": "m",
    "choices": [{"message": {"role": "assistant", "content": "Score: 4"}, "logprobs": {"content": [
        {"token": "Score:", "logprob": -0.01, "top_logprobs": []},
        {"token": " 4", "logprob": -0.4, "top_logprobs": [{"token": " 4", "logprob": -0.4},
                                                            {"token": " 3", "logprob": -1.2}]},
    ]}}],
    "usage": {"prompt_tokens": 7, "completion_tokens": 2},
}


async def _serve(handler: Callable[[Any], Awaitable[Any]], fn: Callable[[str], Awaitable[Any]]) -> Any:
    """Run ``fn(base_url)`` against an aiohttp server whose every request goes to ``handler``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        return await fn(f"http://127.0.0.1:{port}/v1")
    finally:
        await runner.cleanup()


async def _error_of(url: str, timeout_s: float = 5.0) -> BaseException:
    """The error one judge call to ``url`` raises."""
    p = OpenAICompatibleProvider("m", base_url=url, timeout_s=timeout_s)
    try:
        await p.generate(REQ)
    except ProviderError as exc:
        return exc
    finally:
        await p.aclose()
    raise AssertionError("no error raised")


def test_aiohttp_is_used_when_installed_and_httpx_with_a_transport():
    import httpx

    assert OpenAICompatibleProvider("m").http_stack == "aiohttp"
    assert OpenAICompatibleProvider("m", http="httpx").http_stack == "httpx"
    mock = httpx.MockTransport(lambda r: httpx.Response(200, json=BODY))
    assert OpenAICompatibleProvider("m", transport=mock).http_stack == "httpx"


def test_both_stacks_send_the_same_body_and_parse_the_same_completion():
    seen: list[dict[str, Any]] = []

    async def handler(request: Any) -> Any:
        seen.append(await request.json())
        assert request.headers["authorization"] == "Bearer sk-test"
        return web.json_response(BODY)

    async def both(url: str) -> list[Any]:
        out = []
        for stack in ("aiohttp", "httpx"):
            p = OpenAICompatibleProvider("m", base_url=url, api_key_env="TEST_KEY", http=stack)
            out.append(await p.generate(REQ))
            await p.aclose()
        return out

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TEST_KEY", "sk-test")
        a, h = asyncio.run(_serve(handler, both))
    assert a.latency_s > 0 and h.latency_s > 0  # the provider times the call itself
    a, h = dataclasses.replace(a, latency_s=0.0), dataclasses.replace(h, latency_s=0.0)
    assert a == h and a.text == "Score: 4" and a.logprobs[1].top[1].token == " 3" and a.usage.prompt_tokens == 7
    assert seen[0] == seen[1] and seen[0]["logprobs"] is True and seen[0]["top_logprobs"] == 5


@pytest.mark.parametrize("status, retryable", [(429, True), (503, True), (500, True), (400, False), (401, False)])
def test_status_codes_raise_the_same_errors_as_on_httpx(status, retryable):
    async def handler(request: Any) -> Any:
        return web.Response(status=status, text="nope", headers={"Retry-After": "3"})

    exc = asyncio.run(_serve(handler, _error_of))
    assert isinstance(exc, RetryableProviderError) is retryable and exc.status == status
    if retryable:
        assert exc.retry_after == 3.0  # type: ignore[attr-defined]
    if status == 401:
        assert "OPENAI_API_KEY" in str(exc)


def test_timeouts_refusals_and_bad_json_are_provider_errors():
    async def slow(request: Any) -> Any:
        await asyncio.sleep(2)
        return web.json_response(BODY)

    async def garbage(request: Any) -> Any:
        return web.Response(text="<html>proxy error</html>", content_type="text/html")

    assert isinstance(asyncio.run(_serve(slow, lambda url: _error_of(url, 0.2))), RetryableProviderError)
    refused = asyncio.run(_error_of("http://127.0.0.1:9/v1"))
    assert isinstance(refused, RetryableProviderError) and "cannot reach" in str(refused)
    bad = asyncio.run(_serve(garbage, _error_of))
    assert not isinstance(bad, RetryableProviderError) and "invalid JSON" in str(bad)


def test_check_lists_served_models_and_reports_unreachable_servers():
    async def models(request: Any) -> Any:
        return web.json_response({"data": [{"id": "served-model"}]})

    async def check(url: str) -> None:
        await OpenAICompatibleProvider("missing", base_url=url).check()

    with pytest.raises(ModelUnavailableError, match="served-model"):
        asyncio.run(_serve(models, check))
    with pytest.raises(ModelUnavailableError, match="cannot reach"):
        asyncio.run(OpenAICompatibleProvider("m", base_url="http://127.0.0.1:9/v1").check())


def test_a_session_nobody_closed_is_closed_with_its_event_loop():
    """get_model() shares a provider across asyncio.run() calls; each loop's session closes with the loop,
    so no "Unclosed client session" warning is ever raised (warnings are errors in this suite)."""
    calls = 0

    async def handler(request: Any) -> Any:
        nonlocal calls
        calls += 1
        return web.json_response(BODY)

    async def serve_forever(url: str) -> None:
        p = OpenAICompatibleProvider("m", base_url=url)
        client = ModelClient(p, trace=False)
        sessions = []
        for _ in range(3):  # three event loops, as three asyncio.run() calls in a test suite make
            await asyncio.to_thread(asyncio.run, client.complete(REQ))
            sessions.append(p._stack._session)  # type: ignore[union-attr]
        assert all(s.closed for s in sessions) and len({id(s) for s in sessions}) == 3

    asyncio.run(_serve(handler, serve_forever))
    gc.collect()
    assert calls == 3
