"""The embedded judge's two engines on the example suites' label prompts: llama-cpp-python (compiled, the old
path) and llama.cpp's server in process (xllamacpp, the default). Both score every label exactly from the full
softmax; their llama.cpp builds differ, and so do their numbers (docs/judges.md, "Embedded judge")."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import statistics
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # loads the real model twice

pytest.importorskip("xllamacpp", reason="the embedded judge needs: pip install 'evalharness[local]'")
pytest.importorskip("llama_cpp", reason="the comparison needs the old engine too, which compiles llama.cpp: "
                    "pip install 'evalharness[llama-cpp]' (set-up does not install it)")

from judges import Case, GEval, ModelClient
from judges.providers.embedded import EmbeddedLlamaProvider
from judges.providers.fakes import FakeFunctionProvider
from judges.providers.llama import LlamaCppProvider
from judges.types import Completion, ModelRequest

ROOT = Path(__file__).resolve().parents[2]
STEPS = ("Check that every statement in the summary appears in the article.",
         "Check that the summary states the key facts in one well-structured sentence.")


def _suite(module: str, name: str):
    spec = importlib.util.spec_from_file_location(f"_engines_{module}", ROOT / "evals" / f"{module}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return getattr(mod, name)


def _label_requests(per_kind: int = 3) -> list[ModelRequest]:
    """The label requests the example suites' judges send (pointwise, G-Eval with pinned steps, pairwise in
    both orders), recorded through a fake that answers every label set uniformly."""
    rag, summaries, pairs = (_suite("test_rag_qa", "FAITHFULNESS"), _suite("test_summaries", "SUMMARIES"),
                             _suite("test_pairwise", "PROMPTS"))
    geval = dataclasses.replace(next(s for s in summaries.scorers if isinstance(s, GEval)), evaluation_steps=STEPS)
    items = [(rag.judge, c) for c in rag.cases()[:per_kind]]
    items += [(geval, Case(c.id, c.input, output=c.expected)) for c in summaries.cases()[:per_kind]]
    items += [(pairs.judge, c) for c in pairs.cases()[:per_kind]]

    def uniform(req: ModelRequest) -> Completion | str:
        if req.labels:
            return Completion(req.labels[0], "fake", "fake", label_probs={lab: 1 / len(req.labels) for lab in req.labels},
                              texts=(req.labels[0],))
        return "fine"

    fake = FakeFunctionProvider(uniform, exact_label_probs=True)
    client = ModelClient(fake, cache=None, trace=False)

    async def judge_all():
        for judge, case in items:
            await judge.judge(client, case)

    asyncio.run(judge_all())
    return [r for r in fake.requests if r.labels]


@pytest.fixture(scope="module")
def both() -> tuple[list[ModelRequest], list[Completion], list[Completion]]:
    requests = _label_requests()
    old, new = LlamaCppProvider(), EmbeddedLlamaProvider(slots=2)
    try:
        outs_old = [asyncio.run(old.generate(r)) for r in requests]
        outs_new = [asyncio.run(new.generate(r)) for r in requests]
    finally:
        new.close()
    return requests, outs_old, outs_new


def _diffs(both) -> list[float]:
    requests, outs_old, outs_new = both
    return [abs(a.label_probs[lab] - b.label_probs[lab]) for r, a, b in zip(requests, outs_old, outs_new)
            for lab in r.labels]


def test_both_engines_score_the_same_label_sets_exactly(both):
    requests, outs_old, outs_new = both
    assert len(requests) == 12  # 3 pointwise, 3 G-Eval, 3 pairs x 2 orders
    for r, a, b in zip(requests, outs_old, outs_new):
        assert set(a.label_probs) == set(b.label_probs) == set(r.labels)
        assert sum(b.label_probs.values()) == pytest.approx(1.0, abs=1e-9)
        assert a.usage.prompt_tokens == b.usage.prompt_tokens  # the same prompt, token for token


def test_the_engines_differ_by_what_their_llama_cpp_builds_differ(both):
    """Measured on these prompts: max |Δp| 0.06, mean 0.01 (label probabilities in 0..1). The bound catches a
    broken engine (a dropped token, a wrong prompt, top-k instead of the full softmax), not build noise."""
    diffs = _diffs(both)
    assert max(diffs) < 0.1
    assert statistics.fmean(diffs) < 0.025


@pytest.mark.xfail(strict=True, reason="issue 24 asks 1e-4 per label; llama-cpp-python 0.3.36 and xllamacpp "
                   "2026.10 compute different logits (kernels, repacked Q4_K weights, flash attention): "
                   "docs/judges.md, 'Embedded judge'")
def test_the_engines_agree_to_1e4(both):
    assert max(_diffs(both)) <= 1e-4
