"""The model client: cache (zero calls on rerun, resume after a kill), retries, rate limit, concurrency; label
calls on OpenAI-compatible servers (capability probe, constrained label calls, completions mode) through fakes."""

import asyncio
import json
import logging
import math
import re
import subprocess
import sys
import textwrap

import httpx
import pytest

from judges import Case, ModelClient, ModelRequest, PointwiseJudge, ProviderError, RetryableProviderError
from judges.cache import CallCache
from judges.providers import FakeFunctionProvider, OpenAICompatibleProvider, ProviderInfo, openai_compat
from judges.providers import capabilities as caps_mod
from judges.providers.capabilities import label_distribution
from judges.providers.concurrency import AdaptiveLimit
from judges.types import TokenLogprob, TopLogprob

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


# -- label calls on OpenAI-compatible servers (issue 27): fake servers through httpx.MockTransport ----------------

# the label position's full distribution in the fake servers: p(1..5) and mass on other tokens
DIST = {"1": 0.05, "2": 0.10, "3": 0.20, "4": 0.40, "5": 0.05, "Sure": 0.20}


def _top(shift=""):
    return [{"token": shift + t, "logprob": math.log(p)} for t, p in DIST.items()]


def fake_llama_cpp(seen):
    """A fake of llama.cpp's server: honours grammar and assistant prefill, gives wide pre-constraint logprobs."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.url.path, body))
        if request.url.path == "/tokenize":  # a toy tokenizer: a character a token, BOS = 1
            return httpx.Response(200, json={"tokens": [1] * body["add_special"] + [ord(c) for c in body["content"]]})
        if request.url.path.endswith("/completions") and isinstance(body.get("prompt"), list):
            # a label pass: a space after the prompt, then DIST's digits; the forced token is the one sampled
            after_space = body["prompt"][-1] == ord(" ")
            top = [{"id": ord(t), "logprob": lp} for t, lp in ((a["token"], a["logprob"]) for a in _top())
                   if len(t) == 1] if after_space else [{"id": ord(" "), "logprob": -0.1}]
            forced = body["logit_bias"][0][0]
            value = next((a["logprob"] for a in top if a["id"] == forced), -20.0)
            return httpx.Response(200, json={"choices": [{"text": chr(forced), "logprobs": {"content": [
                {"id": forced, "token": chr(forced), "logprob": value, "top_logprobs": top}]}}]})
        if request.url.path.endswith("/completions") and "prompt" in body:
            if body["max_tokens"] == 1:  # the probe: one generated token, no echo (llama.cpp ignores it)
                return httpx.Response(200, json={"choices": [{"text": ",", "logprobs": {"content": [
                    {"token": ",", "logprob": -1.0, "top_logprobs": _top()}]}}]})
            lp = {"content": [{"token": " ", "logprob": -0.1, "top_logprobs": []},
                              {"token": "4", "logprob": math.log(0.4), "top_logprobs": _top()}]}
            return httpx.Response(200, json={"choices": [{"text": " 4", "logprobs": lp}]})
        grammar = body.get("grammar", "")
        msgs = body["messages"]
        prefill = msgs[-1]["content"] if msgs[-1]["role"] == "assistant" else ""
        if "Qx7" in grammar or '"7"' in grammar:  # the probe
            text = prefill + "7"
            lps = [{"token": "7", "logprob": -1.0, "top_logprobs": [{"token": str(i), "logprob": -5.0}
                                                                    for i in range(body.get("top_logprobs", 0))]}]
        elif grammar:
            text = prefill + " 4"
            lps = [{"token": " ", "logprob": -0.1, "top_logprobs": []},
                   {"token": "4", "logprob": math.log(0.4), "top_logprobs": _top()}]
        else:
            text, lps = "Because it is right.", []
        return httpx.Response(200, json={"model": body["model"], "choices": [
            {"message": {"content": text}, "logprobs": {"content": lps} if body.get("logprobs") else None}]})

    return httpx.MockTransport(handler)


def fake_openai(seen, *, json_schema=True, logprobs=True):
    """A fake of OpenAI's API: refuses unknown fields and over 20 alternatives; a JSON schema enum, if honoured."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.url.path, body))
        if not request.url.path.endswith("/chat/completions") or "grammar" in body or "guided_choice" in body:
            return httpx.Response(400, json={"error": {"message": "Unrecognized request argument"}})
        if body.get("top_logprobs", 0) > 20:
            return httpx.Response(400, json={"error": {"message": "top_logprobs must be <= 20"}})
        fmt = body.get("response_format")
        if fmt and json_schema:
            value = fmt["json_schema"]["schema"]["properties"]
            key = next(iter(value))
            pick = "Qx7" if "Qx7" in value[key]["enum"] else "4"
            toks = ['{"', key, '":"', pick, '"}']
            text = "".join(toks)
        else:
            toks, text = ["Score", ":", " ", "4"], "Score: 4"
        lps = [{"token": t, "logprob": -0.5, "top_logprobs": _top() if t == "4" else [{"token": t, "logprob": -0.5}]}
               for t in toks]
        return httpx.Response(200, json={"choices": [
            {"message": {"content": text},
             "logprobs": {"content": lps} if logprobs and body.get("logprobs") else None}]})

    return httpx.MockTransport(handler)


def _judge_with(provider):
    judge = PointwiseJudge("correctness", "5: right, 1: wrong", explain=False)
    return asyncio.run(judge.judge(ModelClient(provider, trace=False), Case(id="c", input="2+2?", output="4")))


@pytest.fixture(autouse=False)
def fresh_capabilities(monkeypatch):
    monkeypatch.setattr(caps_mod, "_KNOWN", {})
    monkeypatch.setattr(caps_mod, "_LOCKS", {})
    monkeypatch.setattr(openai_compat, "_SAID_FALLBACK", set())


WANT = {k: v / 0.8 for k, v in DIST.items() if k != "Sure"}  # renormalised over the labels by hand


def test_label_distribution_reads_the_label_slot_renormalised():
    lps = [TokenLogprob('{"score":"', -0.1), TokenLogprob("4", math.log(0.4),
                                                          tuple(TopLogprob(t["token"], t["logprob"]) for t in _top()))]
    probs, mass = label_distribution(lps, len('{"score":"'), ["1", "2", "3", "4", "5"])
    assert probs == pytest.approx(WANT) and mass == pytest.approx(0.8)
    # a token that starts before the slot counts only the alternatives that share its text up to the slot
    merged = [TokenLogprob('":"4', math.log(0.4), tuple(TopLogprob('":"' + t["token"], t["logprob"]) for t in _top())
                           + (TopLogprob("4", 0.0),))]
    probs, _ = label_distribution(merged, 3, ["1", "2", "3", "4", "5"])
    assert probs == pytest.approx(WANT)


@pytest.mark.usefixtures("fresh_capabilities")
def test_llama_cpp_like_server_is_probed_once_and_gives_constrained_label_probabilities():
    seen = []
    p = OpenAICompatibleProvider("m", base_url="http://fake-llama/v1", transport=fake_llama_cpp(seen))
    first, second = _judge_with(p), _judge_with(p)
    assert first.prob_source == "constrained_logprobs" and first.label_probs == pytest.approx(WANT)
    assert second.label_probs == pytest.approx(WANT)
    caps = caps_mod.known("http://fake-llama/v1", "m")
    assert caps.grammar and caps.prefill and caps.constraint == "grammar" and caps.chat_alternatives == 100
    probes = [b for path, b in seen if "Qx7" in json.dumps(b) or b.get("prompt") == "Hello there"]
    label_calls = [b for path, b in seen if re.search(r'" 1" \| " 2"', b.get("grammar", ""))]
    assert len(label_calls) == 2 and len(probes) <= 3  # probed once for both judgements
    assert label_calls[0]["messages"][-1] == {"role": "assistant", "content": "Score:"}  # a prefill, not forced


@pytest.mark.usefixtures("fresh_capabilities")
def test_openai_like_server_gets_a_json_schema_enum():
    seen = []
    p = OpenAICompatibleProvider("m", base_url="http://fake-openai/v1", transport=fake_openai(seen))
    result = _judge_with(p)
    assert result.prob_source == "constrained_logprobs" and result.label_probs == pytest.approx(WANT)
    label_call = seen[-1][1]
    assert label_call["response_format"]["json_schema"]["schema"]["properties"]["score"]["enum"] == list("12345")
    assert label_call["top_logprobs"] == 20


@pytest.mark.usefixtures("fresh_capabilities")
def test_a_server_with_no_constraint_falls_back_to_parsing_and_says_so_once(caplog):
    seen = []
    p = OpenAICompatibleProvider("m", base_url="http://fake-plain/v1",
                                 transport=fake_openai(seen, json_schema=False))
    with caplog.at_level(logging.WARNING, logger="judges.providers.openai_compat"):
        first, second = _judge_with(p), _judge_with(p)
    assert first.prob_source == second.prob_source == "top_logprobs"  # today's parse-and-read path
    assert first.label_probs == pytest.approx(WANT)
    assert sum("fall back to parsing" in r.message for r in caplog.records) == 1


@pytest.mark.usefixtures("fresh_capabilities")
def test_a_cached_rerun_against_a_server_without_constraints_still_parses(tmp_path):
    cache = CallCache(tmp_path / "c.sqlite")
    for _ in range(2):  # a new provider each run, as in a new process: the label call must not come from the cache
        p = OpenAICompatibleProvider("m", base_url="http://fake-plain/v1", transport=fake_openai([], json_schema=False))
        judge = PointwiseJudge("correctness", "5: right, 1: wrong", explain=False)
        result = asyncio.run(judge.judge(ModelClient(p, cache=cache, trace=False), Case(id="c", input="2+2?", output="4")))
        assert result.prob_source == "top_logprobs" and result.label_probs == pytest.approx(WANT)


@pytest.mark.usefixtures("fresh_capabilities")
def test_completions_mode_ends_the_prompt_at_the_label_slot():
    seen = []
    p = OpenAICompatibleProvider("m", base_url="http://fake-llama/v1", transport=fake_llama_cpp(seen),
                                 api="completions")
    result = _judge_with(p)
    # llama.cpp: the embedded judge's own label requests (judges.providers.label_passes), so exact probabilities
    assert result.prob_source == "exact" and result.label_probs == pytest.approx(WANT)
    prompt = [b["content"] for path, b in seen if path == "/tokenize" and b["add_special"]][-1]
    assert prompt.startswith("user: Grade the response") and prompt.endswith("\nassistant: Score:")
    passes = [b for path, b in seen if path == "/v1/completions" and isinstance(b.get("prompt"), list)]
    # the prompt evaluated whole, then the labels' shared space extends the cache: two passes for five labels
    assert [(len(b["prompt"]) - len(prompt) - 1, b["cache_prompt"]) for b in passes] == [(0, False), (1, True)]
    with pytest.raises(ValueError, match="EVALHARNESS_JUDGE_API"):
        OpenAICompatibleProvider("m", api="complete")


@pytest.mark.usefixtures("fresh_capabilities")
def test_completions_mode_scores_multi_token_labels_from_echoed_prompt_logprobs():
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if not request.url.path.endswith("/completions") or "prompt" not in body:
            return httpx.Response(400, json={"error": "unsupported"})
        prompt = body["prompt"]
        if not body.get("echo"):
            return httpx.Response(200, json={"choices": [{"text": "x", "logprobs": {
                "tokens": ["x"], "token_logprobs": [-1.0], "top_logprobs": [{"x": -1.0}], "text_offset": [len(prompt)]}}]})
        # the prompt's tokens: everything before "Score:" as one token, then the label split in two tokens
        cut = prompt.rfind("Score:") + len("Score:")
        label = prompt[cut:]
        toks = [prompt[:cut], label[:2], label[2:]] if len(label) > 2 else [prompt[:cut], label]
        lps = {" 1": [-1.0], " 10": [-1.0, -0.5]}.get(label, [-3.0] * (len(toks) - 1))
        offsets = [0, cut, cut + 2][:len(toks)] + [len(prompt)]
        return httpx.Response(200, json={"choices": [{"text": "!", "logprobs": {
            "tokens": [*toks, "!"], "token_logprobs": [None, *lps, -2.0], "top_logprobs": None,
            "text_offset": offsets}}]})

    p = OpenAICompatibleProvider("m", base_url="http://fake-vllm/v1", transport=httpx.MockTransport(handler),
                                 api="completions")
    req = ModelRequest([{"role": "user", "content": "x"}, {"role": "assistant", "content": "Score:"}],
                       max_tokens=1, labels=(" 1", " 10"))
    out = asyncio.run(p.generate(req))
    # " 1": e^-1, " 10": e^-1.5, renormalised by hand
    assert out.label_probs == pytest.approx({" 1": 1 / (1 + math.exp(-0.5)), " 10": 1 / (1 + math.exp(0.5))})
    assert caps_mod.known("http://fake-vllm/v1", "m").echo


# -- adaptive concurrency (issue 27): a fake server with two slots that queues the rest ----------------------


class FakeSlotServer:
    """A fake of a self-hosted server: ``slots`` requests served at once, the rest queue (latency grows)."""

    def __init__(self, slots=2, service_s=0.01):
        self.info = ProviderInfo("openai-compatible", "fake-slots")
        self._slots = asyncio.Semaphore(slots)
        self.service_s = service_s
        self.open_now = 0
        self.most_open = 0

    async def generate(self, request):
        from judges.types import Completion

        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            async with self._slots:
                await asyncio.sleep(self.service_s)
        finally:
            self.open_now -= 1
        return Completion(text="ok", provider="fake", model="fake-slots")

    async def check(self):
        return None


def test_adaptive_limit_settles_near_the_servers_slots_and_is_on_for_servers_only():
    server = FakeSlotServer(slots=2)
    client = ModelClient(server, max_concurrency=16, trace=False)
    assert client.adaptive and not ModelClient(FakeFunctionProvider(lambda r: ""), trace=False).adaptive

    async def go():
        reqs = [ModelRequest([{"role": "user", "content": str(i)}]) for i in range(300)]
        await asyncio.gather(*(client.complete(r) for r in reqs))

    asyncio.run(go())
    st = client.concurrency()
    assert st is not None and 2 <= st.settled <= 8, st  # a fixed 16 would keep 16 open on the server
    assert server.most_open < 16


def test_refusals_halve_the_limit_once_per_burst():
    limit = AdaptiveLimit(16, initial=16)

    async def go():
        for _ in range(3):
            await limit.acquire()
        limit.release(0.1)  # a served call: sets the recent latency
        limit.release(None, overloaded=True)
        limit.release(None, overloaded=True)  # the same burst

    asyncio.run(go())
    assert 8 <= limit.limit < 9 and limit.stats().overloads == 2


def test_a_timed_out_attempt_is_cancelled_before_its_retry_is_sent():
    events = []
    calls = 0

    async def slow_then_fast(request):
        nonlocal calls
        calls += 1
        n = calls
        events.append(("start", n))
        try:
            if n == 1:
                await asyncio.sleep(10)
            return "Score: 4"
        finally:
            events.append(("end", n))

    provider = FakeFunctionProvider(slow_then_fast)
    provider.info = ProviderInfo("openai-compatible", "fake")
    client, _ = no_sleep_client(provider, timeout_s=0.05, max_retries=2)
    out = asyncio.run(client.complete(REQ))
    assert out.text == "Score: 4" and client.stats.timeouts == 1 and client.stats.retries == 1
    assert events == [("start", 1), ("end", 1), ("start", 2), ("end", 2)]  # never two attempts open at once
