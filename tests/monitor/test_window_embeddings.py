"""A scheduled run embeds each input of its window once, though the drift step (the ``input_topic`` feature) and the
topics report both read the window (``monitor.runner._WindowEmbeddings``). The embedder here is a counting fake:
the logic under test is which texts reach it."""

from __future__ import annotations

import numpy as np

import monitor.topics
from monitor.runner import _WindowEmbeddings


def test_each_distinct_text_reaches_the_embedder_once(monkeypatch):
    seen: list[list[str]] = []

    def fake_embed(texts):  # a fake embedder: one distinct unit vector per text length
        seen.append(list(texts))
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, len(t) % 384] = 1.0
        return out

    monkeypatch.setattr(monitor.topics, "embed_texts", fake_embed)
    embed = _WindowEmbeddings()
    first = embed(["ab", "abc", "ab"])
    second = embed(["abc", "abcd", "ab"])
    assert seen == [["ab", "abc"], ["abcd"]]
    assert first.shape == (3, 384) and np.array_equal(first[0], first[2]) and np.array_equal(first[1], second[0])
    assert second[1].argmax() == 4 and embed([]).shape == (0, 384)
