"""Fakes shared by the judge tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

import math
from collections.abc import Callable

from judges import Completion, ModelClient, ModelRequest
from judges.providers import FakeFunctionProvider


def exact_fake(fn: Callable[[ModelRequest], dict[str, float] | str], **kw) -> FakeFunctionProvider:
    """A fake with exact label probabilities: ``fn`` returns weights over request.labels (or text for generation)."""

    def reply(req: ModelRequest) -> Completion:
        out = fn(req)
        if isinstance(out, str):
            return Completion(text=out, provider="fake", model=kw.get("model", "fake-model"), texts=(out,))
        z = sum(out.values())
        probs = {k: v / z for k, v in out.items()}
        best = max(probs, key=lambda k: probs[k])
        return Completion(text=best, provider="fake", model=kw.get("model", "fake-model"), label_probs=probs)

    return FakeFunctionProvider(reply, exact_label_probs=True, **kw)


def client_for(provider, **kw) -> ModelClient:
    return ModelClient(provider, trace=False, **kw)


def close(a: float, b: float, tol: float = 1e-9) -> bool:
    return math.isclose(a, b, abs_tol=tol)
