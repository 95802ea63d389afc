"""De-duplication by meaning (within the set and against golden), near-duplicate share, per-source balance."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from synth_fakes import ScriptedModel, WordEmbedder

from judges.types import ModelRequest
from synth import Chunk, SynthConfig, synthesize
from synth._filters import DedupIndex, balance, max_min_ratio, near_duplicate_share


def _unit(*v: float) -> np.ndarray:
    a = np.array(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def test_dedup_index_threshold_is_inclusive_and_names_the_match() -> None:
    idx = DedupIndex(0.8, reference=np.stack([_unit(0, 1)]))
    idx.add(_unit(1, 0))
    assert idx.is_duplicate(_unit(1, 0)) == (True, "set")
    assert idx.is_duplicate(_unit(0, 1)) == (True, "golden")
    v = _unit(0.8, 0.6)  # cosine 0.8 with (1, 0): on the threshold counts as a duplicate
    assert idx.nearest(v)[0] == pytest.approx(0.8)
    assert idx.is_duplicate(v)[0]
    assert not DedupIndex(0.81).is_duplicate(v)[0]  # an empty index holds nothing
    with pytest.raises(ValueError, match="cosine"):
        DedupIndex(1.5)


def test_near_duplicate_share_by_hand() -> None:
    vecs = np.stack([_unit(1, 0), _unit(1, 0.01), _unit(0, 1), _unit(0.3, 1)])
    # row 1 is a near-copy of row 0 (cos 0.99995); row 3 vs row 2: cos 0.958 > 0.95
    assert near_duplicate_share(vecs) == pytest.approx(2 / 4)
    assert near_duplicate_share(vecs, threshold=0.96) == pytest.approx(1 / 4)
    assert near_duplicate_share(vecs[:1]) == 0.0


def test_balance_caps_each_source_at_ratio_times_the_smallest() -> None:
    keys = ["a"] * 7 + ["b"] * 2 + ["c"] * 3
    rows = list(range(len(keys)))
    kept = balance(rows, keys, 3.0)
    kept_keys = [keys[i] for i in kept]
    assert kept_keys.count("a") == 6 and kept_keys.count("b") == 2 and kept_keys.count("c") == 3
    assert kept == [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11]  # the latest row of "a" goes
    assert max_min_ratio({k: kept_keys.count(k) for k in "abc"}) == 3.0
    assert balance(rows, keys, 1.0).count(0) == 1 and len(balance(rows, keys, 1.0)) == 6
    assert max_min_ratio({"a": 4, "b": 0, "c": 2}) == 2.0  # sources without rows are listed apart
    assert max_min_ratio({}) is None
    with pytest.raises(ValueError, match="max_ratio"):
        balance(rows, keys, 0.5)


def test_duplicates_within_the_set_are_dropped_and_regenerated() -> None:
    # every chunk's first question is the same sentence; regenerations are distinct
    def reply(req: ModelRequest) -> str:
        schema = json.loads(req.json_schema or "{}")
        if "answer" in schema.get("properties", {}):
            return json.dumps({"answer": "It is stated in the context."})
        if req.temperature == 0 and "Original question" in req.messages[-1].content:
            return json.dumps({"question": "What does the document say about this topic?"})
        return ScriptedModel().reply(req)

    chunks = [Chunk(f"d{i}", 0, f"{w} grows in {w} soil near {w} rivers.") for i, w in enumerate(["oak", "fir", "elm"])]
    model = ScriptedModel(reply=reply)
    result = asyncio.run(synthesize(model.client(), chunks, SynthConfig(n=3, seed=0, mix="reasoning=1"),
                                    embedder=WordEmbedder()))
    r = result.report
    assert r.rows == 3 and r.duplicates_in_set >= 2 and r.near_duplicate_share == 0.0
    questions = [row.question for row in result.rows]
    assert len(set(questions)) == 3


def test_questions_that_duplicate_the_golden_set_are_dropped() -> None:
    chunks = [Chunk(f"d{i}", 0, f"{w} grows in {w} soil near {w} rivers.") for i, w in enumerate(["oak", "fir"])]

    def reply(req: ModelRequest) -> str:
        if req.temperature == 0 and "Original question" in req.messages[-1].content:
            return json.dumps({"question": "Where does the oak tree grow best?"})
        return ScriptedModel().reply(req)

    result = asyncio.run(synthesize(
        ScriptedModel(reply=reply).client(), chunks, SynthConfig(n=2, seed=0, mix="reasoning=1"),
        embedder=WordEmbedder(), golden_questions=["Where does the oak tree grow best?"]))
    assert result.report.duplicates_of_golden == 2 and result.report.rows == 2
    assert all(row.question != "Where does the oak tree grow best?" for row in result.rows)


def test_sources_take_turns_so_counts_stay_balanced() -> None:
    # one source has five chunks, three have one: round-robin over sources, not over chunks
    chunks = [Chunk("big", i * 100, f"Big document part {w} about {w} things.") for i, w in
              enumerate(["red", "green", "blue", "cyan", "pink"])]
    chunks += [Chunk(f"small{i}", 0, f"Small document {w} on {w} matters.") for i, w in enumerate(["oak", "fir", "elm"])]
    result = asyncio.run(synthesize(ScriptedModel().client(), chunks, SynthConfig(n=8, seed=0, dedup_threshold=0.99),
                                    embedder=WordEmbedder()))
    counts = result.report.per_source
    assert sum(counts.values()) == 8 and max(counts.values()) - min(counts.values()) <= 1
    assert result.report.max_min_ratio is not None and result.report.max_min_ratio <= 1.5


def test_balance_drops_rows_of_a_source_that_outgrew_the_others() -> None:
    # only "big" answers after the first round (the small ones' later slots all fail to parse)
    chunks = [Chunk("big", i * 100, f"Big part {w} about {w}.") for i, w in enumerate(["red", "green", "blue", "cyan"])]
    chunks += [Chunk("small", 0, "Small document on oak matters.")]

    def reply(req: ModelRequest) -> str:
        text = req.messages[-1].content
        if "oak" in text and "Original question" in text and "Rewrite the question so that" not in text:
            return "not json"
        return ScriptedModel().reply(req)

    result = asyncio.run(synthesize(ScriptedModel(reply=reply).client(), chunks,
                                    SynthConfig(n=8, seed=0, max_ratio=2.0, dedup_threshold=0.99, critic=None),
                                    embedder=WordEmbedder()))
    r = result.report
    assert r.per_source.get("small", 0) >= 1
    assert r.max_min_ratio is not None and r.max_min_ratio <= 2.0
    assert r.balanced_out == sum(1 for x in r.rejected if x.step == "balance")
