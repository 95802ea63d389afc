"""OpenAI-compatible chat completions over HTTP (OpenAI, vLLM, Ollama, llama.cpp server).

Two HTTP stacks behind one provider, chosen per instance:

* **aiohttp** (the ``judges-http`` extra) when it is installed: online evaluation makes hundreds of
  thousands of judge calls, and on a loopback server an ``httpx.AsyncClient`` spends about 2.5 ms of CPU
  per request where aiohttp spends about 0.2 ms (``bench/judge_overhead.py`` measures both);
* **httpx** otherwise, and always when a test hands in ``transport=`` (``httpx.MockTransport``).

Both give the same results and raise the same errors: timeouts and connection failures are
:class:`RetryableProviderError`, and so are 408/409/425/429/5xx (with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import weakref
from collections.abc import AsyncGenerator, Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx

from judges.errors import ModelUnavailableError, ProviderError, RetryableProviderError
from judges.providers._base import ProviderInfo
from judges.providers._label_calls import _completion_call, _label_call
from judges.providers.capabilities import ServerCapabilities, capabilities, known
from judges.types import Completion, ModelRequest, TokenLogprob, TopLogprob, Usage

log = logging.getLogger(__name__)

_SAID_FALLBACK: set[tuple[str, str]] = set()
# one probe at a time per event loop: the first label calls of a run arrive together, and all but the first
# must wait for its answer instead of probing the server again (an asyncio.Lock belongs to one loop)
_PROBE_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def _json_codec() -> tuple[Callable[[Any], bytes], Callable[[bytes], Any]]:
    """msgspec's JSON encoder and decoder when installed (4x json's speed on a chat completion), else json's."""
    try:
        import msgspec
    except ImportError:
        return (lambda obj: json.dumps(obj).encode()), json.loads
    return msgspec.json.Encoder().encode, msgspec.json.Decoder().decode


_encode, _decode = _json_codec()


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class _Unreachable(Exception):
    """The server could not be reached (or the connection broke): worth retrying."""


class _TimedOut(Exception):
    """No answer within the timeout: worth retrying."""


class _Reply:
    """Status, headers and body of one HTTP answer, whichever stack fetched it."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class _HttpxStack:
    """httpx: used with an injected transport (tests) or when aiohttp is not installed."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout_s: float,
                 transport: httpx.AsyncBaseTransport | None, max_connections: int) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(10.0, timeout_s)),
            transport=transport,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )

    async def request(self, method: str, path: str, body: bytes | None = None) -> _Reply:
        try:
            resp = await self._client.request(method, path, content=body)
        except httpx.TimeoutException as exc:
            raise _TimedOut(repr(exc)) from exc
        except httpx.TransportError as exc:
            raise _Unreachable(repr(exc)) from exc
        return _Reply(resp.status_code, resp.headers, resp.content)

    async def aclose(self) -> None:
        await self._client.aclose()

    def discard(self) -> None:
        """Drop the pool of a finished event loop (httpx needs no closing there)."""


class _AiohttpStack:
    """aiohttp: one session per event loop, closed when that loop shuts its async generators down."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout_s: float, max_connections: int) -> None:
        import aiohttp
        from yarl import URL

        self._aiohttp = aiohttp
        self._base = base_url
        self._urls: dict[str, URL] = {}
        self._url_type = URL
        self._proxy = _env_proxy(base_url)  # read once, as httpx does, not per request
        self._session = aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(limit=max_connections, limit_per_host=max_connections),
            # httpx's semantics: each read may take timeout_s; connecting at most 10 s
            timeout=aiohttp.ClientTimeout(total=None, connect=timeout_s, sock_connect=min(10.0, timeout_s),
                                          sock_read=timeout_s),
        )
        self._closer: AsyncGenerator[None, None] | None = None

    async def start(self) -> None:
        # A suspended async generator is closed by asyncio.run()/Runner when the loop finishes
        # (loop.shutdown_asyncgens), so a session nobody closed explicitly is still closed on its own
        # loop, without the "Unclosed client session" warning aiohttp gives on garbage collection.
        self._closer = self._close_at_loop_end()
        await self._closer.__anext__()

    async def _close_at_loop_end(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await self._session.close()

    async def request(self, method: str, path: str, body: bytes | None = None) -> _Reply:
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = self._url_type(path if "://" in path else self._base + path)
        aiohttp = self._aiohttp
        try:
            async with self._session.request(method, url, data=body, proxy=self._proxy) as resp:
                return _Reply(resp.status, resp.headers, await resp.read())
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise _TimedOut(repr(exc)) from exc
        except aiohttp.ClientError as exc:
            raise _Unreachable(repr(exc)) from exc

    async def aclose(self) -> None:
        if self._closer is not None:
            closer, self._closer = self._closer, None
            await closer.aclose()
        else:
            await self._session.close()

    def discard(self) -> None:
        """Forget a session whose event loop has finished (its loop already closed it, or cannot)."""
        self._closer = None
        if not self._session.closed:
            connector = self._session.connector
            self._session.detach()  # marks the session closed: nothing to warn about at collection
            if connector is not None:
                try:
                    connector._close()  # the sockets of a finished loop; nothing left to await
                except RuntimeError:  # "Event loop is closed": the OS reclaims them with the process
                    pass


def _env_proxy(base_url: str) -> str | None:
    """The proxy httpx would use for ``base_url`` from HTTP(S)_PROXY / NO_PROXY, or None."""
    import urllib.request
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme)
    if not proxy or urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return proxy


def _aiohttp_available() -> bool:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        return False
    return True


class OpenAICompatibleProvider:
    """Calls ``{base_url}/chat/completions`` with ``logprobs``/``top_logprobs``.

    The API key is read from the environment variable named by ``api_key_env`` (never stored in
    config files). A request's JSON schema (the judges' structured replies) is sent as OpenAI's
    ``response_format`` of type ``json_schema`` (strict), which vLLM, SGLang and llama.cpp's server also
    honour; ``supports_json_schema=False`` leaves it out for a server that rejects it (the judges then parse
    free text, and a reply that does not parse is a recorded judge failure). ``transport`` lets tests inject
    ``httpx.MockTransport`` instead of a network. ``http="httpx"`` forces httpx; the default uses aiohttp when it is
    installed.

    A label request (``labels`` set) is scored here: the server's capabilities are probed once
    (:mod:`judges.providers.capabilities`), the reply is held to the labels, and the label distribution is read
    from that position's logprobs (``prob_source = "constrained_logprobs"``). ``api="completions"`` (or
    ``EVALHARNESS_JUDGE_API=completions``) is for base models: every request goes to ``/completions`` with the
    messages as plain text, the prompt ending at the label slot (``"completion_logprobs"``). A server that offers
    neither is said once, and the judges parse free text as before.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        supports_logprobs: bool = True,
        supports_json_schema: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 64,
        http: str = "auto",
        api: str | None = None,
    ) -> None:
        if http not in ("auto", "aiohttp", "httpx"):
            raise ValueError(f"http must be 'auto', 'aiohttp' or 'httpx', got {http!r}")
        api = api or os.environ.get("EVALHARNESS_JUDGE_API") or "chat"
        if api not in ("chat", "completions"):
            raise ValueError(f"api must be 'chat' or 'completions' (EVALHARNESS_JUDGE_API), got {api!r}; "
                             "'completions' is for base models: the prompt ends where the label goes")
        if http == "aiohttp" and (transport is not None or not _aiohttp_available()):
            raise ValueError("http='aiohttp' needs aiohttp installed (pip install 'evalharness[judges-http]') "
                             "and no httpx transport")
        # label calls are scored by the provider (constrained, from that position's logprobs) until the probe
        # finds that the server offers no way to do so; then the judges parse free text
        self.info = ProviderInfo("openai-compatible", model, exact_label_probs=supports_logprobs,
                                 top_logprobs=supports_logprobs,
                                 label_source="completion_logprobs" if api == "completions" else "constrained_logprobs")
        self.api = api
        self.supports_json_schema = supports_json_schema
        self.base_url = base_url.rstrip("/")
        self._api_key_env = api_key_env
        self._timeout_s = timeout_s
        self._transport = transport
        self._max_connections = max_connections
        self._use_aiohttp = transport is None and http != "httpx" and _aiohttp_available()
        self._stack: _HttpxStack | _AiohttpStack | None = None
        self._stack_loop: asyncio.AbstractEventLoop | None = None

    @property
    def http_stack(self) -> str:
        """``"aiohttp"`` or ``"httpx"``: which HTTP client this provider uses."""
        return "aiohttp" if self._use_aiohttp else "httpx"

    async def _http(self) -> _HttpxStack | _AiohttpStack:
        loop = asyncio.get_running_loop()
        stack = self._stack
        if stack is not None and self._stack_loop is loop:
            return stack
        if stack is not None:
            # a pool belongs to the loop that opened its connections; a new loop needs a new pool
            stack.discard()
        headers = {"content-type": "application/json"}
        key = os.environ.get(self._api_key_env)
        if key:
            headers["authorization"] = f"Bearer {key}"
        new: _HttpxStack | _AiohttpStack
        if self._use_aiohttp:
            new = _AiohttpStack(self.base_url, headers, self._timeout_s, self._max_connections)
            await new.start()
        else:
            new = _HttpxStack(self.base_url, headers, self._timeout_s, self._transport, self._max_connections)
        self._stack, self._stack_loop = new, loop
        return new

    async def aclose(self) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.aclose()

    def payload(self, request: ModelRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.info.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "n": request.n,
        }
        if request.seed is not None:
            body["seed"] = request.seed
        if request.stop:
            body["stop"] = list(request.stop)
        if request.top_logprobs and self.info.top_logprobs:
            body["logprobs"] = True
            body["top_logprobs"] = min(request.top_logprobs, 20)
        if request.json_schema is not None and self.supports_json_schema:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "reply", "schema": json.loads(request.json_schema), "strict": True}}
        return body

    async def generate(self, request: ModelRequest) -> Completion:
        if request.labels is not None:
            return await _label_call(self, request)
        if self.api == "completions":
            return await _completion_call(self, request)
        t0 = time.perf_counter()
        data = await self.post_json("/chat/completions", self.payload(request))
        # the latency set here spares the client a dataclasses.replace of every completion
        return self._parse(data, latency_s=time.perf_counter() - t0)

    async def post_json(self, path: str, payload: dict[str, Any]) -> Any:
        """POST ``payload`` to ``path`` (under the base URL, or absolute); the decoded JSON, or ProviderError."""
        body = _encode(payload)
        http = await self._http()
        try:
            resp = await http.request("POST", path, body)
        except _TimedOut as exc:
            raise RetryableProviderError(f"timeout calling {self.base_url}: {exc}") from exc
        except _Unreachable as exc:
            raise RetryableProviderError(f"cannot reach {self.base_url}: {exc}") from exc
        if resp.status in RETRYABLE_STATUS:
            raise RetryableProviderError(
                f"{self.base_url} answered {resp.status}: {resp.text[:200]}",
                status=resp.status,
                retry_after=_retry_after(resp.headers),
            )
        if resp.status >= 400:
            hint = f" (is the API key set in ${self._api_key_env}?)" if resp.status in (401, 403) else ""
            raise ProviderError(f"{self.base_url} answered {resp.status}{hint}: {resp.text[:300]}", status=resp.status)
        try:
            return _decode(resp.body)
        except ValueError as exc:
            raise ProviderError(f"{self.base_url} answered with invalid JSON: {resp.text[:300]}") from exc

    async def capabilities(self) -> ServerCapabilities:
        """What this server can do for label calls: probed once per base URL and model, then remembered."""
        caps = known(self.base_url, self.info.model)
        if caps is None:
            lock = _PROBE_LOCKS.setdefault(asyncio.get_running_loop(), asyncio.Lock())
            async with lock:
                caps = known(self.base_url, self.info.model) or await capabilities(
                    self.base_url, self.info.model, self._probe_post)
        usable = caps.completion_alternatives > 0 or caps.echo if self.api == "completions" else (
            caps.chat_alternatives > 0 and caps.constraint is not None)
        if self.api == "completions" and caps.llama_cpp and self.info.label_source != "exact":
            # llama.cpp in completions mode: the embedded judge's own label requests (judges.providers.label_passes)
            self.info = replace(self.info, label_source="exact")
        if not usable and self.info.exact_label_probs:
            self.info = replace(self.info, exact_label_probs=False)  # from here on the judges parse free text
            key = (self.base_url, self.info.model)
            if key in _SAID_FALLBACK:  # said once per process, however many providers point at the server
                return caps
            _SAID_FALLBACK.add(key)
            log.warning("%s (%s) offers no constrained label call with logprobs (%s): judges fall back to "
                        "parsing replies and retrying", self.base_url, self.info.model, caps.describe())
        return caps

    async def _probe_post(self, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        http = await self._http()
        try:
            resp = await http.request("POST", path, _encode(payload))
        except (_TimedOut, _Unreachable):
            return 0, None
        try:
            return resp.status, _decode(resp.body) if resp.status == 200 else None
        except ValueError:
            return resp.status, None

    def _parse(self, data: dict[str, Any], latency_s: float = 0.0) -> Completion:
        # A plain loop and local names: this runs once per judge call, hundreds of thousands of times online. The
        # named tuples are made with tuple.__new__ (their own __new__ is a Python function: a frame per alternative).
        new, token_lp, top_lp = tuple.__new__, TokenLogprob, TopLogprob
        logprobs: list[TokenLogprob] = []
        try:
            choices = data["choices"]
            texts = tuple([(c.get("message") or {}).get("content") or "" for c in choices])
            for t in (choices[0].get("logprobs") or {}).get("content") or ():
                alts = t.get("top_logprobs")
                top = tuple([new(top_lp, (a["token"], float(a["logprob"]))) for a in alts]) if alts else ()
                logprobs.append(new(token_lp, (t["token"], float(t["logprob"]), top)))
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ProviderError(f"unexpected response shape from {self.base_url}: {str(data)[:300]}") from exc
        usage = data.get("usage") or {}
        return Completion(
            text=texts[0] if texts else "",
            provider=self.info.name,
            model=data.get("model") or self.info.model,
            logprobs=tuple(logprobs),
            usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
            texts=texts,
            latency_s=latency_s,
        )

    async def check(self) -> None:
        """Ask ``/models``; a server that is down or does not list the model is a clear error."""
        http = await self._http()
        try:
            resp = await http.request("GET", "/models")
        except (_TimedOut, _Unreachable) as exc:
            raise ModelUnavailableError(
                f"cannot reach the judge server at {self.base_url} ({exc}); start it or fix "
                "EVALHARNESS_JUDGE_MODEL / [judge] base_url"
            ) from exc
        if resp.status in (401, 403):
            raise ModelUnavailableError(
                f"{self.base_url} refused the credentials ({resp.status}); set ${self._api_key_env}"
            )
        if resp.status == 404:  # some servers have no /models; the first call will tell
            return
        if resp.status >= 400:
            raise ModelUnavailableError(f"{self.base_url}/models answered {resp.status}: {resp.text[:200]}")
        try:
            listed = _decode(resp.body).get("data") or []
        except (ValueError, AttributeError):
            listed = []
        ids = {m.get("id") for m in listed if isinstance(m, dict)}
        if ids and self.info.model not in ids:
            raise ModelUnavailableError(
                f"model {self.info.model!r} is not served by {self.base_url}; it serves: {', '.join(sorted(map(str, ids)))}"
            )
        # No capability probe here: it runs at the first label call. A scheduled run with nothing to judge (the
        # monitor every few minutes) then sends no completion at all to a server that may bill for it.
