"""Generation on a fake model: each evolution, the mix, personas, structured replies, the critic, reproducibility."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import pytest
from synth_fakes import ScriptedModel, WordEmbedder

from judges.cache import CallCache
from judges.types import ModelRequest
from synth import EVOLUTIONS, Chunk, Critic, SynthConfig, synthesize
from synth._evolutions import choose_evolution, parse_mix
from synth._generate import QuestionReply
from synth._structured import ask_json
from synth.errors import SynthConfigError, SynthSourceError

DOCS = [
    Chunk(f"doc{i}.md", 0, f"Topic {w} fact: the {w} value is {i} units and depends on {w} pressure.")
    for i, w in enumerate(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"])
]


def _run(model: ScriptedModel, chunks=DOCS, **cfg):  # type: ignore[no-untyped-def]
    golden = cfg.pop("golden", ())
    config = SynthConfig(**{"n": 6, "seed": 1, **cfg})
    return asyncio.run(synthesize(model.client(), chunks, config, embedder=WordEmbedder(), golden_questions=golden))


def _evolve_prompts(model: ScriptedModel) -> list[str]:
    return [r.messages[-1].content for r in model.requests if "Original question:" in r.messages[-1].content]


@pytest.mark.parametrize("evolution", sorted(EVOLUTIONS))
def test_each_evolution_instructs_the_model_and_is_recorded(evolution: str) -> None:
    model = ScriptedModel()
    result = _run(model, mix={evolution: 1.0})
    assert result.report.rows == 6
    assert {r.origin.evolution for r in result.rows} == {evolution}
    instruction = EVOLUTIONS[evolution].instruction
    assert all(instruction in p for p in _evolve_prompts(model))
    for row in result.rows:
        assert row.kind == "rag" and row.reference and row.reference.startswith("From the context")
        if EVOLUTIONS[evolution].needs_two:
            # two contexts, from two different sources, both shown to the model
            assert len(row.contexts or []) == 2 and len(set(row.origin.context_sources)) == 2
        else:
            assert row.contexts == [next(c.text for c in DOCS if c.source == row.origin.source)]


def test_mix_is_normalised_and_validated() -> None:
    assert parse_mix("reasoning=3,comparative=1") == {"reasoning": 0.75, "comparative": 0.25}
    assert parse_mix(None) == {k: 1 / len(EVOLUTIONS) for k in EVOLUTIONS}
    with pytest.raises(SynthConfigError, match="unknown evolutions"):
        parse_mix("reasoning=1,sideways=1")
    with pytest.raises(SynthConfigError, match="positive sum"):
        parse_mix({"reasoning": 0})
    with pytest.raises(SynthConfigError, match="not a number"):
        parse_mix("reasoning=lots")


def test_mix_draws_follow_the_weights() -> None:
    rng = random.Random(0)
    mix = parse_mix("reasoning=3,hypothetical=1")
    draws = [choose_evolution(mix, rng, has_context=True, has_partner=True) for _ in range(4000)]
    assert abs(draws.count("reasoning") / 4000 - 0.75) < 0.03


def test_inputs_without_context_get_only_evolutions_that_need_none() -> None:
    mix = parse_mix(None)
    rng = random.Random(0)
    got = {choose_evolution(mix, rng, has_context=False, has_partner=False) for _ in range(200)}
    assert got == {k for k, e in EVOLUTIONS.items() if not e.needs_context and not e.needs_two}
    with pytest.raises(SynthConfigError, match="no evolution"):
        choose_evolution(parse_mix("multi_context=1"), rng, has_context=True, has_partner=False)


def test_log_inputs_give_qa_rows_with_personas() -> None:
    log = [Chunk(f"log:p.jsonl#{i}", i, "", kind="log", seed_question=f"how do I reset device {w}?")
           for i, w in enumerate(["one", "two", "three", "four"])]
    model = ScriptedModel()
    result = _run(model, chunks=log, n=4)
    assert [r.kind for r in result.rows] == ["qa"] * 4
    assert all(r.reference is None and r.contexts is None for r in result.rows)
    assert {r.origin.evolution for r in result.rows} <= {k for k, e in EVOLUTIONS.items() if not e.needs_context}
    assert all(r.origin.persona in {"novice", "expert", "student", "busy_professional"} for r in result.rows)
    assert sum(result.report.personas.values()) == 4


def test_local_requests_carry_the_json_schema_and_every_reply_parses() -> None:
    model = ScriptedModel()
    result = _run(model)
    gen = [r for r in model.requests if r.labels is None]
    assert gen and all(r.json_schema is not None for r in gen)
    assert json.loads(gen[0].json_schema or "")["properties"]["question"]["maxLength"] == 160
    assert result.report.json_parse_rate == 1.0 and result.report.json_replies == result.report.json_parsed


def test_unparsable_replies_are_retried_then_recorded() -> None:
    replies = iter(['{"question": "What is fine here?"}', "not json at all", '{"question": "x"}',
                    '```json\n{"question": "What changes in alpha?"}\n```', '{"answer": "Alpha is 0."}'])
    model = ScriptedModel(reply=lambda req: next(replies))
    got = asyncio.run(ask_json(model.client(), "p", QuestionReply, seed=3))
    assert got.value is not None and got.value.question == "What is fine here?" and got.attempts == 1
    got = asyncio.run(ask_json(model.client(), "p", QuestionReply, seed=3, max_parse_retries=2))
    assert got.value is not None and got.value.question == "What changes in alpha?"
    assert got.attempts == 3
    assert [f.reason.split(":")[0] for f in got.failures] == ["not JSON", "field question"]
    assert got.failures[0].raw == "not json at all"
    retry_seeds = [r.seed for r in model.requests[1:4]]
    assert retry_seeds == [3, 4, 5]  # each retry is another fixed seed: reproducible


def test_parse_rate_counts_failures() -> None:
    calls = {"n": 0}

    def reply(req: ModelRequest) -> str:
        calls["n"] += 1
        if "answer" in (req.json_schema or "") and calls["n"] % 2:
            return "garbage"
        return ScriptedModel().reply(req)

    result = _run(ScriptedModel(reply=reply))
    r = result.report
    assert r.json_replies > r.json_parsed > 0
    assert r.json_parse_rate == pytest.approx(r.json_parsed / r.json_replies)


def test_critic_threshold_rejects_regenerates_and_keeps_the_score() -> None:
    def reply(req: ModelRequest) -> str:
        text = ScriptedModel().reply(req)
        if req.temperature > 0:  # a regeneration: mark its question so the fake critic can tell
            text = text.replace("?", " again?")
        return text

    # first tries score 2 (below the threshold), regenerations 4
    model = ScriptedModel(reply=reply, critic=lambda req: 4 if any("again?" in m.content for m in req.messages) else 2)
    result = _run(model, critic=Critic(threshold=3.0, max_retries=2))
    assert result.report.rows == 6
    assert all(r.origin.critic_score == pytest.approx(4.0) and r.origin.attempts == 2 for r in result.rows)
    assert all(r.question.endswith("again?") for r in result.rows)
    assert result.report.critic_pass_rate == pytest.approx(0.5)
    assert {x.step for x in result.report.rejected} == {"critic"}


def test_critic_score_on_threshold_passes_and_below_fails() -> None:
    at = _run(ScriptedModel(critic=lambda req: 3), critic=Critic(threshold=3.0, max_retries=0))
    assert at.report.rows == 6 and at.report.critic_pass_rate == 1.0
    below = _run(ScriptedModel(critic=lambda req: 2), critic=Critic(threshold=3.0, max_retries=1))
    assert below.report.rows == 0 and below.report.critic_pass_rate == 0.0
    assert below.report.candidates == 6 * 2 + 6 * 2  # each slot tried 1 + max_retries times, until the slots ran out
    assert "produced 0 of 6" in below.report.message


def test_the_same_seed_gives_the_same_set_and_a_rerun_is_served_by_the_cache(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "c.sqlite")
    model = ScriptedModel()
    config = SynthConfig(n=6, seed=7)
    first = asyncio.run(synthesize(model.client(cache), DOCS, config, embedder=WordEmbedder()))
    calls = len(model.requests)
    second = asyncio.run(synthesize(model.client(cache), DOCS, config, embedder=WordEmbedder()))
    assert [r.model_dump() for r in first.rows] == [r.model_dump() for r in second.rows]
    assert len(model.requests) == calls  # every call of the rerun came from the cache
    assert second.report.model_calls == 0 and second.report.cache_hits > 0
    other = asyncio.run(synthesize(ScriptedModel().client(), DOCS, SynthConfig(n=6, seed=8), embedder=WordEmbedder()))
    assert [r.origin.evolution for r in other.rows] != [r.origin.evolution for r in first.rows]


def test_n_beyond_what_the_sources_support_says_what_was_possible() -> None:
    result = _run(ScriptedModel(), chunks=DOCS[:2], n=100, mix="reasoning=1,hypothetical=1", dedup_threshold=0.99)
    assert result.report.possible == 4 and result.report.rows == 4
    assert "asked for 100 rows but the sources support at most 4" in result.report.message


def test_no_usable_input_is_an_error_naming_the_skipped_inputs() -> None:
    from synth._sources import Skipped

    with pytest.raises(SynthSourceError, match="empty.txt: empty document"):
        asyncio.run(synthesize(ScriptedModel().client(), [], SynthConfig(), embedder=WordEmbedder(),
                               skipped=[Skipped("empty.txt", "empty document")]))


def test_a_context_too_long_for_the_window_is_skipped_with_the_reason() -> None:
    from judges.errors import ProviderError

    def reply(req: ModelRequest) -> str:
        if "alpha" in req.messages[-1].content:
            raise ProviderError("prompt of 5000 tokens + max_tokens 200 exceeds n_ctx 4096")
        return ScriptedModel().reply(req)

    result = _run(ScriptedModel(reply=reply), n=5)
    assert result.report.rows == 5 and "doc0.md" not in result.report.per_source
    provider = [x for x in result.report.rejected if x.step == "provider"]
    assert provider and all("exceeds n_ctx" in x.reason for x in provider)
    assert result.report.json_parse_rate == 1.0  # no reply is not a parse failure


def test_config_is_validated() -> None:
    with pytest.raises(SynthConfigError, match="n must be"):
        SynthConfig(n=0)
    with pytest.raises(SynthConfigError, match="personas"):
        SynthConfig(personas=("pirate",))
    with pytest.raises(ValueError, match="threshold"):
        Critic(threshold=7)
