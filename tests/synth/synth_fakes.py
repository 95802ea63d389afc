"""Fakes for synth tests: a scripted model (JSON replies and critic label probabilities) and a word embedder."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence

import numpy as np

from judges import ModelClient
from judges.cache import CallCache
from judges.providers.fakes import FakeFunctionProvider
from judges.types import Completion, ModelRequest

CRITIC_LABELS = tuple(f" {i}" for i in range(1, 6))


def label_completion(score: int) -> Completion:
    probs = {lab: (1.0 if lab == f" {score}" else 0.0) for lab in CRITIC_LABELS}
    return Completion(text=f" {score}", provider="fake", model="fake-model", label_probs=probs,
                      texts=(f" {score}",), label_mass=1.0)


def _context(prompt: str) -> str:
    m = re.search(r"Context(?: 1)?:\n(.*?)(?:\n\n|$)", prompt, re.DOTALL)
    return m.group(1) if m else ""


def default_reply(req: ModelRequest) -> str:
    """A question or an answer that depends on the context and the evolution asked for."""
    prompt = req.messages[-1].content
    schema = json.loads(req.json_schema or "{}")
    keys = list(schema.get("properties", {}))
    ctx = _context(prompt)
    if keys == ["answer"]:
        return json.dumps({"answer": f"From the context: {ctx[:60]}"})
    task = re.search(r"Task: (\w+ \w+ \w+)", prompt)
    seed = re.search(r"Question: (.*)", prompt)
    words = " ".join(ctx.split()[:6]) or (seed.group(1) if seed else "something")
    evolved = f" ({task.group(1)} seed={req.seed})" if task else ""
    return json.dumps({"question": f"What about {words}{evolved}?"})


class ScriptedModel:
    """A fake model: ``reply(req)`` for generation, ``critic(req)`` (1..5) for critic label requests."""

    def __init__(self, reply: Callable[[ModelRequest], str] = default_reply,
                 critic: Callable[[ModelRequest], int] = lambda req: 5) -> None:
        self.reply, self.critic = reply, critic
        self.provider = FakeFunctionProvider(self._fn, exact_label_probs=True)

    def _fn(self, req: ModelRequest) -> str | Completion:
        if req.labels is not None:
            return label_completion(self.critic(req))
        return self.reply(req)

    @property
    def requests(self) -> list[ModelRequest]:
        return self.provider.requests

    def client(self, cache: CallCache | None = None) -> ModelClient:
        return ModelClient(self.provider, cache=cache, trace=False)


class WordEmbedder:
    """Bag-of-words unit vectors: equal texts have cosine 1, texts sharing no word cosine 0."""

    dim = 512

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
            n = np.linalg.norm(out[i])
            if n:
                out[i] /= n
        return out
