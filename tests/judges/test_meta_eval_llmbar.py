"""The meta-evaluation on the shared LLMBar Natural pairs: the loader, and a short run on the embedded judge."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

LLMBAR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "llmbar_natural" / "LLMBar_Natural.json"
needs_data = pytest.mark.skipif(not LLMBAR.is_file(), reason=f"LLMBar Natural (princeton-nlp/LLMBar) not found at "
                                f"{LLMBAR}: the shared data folder sits beside the repository only in the workspace")


@needs_data
def test_llmbar_pairs_load_with_their_expert_labels():
    from judges.meta_eval import human_label, load_labelled

    data = load_labelled(f"llmbar:{LLMBAR}")
    assert data.rows == 100 and len(data.cases) == 100 and data.kind == "pairwise"
    labels = [human_label(c, "pairwise") for c in data.cases]
    assert labels.count("A") == 42 and labels.count("B") == 58  # "1" -> A (output_1), "2" -> B
    first = data.cases[0]
    assert first.id == "llmbar-000" and first.output_a and first.output_b and first.input.startswith("Summarize")


@needs_data
@pytest.mark.slow  # the embedded model
def test_meta_eval_on_the_embedded_judge_reproduces_the_slot_bias(tmp_path):
    pytest.importorskip("xllamacpp", reason="the local judge needs: pip install 'evalharness[local]'")
    from judges import ModelClient, PairwiseJudge
    from judges.meta_eval import load_labelled, meta_evaluate
    from judges.providers import EmbeddedLlamaProvider

    client = ModelClient(EmbeddedLlamaProvider(), trace=False)
    rec = asyncio.run(meta_evaluate(PairwiseJudge("helpfulness and correctness"), client,
                                    load_labelled(f"llmbar:{LLMBAR}"), limit=4, n_resamples=100))
    by = {v.name: v for v in rec.variants}
    # docs/judges.md: the embedded judge answers "A" in every order, so the per-order rule ties every pair
    assert rec.bias.slot_a_rate.value == 1.0 and by["per_order"].tie_rate.value == 1.0
    assert by["mean_prob"].tie_rate.value == 0.0 and rec.n_labels == 4 and rec.model_calls == 4 * 2 + 3
