"""The embedded judge on llama.cpp's own server, run in this process from the prebuilt ``xllamacpp`` wheel.

No compiler at set-up, and faster than the ``llama-cpp-python`` path (``judges.providers.llama``) it replaces:

- the model is loaded once per process, and ``slots`` requests run at once (continuous batching);
- all single-token labels are read from one forward pass (top-N of the full softmax, ``n_probs``), and a
  multi-token label's continuations re-use the prompt's KV cache instead of evaluating it again;
- every request runs alone in the server (no other slot's tokens in its batches) and evaluates its prompt whole,
  whatever the slot held before, so label probabilities and greedy or seeded replies do not depend on what ran
  beside or before them: a rerun of a suite gives the same outputs, byte for byte. (Sharing the slots, or reusing
  a cached prompt for the reason request, was up to 1.8x faster for pointwise judges, but a rerun then changed
  replies: the first token's logits differ when the prompt's last token is evaluated on its own.)

Label probabilities stay exact (``prob_source = "exact"``): each label is tokenized on its own and scored token by
token, P(label) = Π P(t_k | prompt, t_<k), multi-token labels included, by the requests of
:mod:`judges.providers.label_passes`, which a judge in completions mode sends to a llama.cpp server over HTTP too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from judges.errors import JudgeConfigError, ModelUnavailableError, ProviderError
from judges.providers._base import ProviderInfo
from judges.providers.label_passes import distribution, label_passes
from judges.types import Completion, Message, ModelRequest, Usage

DEFAULT_MODEL_NAME = "gemma-3-270m-q4_k_m"


class _Slots:
    """Which server slot a request runs in: the free slot whose cached tokens share the longest prefix with the
    prompt (ties: the least recently used), so a judgement's label passes and its reason request find their
    prompt in the KV cache even while other judgements run in the other slots."""

    def __init__(self, n: int) -> None:
        self._cached: list[list[int]] = [[] for _ in range(n)]
        self._free = set(range(n))
        self._used = [0] * n
        self._clock = 0
        self._cond = threading.Condition()

    def acquire(self, ids: list[int]) -> int:
        with self._cond:
            while not self._free:
                self._cond.wait()
            slot = max(self._free, key=lambda k: (_common_prefix(self._cached[k], ids), -self._used[k]))
            self._free.remove(slot)
            return slot

    def release(self, slot: int, ids: list[int]) -> None:
        with self._cond:
            self._cached[slot] = ids
            self._clock += 1
            self._used[slot] = self._clock
            self._free.add(slot)
            self._cond.notify()


class _Exclusive:
    """Label scoring runs alone in the server; generation requests run side by side.

    llama.cpp batches the tokens of all busy slots into one forward pass, and its CPU kernels give different
    logits for different batch shapes (measured: up to 0.01 in a label's probability). A label distribution
    computed while another slot decodes would depend on what ran beside it; computed alone, it does not."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive or self._waiting:
                self._cond.wait()
            self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                self._shared -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._exclusive or self._shared:
                self._cond.wait()
            self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class EmbeddedLlamaProvider:
    """llama.cpp's server in process (``xllamacpp``); same contract and probabilities as ``LlamaCppProvider``.

    ``slots``: requests decoded at once (each with ``n_ctx`` tokens of context); ``n_threads``: CPU threads.
    """

    def __init__(self, model_path: str | Path | None = None, *, model_name: str | None = None, n_ctx: int = 4096,
                 n_threads: int | None = None, slots: int = 4) -> None:
        self._path = Path(model_path) if model_path is not None else None
        name = model_name or (self._path.stem if self._path is not None else DEFAULT_MODEL_NAME)
        # the same provider and model names as the llama-cpp-python path: equal probabilities, one cache and baseline
        # not "llama.cpp" (the llama-cpp-python engine): the call cache keys on the provider's name, and the two
        # engines' kernels give other probabilities and replies, so one's cached calls must not answer for the other
        self.info = ProviderInfo("llama.cpp-server", name, exact_label_probs=True, top_logprobs=False)
        self._n_ctx = n_ctx
        self._n_threads = n_threads or os.cpu_count() or 1
        self._slots = slots
        self._server: Any = None
        self._http: Any = None
        self._template: str | None = None
        self._bos_text = ""
        self._label_tokens: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._pool = _Slots(slots)
        self._alone = _Exclusive()

    # -- loading -------------------------------------------------------------------------------
    def _load(self) -> Any:
        if self._server is not None:
            return self._server
        with self._lock:
            if self._server is not None:
                return self._server
            from judges.providers.llama import default_gguf_path
            from judges.providers.llama_server import LlamaServer

            path = self._path or default_gguf_path()
            if not path.is_file():
                raise ModelUnavailableError(
                    f"GGUF model file not found: {path}; set EVALHARNESS_JUDGE_MODEL=local:/path/to/model.gguf")
            import httpx

            self._template = gguf_chat_template(path)
            try:
                server = LlamaServer(path, slots=self._slots, threads=self._n_threads,
                                     ctx_per_slot=self._n_ctx).start()
            except ModelUnavailableError:
                raise
            except Exception as exc:  # xllamacpp raises RuntimeError/ValueError with llama.cpp's reason
                raise ModelUnavailableError(f"llama.cpp's server could not load {path}: {exc}") from exc
            # only /tokenize and /apply-template go over loopback HTTP; completions are in-process calls
            # no kept-alive connection: a provider dropped without close() (one per test, say) must leave no open
            # socket behind for the garbage collector to warn about; a loopback connect costs microseconds
            self._http = httpx.Client(base_url=server.root_url, timeout=60,
                                      limits=httpx.Limits(max_keepalive_connections=0))
            self._bos_text = str(self._http.get("/props").json().get("bos_token") or "")
            self._server = server
        # one token first: the weights are paged in here, not inside the first judgement's timing
        self._complete({"prompt": "Hi", "n_predict": 1, "temperature": 0.0, "cache_prompt": False})
        return server

    async def check(self) -> None:
        await asyncio.to_thread(self._load)

    def close(self) -> None:
        """Stop the server (the model is unloaded); the next call starts it again."""
        with self._lock:
            if self._http is not None:
                self._http.close()
            if self._server is not None:
                self._server.stop()
            self._server = self._http = None

    # -- prompts and tokens --------------------------------------------------------------------
    def format_prompt(self, messages: tuple[Message, ...]) -> str:
        """The model's own chat template; a trailing assistant message is a prefill. A GGUF without a template
        gets ``role: content`` lines, exactly as the llama-cpp-python path writes them."""
        self._load()
        prefill = ""
        if messages[-1].role == "assistant":
            prefill = messages[-1].content
            messages = messages[:-1]
        msgs = [{"role": m.role, "content": m.content} for m in messages]
        if self._template:
            reply = self._http.post("/apply-template", json={"messages": msgs})
            if reply.status_code != 200:
                raise ProviderError(f"llama.cpp could not apply the chat template: {reply.text[:200]}")
            prompt = str(reply.json()["prompt"])
        else:
            prompt = "".join(f"{m['role']}: {m['content']}\n" for m in msgs) + "assistant: "
        return prompt + prefill

    def tokenize(self, text: str, *, bos: bool) -> list[int]:
        """Token ids as the model's tokenizer makes them (special tokens parsed), with BOS when ``bos``."""
        reply = self._http.post("/tokenize", json={"content": text, "add_special": bos, "parse_special": True})
        if reply.status_code != 200:
            raise ProviderError(f"llama.cpp could not tokenize the prompt: {reply.text[:200]}")
        return [int(t) for t in reply.json()["tokens"]]

    def _label_ids(self, label: str) -> list[int]:
        toks = self._label_tokens.get(label)
        if toks is None:
            toks = self.tokenize(label, bos=False)
            if not toks:
                raise JudgeConfigError(f"label {label!r} tokenizes to nothing; use a non-empty label")
            self._label_tokens[label] = toks
        return toks

    # -- calls ---------------------------------------------------------------------------------
    def _complete(self, body: dict[str, Any]) -> dict[str, Any]:
        """One in-process /completion call (no HTTP); llama.cpp's error reply becomes a ProviderError."""
        server = self._load()
        replies: list[str] = []
        server.native.handle_completions(json.dumps(body), replies.append)
        if not replies:
            raise ProviderError("llama.cpp's server returned nothing for a completion request")
        out: dict[str, Any] = json.loads(replies[-1])
        if "error" in out:
            err = out["error"]
            raise ProviderError(f"llama.cpp's server: {err.get('message', err) if isinstance(err, dict) else err}")
        return out

    async def generate(self, request: ModelRequest) -> Completion:
        t0 = time.perf_counter()
        completion = await asyncio.to_thread(self._generate_sync, request)
        return Completion(**{**completion.__dict__, "latency_s": time.perf_counter() - t0})

    def _generate_sync(self, request: ModelRequest) -> Completion:
        self._load()
        prompt = self.format_prompt(request.messages)
        bos = not (self._bos_text and prompt.startswith(self._bos_text))
        prompt_ids = self.tokenize(prompt, bos=bos)
        if len(prompt_ids) + request.max_tokens > self._n_ctx:
            raise ProviderError(
                f"prompt of {len(prompt_ids)} tokens + max_tokens {request.max_tokens} exceeds n_ctx {self._n_ctx}; "
                "shorten the case or raise n_ctx ([judge] n_ctx in evalharness.toml)"
            )
        if request.labels is not None:
            return self._score_labels(prompt_ids, request.labels)
        slot = self._pool.acquire(prompt_ids)
        try:
            # alone and from a whole prompt, like label scoring: a greedy or seeded reply must not depend on what
            # ran beside it or before it in the slot (the first token's logits differ when the prompt's last token
            # is evaluated on its own after a cache hit), or a rerun of the same suite gives other outputs
            with self._alone.exclusive():
                return self._generate_in(slot, prompt_ids, request)
        finally:
            self._pool.release(slot, prompt_ids)

    def _generate_in(self, slot: int, prompt_ids: list[int], request: ModelRequest) -> Completion:
        texts: list[str] = []
        completion_tokens = 0
        for i in range(request.n):
            body: dict[str, Any] = {
                "prompt": prompt_ids, "n_predict": request.max_tokens, "temperature": request.temperature,
                "top_p": request.top_p, "stop": list(request.stop), "cache_prompt": False, "id_slot": slot,
            }
            if request.seed is not None:
                body["seed"] = request.seed + i
            if request.json_schema is not None:
                # llama.cpp turns the schema into a grammar and checks it on the sampled token first, the whole
                # vocabulary only when that token does not fit (the loop LlamaCppProvider writes by hand)
                body["json_schema"] = json.loads(request.json_schema)
            out = self._complete(body)
            texts.append(str(out["choices"][0]["text"]))
            completion_tokens += int(out["usage"]["completion_tokens"])
        return Completion(text=texts[0], provider=self.info.name, model=self.info.model,
                          usage=Usage(len(prompt_ids), completion_tokens), texts=tuple(texts))

    def _score_labels(self, prompt_ids: list[int], labels: tuple[str, ...]) -> Completion:
        """Exact P(label | prompt) for each label, renormalised over the label set (see the module docstring)."""
        if not labels:
            raise JudgeConfigError("labels must not be empty")
        slot = self._pool.acquire(prompt_ids)
        try:
            with self._alone.exclusive():
                return self._score_labels_in(slot, prompt_ids, labels)
        finally:
            self._pool.release(slot, prompt_ids)

    def _score_labels_in(self, slot: int, prompt_ids: list[int], labels: tuple[str, ...]) -> Completion:
        passes = label_passes(prompt_ids, {label: self._label_ids(label) for label in labels}, {"id_slot": slot})
        try:
            body = next(passes)
            while True:
                body = passes.send(self._complete(body))
        except StopIteration as done:
            logp, evaluated = done.value
        probs, mass = distribution(logp)
        best = max(probs, key=lambda k: probs[k])
        return Completion(text=best, provider=self.info.name, model=self.info.model,
                          usage=Usage(len(prompt_ids), evaluated), label_probs=probs, texts=(best,), label_mass=mass)

def gguf_chat_template(path: str | Path) -> str | None:
    """``tokenizer.chat_template`` from a GGUF file's metadata, or None when the file has none.

    Read from the header without loading the model, so the prompt is rendered the way the llama-cpp-python path
    renders it: with the file's own template, else as ``role: content`` lines (Gemma 3 270M has no template)."""
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ModelUnavailableError(f"{path} is not a GGUF file (no GGUF magic)")
        version, _n_tensors, n_kv = struct.unpack("<IQQ", f.read(20))
        if version < 2:
            raise ModelUnavailableError(f"{path}: GGUF version {version} is too old; convert it again")
        for _ in range(n_kv):
            key = _gguf_string(f)
            vtype = struct.unpack("<I", f.read(4))[0]
            if key == "tokenizer.chat_template" and vtype == _GGUF_STRING:
                return _gguf_string(f)
            _gguf_skip(f, vtype)
    return None


_GGUF_STRING, _GGUF_ARRAY = 8, 9
_GGUF_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _gguf_string(f: BinaryIO) -> str:
    (n,) = struct.unpack("<Q", f.read(8))
    return f.read(n).decode("utf-8", "replace")


def _gguf_skip(f: BinaryIO, vtype: int) -> None:
    if vtype in _GGUF_SIZES:
        f.seek(_GGUF_SIZES[vtype], 1)
    elif vtype == _GGUF_STRING:
        (n,) = struct.unpack("<Q", f.read(8))
        f.seek(n, 1)
    elif vtype == _GGUF_ARRAY:
        item, count = struct.unpack("<IQ", f.read(12))
        if item in _GGUF_SIZES:
            f.seek(_GGUF_SIZES[item] * count, 1)
        else:
            for _ in range(count):
                _gguf_skip(f, item)
    else:
        raise ModelUnavailableError(f"unknown GGUF metadata type {vtype} in {getattr(f, 'name', 'the file')}")


def _probe() -> None:
    """Load the default model and score two labels: proves the prebuilt llama.cpp runs on this CPU."""
    import sys

    provider = EmbeddedLlamaProvider(slots=1)
    req = ModelRequest([Message("user", "Is the sky blue? Answer yes or no."), Message("assistant", "Answer:")],
                       labels=(" yes", " no"))
    out = asyncio.run(provider.generate(req))
    provider.close()
    if out.label_probs is None or abs(sum(out.label_probs.values()) - 1) > 1e-6:
        raise SystemExit(f"llama.cpp returned no label distribution: {out.label_probs}")
    sys.stdout.write(f"llama.cpp (xllamacpp) OK: {out.label_probs}\n")


if __name__ == "__main__":
    _probe()
