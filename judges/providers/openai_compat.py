"""OpenAI-compatible chat completions over HTTP (OpenAI, vLLM, Ollama, llama.cpp server)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import httpx

from judges.errors import ModelUnavailableError, ProviderError, RetryableProviderError
from judges.providers._base import ProviderInfo
from judges.types import Completion, ModelRequest, TokenLogprob, TopLogprob, Usage

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
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


class OpenAICompatibleProvider:
    """Calls ``{base_url}/chat/completions`` with ``logprobs``/``top_logprobs``.

    The API key is read from the environment variable named by ``api_key_env`` (never stored in
    config files). ``transport`` lets tests inject ``httpx.MockTransport`` instead of a network.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        supports_logprobs: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 64,
    ) -> None:
        self.info = ProviderInfo("openai-compatible", model, exact_label_probs=False, top_logprobs=supports_logprobs)
        self.base_url = base_url.rstrip("/")
        self._api_key_env = api_key_env
        self._timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))
        self._transport = transport
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._client: httpx.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def _http(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            # an httpx pool belongs to the loop that opened its connections; a new loop needs a new pool
            self._client_loop = loop
            headers = {"content-type": "application/json"}
            key = os.environ.get(self._api_key_env)
            if key:
                headers["authorization"] = f"Bearer {key}"
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=headers,
                timeout=self._timeout,
                transport=self._transport,
                limits=self._limits,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

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
        return body

    async def generate(self, request: ModelRequest) -> Completion:
        try:
            resp = await self._http().post("/chat/completions", json=self.payload(request))
        except httpx.TimeoutException as exc:
            raise RetryableProviderError(f"timeout calling {self.base_url}: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise RetryableProviderError(f"cannot reach {self.base_url}: {exc!r}") from exc
        if resp.status_code in RETRYABLE_STATUS:
            raise RetryableProviderError(
                f"{self.base_url} answered {resp.status_code}: {resp.text[:200]}",
                status=resp.status_code,
                retry_after=_retry_after(resp.headers),
            )
        if resp.status_code >= 400:
            hint = f" (is the API key set in ${self._api_key_env}?)" if resp.status_code in (401, 403) else ""
            raise ProviderError(
                f"{self.base_url} answered {resp.status_code}{hint}: {resp.text[:300]}", status=resp.status_code
            )
        return self._parse(resp.json())

    def _parse(self, data: dict[str, Any]) -> Completion:
        try:
            choices = data["choices"]
            texts = tuple((c.get("message") or {}).get("content") or "" for c in choices)
            lp_content = ((choices[0].get("logprobs") or {}).get("content")) or []
        except (KeyError, IndexError, TypeError) as exc:
            raise ProviderError(f"unexpected response shape from {self.base_url}: {str(data)[:300]}") from exc
        logprobs = tuple(
            TokenLogprob(
                t["token"],
                float(t["logprob"]),
                tuple(TopLogprob(a["token"], float(a["logprob"])) for a in (t.get("top_logprobs") or [])),
            )
            for t in lp_content
        )
        usage = data.get("usage") or {}
        return Completion(
            text=texts[0] if texts else "",
            provider=self.info.name,
            model=data.get("model") or self.info.model,
            logprobs=logprobs,
            usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
            texts=texts,
        )

    async def check(self) -> None:
        """Ask ``/models``; a server that is down or does not list the model is a clear error."""
        try:
            resp = await self._http().get("/models")
        except httpx.HTTPError as exc:
            raise ModelUnavailableError(
                f"cannot reach the judge server at {self.base_url} ({exc!r}); start it or fix "
                "EVALHARNESS_JUDGE_MODEL / [judge] base_url"
            ) from exc
        if resp.status_code in (401, 403):
            raise ModelUnavailableError(
                f"{self.base_url} refused the credentials ({resp.status_code}); set ${self._api_key_env}"
            )
        if resp.status_code == 404:  # some servers have no /models; the first call will tell
            return
        if resp.status_code >= 400:
            raise ModelUnavailableError(f"{self.base_url}/models answered {resp.status_code}: {resp.text[:200]}")
        ids = {m.get("id") for m in (resp.json().get("data") or []) if isinstance(m, dict)}
        if ids and self.info.model not in ids:
            raise ModelUnavailableError(
                f"model {self.info.model!r} is not served by {self.base_url}; it serves: {', '.join(sorted(map(str, ids)))}"
            )
