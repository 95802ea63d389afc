"""Label calls and completions-mode calls of the OpenAI-compatible provider (the provider's other half).

A label request (``ModelRequest.labels``, e.g. " 1" .. " 5", after an assistant prefill such as "Score:")
is answered with ``label_probs``:

- **chat**: the reply is held to ``prefill + label`` by the server's best constraint (grammar, guided
  choice, or a JSON schema ``{"score": enum}``), and the distribution is read from the logprobs of the
  position where the label starts, renormalised over the labels;
- **completions** (base models): the prompt is the rendered messages plus the prefill, so it ends at the
  label slot; the labels come from the first generated tokens' logprobs (held to the labels where the
  server can), or, for multi-token labels on a server that echoes prompt logprobs, from scoring each label
  as the prompt's continuation.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from judges.errors import ProviderError
from judges.providers.capabilities import (
    ServerCapabilities,
    constraint_fields,
    label_distribution,
    label_offset,
    token_logprobs,
)
from judges.providers.label_passes import distribution, label_passes
from judges.types import Completion, Message, ModelRequest, Usage

if TYPE_CHECKING:
    from judges.providers.openai_compat import OpenAICompatibleProvider

_MAX_ALTERNATIVES = 100


def _split_prefill(messages: tuple[Message, ...]) -> tuple[list[Message], str]:
    if messages and messages[-1].role == "assistant":
        return list(messages[:-1]), messages[-1].content
    return list(messages), ""


def _json_key(prefill: str) -> str:
    word = re.sub(r"[^a-z0-9_]+", "_", prefill.strip().rstrip(":").lower()).strip("_")
    return word or "label"


def _usage(data: Any) -> Usage:
    usage = (data.get("usage") if isinstance(data, dict) else None) or {}
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


def _none(provider: OpenAICompatibleProvider, text: str, data: Any = None) -> Completion:
    return Completion(text=text, provider=provider.info.name, model=provider.info.model, usage=_usage(data))


async def _label_call(provider: OpenAICompatibleProvider, request: ModelRequest) -> Completion:
    labels = request.labels or ()
    if not labels:
        raise ProviderError("a label request needs at least one label")
    caps = await provider.capabilities()
    if not provider.info.exact_label_probs:
        return _none(provider, "")  # the judges read that the server cannot and parse free text instead
    msgs, prefill = _split_prefill(request.messages)
    if provider.api == "completions":
        return await _label_completion(provider, request, caps, msgs, prefill)
    constraint = caps.constraint
    assert constraint is not None  # capabilities() said usable
    key = _json_key(prefill)
    shown = ", ".join(lab.strip() for lab in labels)
    ask = (f"\n\nAnswer with only {{\"{key}\": <label>}}" if constraint == "json_schema"
           else f"\n\nAnswer with only '{prefill} <label>'") + f", where <label> is one of: {shown}."
    last = msgs[-1]
    msgs[-1] = Message(last.role, last.content + ask)
    # with a prefill the server continues right after "Score:" and the constraint holds only the label
    forced = "" if caps.prefill and prefill else prefill
    if caps.prefill and prefill:
        msgs.append(Message("assistant", prefill))
    body = provider.payload(ModelRequest(msgs, max_tokens=16, temperature=0.0, seed=request.seed))
    body.update(constraint_fields(constraint, forced, labels, key))
    body["logprobs"] = True
    body["top_logprobs"] = min(caps.chat_alternatives, _MAX_ALTERNATIVES)
    body.update(_whole_prompt(caps))
    data = await provider.post_json("/chat/completions", body)
    done = provider._parse(data)
    # llama.cpp returns the prefill with the continuation; the logprobs cover only the continuation
    text = done.text[len(prefill):] if not forced and prefill and done.text.startswith(prefill) else done.text
    offset = label_offset(constraint, text, forced, key)
    if offset is None:
        raise ProviderError(f"{provider.base_url} did not keep to the {constraint} constraint: {done.text[:200]!r}")
    probs, mass = label_distribution(done.logprobs, offset, labels)
    return _with_probs(done, probs, mass)


def _whole_prompt(caps: ServerCapabilities) -> dict[str, Any]:
    """On llama.cpp, evaluate the prompt whole: with a cached prefix from the slot's last request its CPU kernels
    see other batch shapes and the label probabilities move by up to 0.02 (measured with Gemma 3 270M), so a
    judgement would depend on which prompt ran before it. Other servers get no extra field (OpenAI refuses one)."""
    return {"cache_prompt": False} if caps.llama_cpp else {}


def _with_probs(done: Completion, probs: dict[str, float] | None, mass: float) -> Completion:
    best = max(probs, key=lambda k: probs[k]) if probs else done.text
    return Completion(text=best, provider=done.provider, model=done.model, logprobs=done.logprobs,
                      usage=done.usage, label_probs=probs, label_mass=mass if probs else None, texts=(done.text,))


def render(msgs: list[Message]) -> str:
    """The completions-mode prompt for ``msgs``: plain ``role: content`` lines and ``assistant: `` (a base model
    has no chat template). The embedded judge renders a GGUF without a template the same way, so both score
    the same prompt."""
    return "".join(f"{m.role}: {m.content}\n" for m in msgs) + "assistant: "


def _completion_body(provider: OpenAICompatibleProvider, prompt: str, request: ModelRequest) -> dict[str, Any]:
    body: dict[str, Any] = {"model": provider.info.model, "prompt": prompt, "max_tokens": request.max_tokens,
                            "temperature": request.temperature, "top_p": request.top_p, "n": request.n}
    if request.seed is not None:
        body["seed"] = request.seed
    if request.stop:
        body["stop"] = list(request.stop)
    return body


def _texts(data: Any, where: str) -> tuple[str, ...]:
    try:
        return tuple(str(c.get("text") or "") for c in data["choices"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise ProviderError(f"unexpected response shape from {where}: {str(data)[:300]}") from exc


async def _completion_call(provider: OpenAICompatibleProvider, request: ModelRequest) -> Completion:
    """A free-text request in completions mode: the rendered messages (a trailing assistant message is a prefill)."""
    msgs, prefill = _split_prefill(request.messages)
    prompt = render(msgs) + prefill
    data = await provider.post_json("/completions", _completion_body(provider, prompt, request))
    texts = _texts(data, provider.base_url)
    return Completion(text=texts[0] if texts else "", provider=provider.info.name,
                      model=provider.info.model, usage=_usage(data), texts=texts)


async def _label_completion(provider: OpenAICompatibleProvider, request: ModelRequest, caps: ServerCapabilities,
                            msgs: list[Message], prefill: str) -> Completion:
    labels = request.labels or ()
    prompt = render(msgs) + prefill
    constraint = caps.constraint if caps.constraint in ("grammar", "guided_choice") else None
    if caps.llama_cpp:  # exact, multi-token labels included, with the embedded judge's own requests
        return await _label_exact(provider, prompt, labels)
    if caps.echo:  # exact for multi-token labels too
        return await _label_echo(provider, prompt, labels)
    body = _completion_body(provider, prompt, ModelRequest(msgs or [Message("user", "")], max_tokens=8,
                                                           temperature=0.0, seed=request.seed))
    body["logprobs"] = min(caps.completion_alternatives, _MAX_ALTERNATIVES)
    if constraint is not None:
        body.update(constraint_fields(constraint, "", labels, "label"))
    body.update(_whole_prompt(caps))
    data = await provider.post_json("/completions", body)
    texts = _texts(data, provider.base_url)
    done = Completion(text=texts[0] if texts else "", provider=provider.info.name, model=provider.info.model,
                      logprobs=tuple(token_logprobs(data)), usage=_usage(data))
    probs, mass = label_distribution(done.logprobs, 0, labels)
    return _with_probs(done, probs, mass)


_LABEL_IDS: dict[tuple[str, str, str], list[int]] = {}


async def _tokenize(provider: OpenAICompatibleProvider, text: str, *, bos: bool) -> list[int]:
    root = provider.base_url.removesuffix("/v1")  # llama.cpp's native endpoints sit beside /v1
    data = await provider.post_json(f"{root}/tokenize", {"content": text, "add_special": bos, "parse_special": True})
    try:
        return [int(t) for t in data["tokens"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderError(f"{root}/tokenize gave no token ids: {str(data)[:200]}") from exc


async def _label_exact(provider: OpenAICompatibleProvider, prompt: str, labels: tuple[str, ...]) -> Completion:
    """P(label | prompt) for each label on a llama.cpp server, by :func:`label_passes` over HTTP: the requests,
    and so the probabilities, of the embedded judge serving the same model (``prob_source = "exact"``)."""
    label_ids: dict[str, list[int]] = {}
    for label in labels:
        key = (provider.base_url, provider.info.model, label)
        if key not in _LABEL_IDS:
            _LABEL_IDS[key] = await _tokenize(provider, label, bos=False)
        label_ids[label] = _LABEL_IDS[key]
        if not label_ids[label]:
            raise ProviderError(f"label {label!r} tokenizes to nothing on {provider.base_url}")
    prompt_ids = await _tokenize(provider, prompt, bos=True)
    passes = label_passes(prompt_ids, label_ids, {"model": provider.info.model})
    try:
        body = next(passes)
        while True:
            body = passes.send(await provider.post_json("/completions", body))
    except StopIteration as done:
        logp, evaluated = done.value
    probs, mass = distribution(logp)
    best = max(probs, key=lambda k: probs[k])
    return Completion(text=best, provider=provider.info.name, model=provider.info.model,
                      usage=Usage(len(prompt_ids), evaluated), label_probs=probs, label_mass=mass, texts=(best,))


async def _label_echo(provider: OpenAICompatibleProvider, prompt: str, labels: tuple[str, ...]) -> Completion:
    """Each label scored as the prompt's continuation from the echoed prompt logprobs (vLLM, OpenAI legacy):
    exact for multi-token labels, one request per label."""
    logp: dict[str, float] = {}
    prompt_tokens = 0
    for label in labels:
        data = await provider.post_json("/completions", {"model": provider.info.model, "prompt": prompt + label,
                                                         "max_tokens": 1, "temperature": 0.0, "logprobs": 1,
                                                         "echo": True})
        lp = (data.get("choices") or [{}])[0].get("logprobs") or {}
        offsets, values = lp.get("text_offset") or [], lp.get("token_logprobs") or []
        if not offsets or len(offsets) != len(values):
            raise ProviderError(f"{provider.base_url} echoed no prompt logprobs with text offsets for {label!r}")
        start = len(prompt)
        # the label's tokens: those starting at or after the prompt's end, without the one generated token
        picked = [v for off, v in zip(offsets[:-1], values[:-1], strict=True) if off >= start and v is not None]
        logp[label] = sum(picked)
        prompt_tokens = max(prompt_tokens, _usage(data).prompt_tokens)
    probs, mass = distribution(logp)
    best = max(logp, key=lambda k: logp[k])
    return Completion(text=best, provider=provider.info.name, model=provider.info.model,
                      usage=Usage(prompt_tokens, 0), label_probs=probs, label_mass=mass, texts=(best,))
