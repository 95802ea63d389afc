"""The user simulator: strict alternation, exact turn counts, reproducible reruns, one traced session."""

from __future__ import annotations

import asyncio
import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sim_fakes import fake_simulator_client

from experiments import EvalSuite, Gate
from experiments.suite import run_case
from judges import Case, DatasetError, load_cases
from judges.conversation import TranscriptCheck
from simulate import ConversationTask, SimulationError, UserSimulator
from simulate._simulator import clean_user_message


def case(max_turns: int = 3, opening: list[dict] | None = None, **meta) -> Case:
    return Case("c1", "A member wants to renew a book.", expected="renewed", metadata={
        "persona": {"name": "Maria", "description": "a retired teacher", "tone": "polite"},
        "goal": "renew the book", "scenario": "A member wants to renew a book.", "max_turns": max_turns,
        "opening_turns": opening or [], **meta})


def echo(messages):
    return f"reply to {messages[-1]['content']}"


def run(coro):
    return asyncio.run(coro)


@pytest.mark.parametrize("max_turns", [1, 2, 3, 5])
@pytest.mark.parametrize("opening", [[], [{"role": "user", "content": "hello"}],
                                     [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]])
def test_strict_alternation_and_exact_turn_count(sim_client, max_turns, opening):
    if len([t for t in opening if t["role"] == "user"]) > max_turns:
        pytest.skip("more opening user turns than the limit")
    t = run(UserSimulator(sim_client).run(case(max_turns, opening), echo))
    roles = [x.role for x in t.turns]
    assert roles == ["user", "assistant"] * max_turns  # one user turn, then one assistant turn, exactly max_turns times
    assert t.user_turns == max_turns and t.stop_reason == "turn_limit"
    assert [x.index for x in t.turns] == list(range(2 * max_turns))
    assert [x.simulated for x in t.turns if x.role == "user"][: len(opening[:1])] == [False] * len(opening[:1])


def test_simulator_max_turns_overrides_the_case(sim_client):
    t = run(UserSimulator(sim_client, max_turns=2).run(case(4), echo))
    assert t.user_turns == 2


def test_seeded_reruns_are_byte_identical_and_seeds_differ():
    def texts(seed: int) -> bytes:
        t = run(UserSimulator(fake_simulator_client(), seed=seed).run(case(3), echo))
        return json.dumps([x.to_dict() for x in t.turns], sort_keys=True).encode()

    assert texts(7) == texts(7)
    assert texts(7) != texts(8)


def test_user_turn_requests_are_greedy_and_seeded():
    seen = []
    client = fake_simulator_client(user_text=lambda req: seen.append(req) or "question")
    run(UserSimulator(client, seed=3).run(case(2), echo))
    assert [(r.temperature, r.seed) for r in seen] == [(0.0, 3000), (0.0, 3002)]


def test_goal_reached_stops_early():
    t = run(UserSimulator(fake_simulator_client(goal_label="5"), goal_threshold=4.5).run(case(4), echo))
    assert t.stop_reason == "goal_reached" and t.user_turns == 1 and t.turns[-1].goal_score == 5.0


def test_user_giving_up_stops_without_a_dangling_turn():
    client = fake_simulator_client(user_text=lambda req: "[GIVE UP]" if req.seed == 2 else "first question")
    t = run(UserSimulator(client).run(case(4), echo))
    assert t.stop_reason == "user_gave_up" and [x.role for x in t.turns] == ["user", "assistant"]


def test_app_raising_mid_conversation_is_recorded_at_that_turn(sim_client):
    calls = []

    def flaky(messages):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("backend down")
        return "fine"

    t = run(UserSimulator(sim_client).run(case(4), flaky))
    assert t.stop_reason == "task_error" and t.failed_turn == 3
    assert t.turns[3].error == "RuntimeError: backend down" and t.turns[1].content == "fine"  # transcript kept
    assert "[error: RuntimeError: backend down]" in t.text()


def test_async_app_and_non_string_reply(sim_client):
    async def app(messages):
        return 42

    t = run(UserSimulator(sim_client).run(case(2), app))
    assert t.stop_reason == "task_error" and "int" in t.turns[1].error


def test_missing_persona_or_goal_is_a_clear_error(sim_client):
    with pytest.raises(SimulationError, match="no persona"):
        run(UserSimulator(sim_client).run(Case("x", "scenario", metadata={"goal": "g"}), echo))
    with pytest.raises(SimulationError, match="no goal"):
        run(UserSimulator(sim_client).run(Case("x", "s", metadata={"persona": {"description": "d"}}), echo))
    with pytest.raises(SimulationError, match="max_turns"):
        UserSimulator(sim_client, max_turns=0)


def test_dataset_rows_missing_persona_or_badly_alternating_are_refused(tmp_path):
    good = {"id": "a", "scenario": "s", "persona": {"name": "n", "description": "d"}, "goal": "g",
            "expected_outcome": "o"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({k: v for k, v in good.items() if k != "persona"}) + "\n")
    with pytest.raises(DatasetError, match="persona"):
        load_cases(bad, "conversation")
    bad.write_text(json.dumps({**good, "opening_turns": [{"role": "assistant", "content": "hi"}]}) + "\n")
    with pytest.raises(DatasetError, match="alternate"):
        load_cases(bad, "conversation")
    bad.write_text(json.dumps({k: v for k, v in good.items() if k != "scenario"}) + "\n")
    with pytest.raises(DatasetError, match="scenario"):
        load_cases(bad, "conversation")


def test_shipped_conversation_set_loads():
    cases = load_cases("conversations.jsonl", "conversation")
    assert len(cases) >= 3 and all(c.metadata["persona"]["description"] for c in cases)


def test_one_traced_session_with_a_span_per_turn(sim_client):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    t = run(UserSimulator(sim_client, tracer=provider.get_tracer("t")).run(case(3), echo))
    spans = exporter.get_finished_spans()
    turn_spans = [s for s in spans if s.name.startswith("turn ")]
    assert [s.name for s in turn_spans] == [f"turn {i}: {x.role}" for i, x in enumerate(t.turns)]
    sessions = {s.attributes.get("session.id") for s in spans}
    assert sessions == {t.session_id}
    root = next(s for s in spans if s.name == "conversation:c1")
    assert all(s.parent.span_id == root.context.span_id for s in turn_spans)
    assert all(x.span_id for x in t.turns)


def test_clean_user_message():
    assert clean_user_message("\n  User: \"Can I renew?\"\nAssistant: yes") == "Can I renew?"
    assert clean_user_message("") == ""
    # a small model's bare role lines before the message (Gemma 3 270M on llama.cpp's server)
    assert clean_user_message("\nuser:\nuser: Can I renew my book?") == "Can I renew my book?"
    assert clean_user_message("\nuser:\nuser:\n") == ""


def test_a_wordless_user_reply_is_asked_again_and_never_becomes_an_empty_turn():
    from judges import Completion, ModelClient
    from judges.providers import FakeScriptedProvider

    def client(*replies: str) -> tuple[ModelClient, FakeScriptedProvider]:
        provider = FakeScriptedProvider([Completion(text=r, provider="fake", model="fake-sim") for r in replies])
        return ModelClient(provider, cache=None, trace=False), provider

    sim_client, provider = client("\nuser:\nuser:", "Can I renew my book?")
    t = run(UserSimulator(sim_client, goal_threshold=None).run(case(1), echo))
    assert [x.content for x in t.turns] == ["Can I renew my book?", "reply to Can I renew my book?"]
    first, second = provider.requests
    assert (first.temperature, second.temperature) == (0.0, 0.7) and first.seed != second.seed
    sim_client, provider = client("user:", "\n", "  user:  ")
    t = run(UserSimulator(sim_client, goal_threshold=None).run(case(1), echo))
    assert t.turns == () and t.stop_reason == "simulator_error" and len(provider.requests) == 3


def test_conversation_task_in_a_suite_records_turns(sim_client):
    suite = EvalSuite("conv", "conversations.jsonl", "conversation",
                      task=ConversationTask(echo, UserSimulator(sim_client)), scorers=(TranscriptCheck(),),
                      gate=Gate(min=1.0, on="point"))
    c = suite.cases()[0]
    rec = run(run_case(suite, c, sim_client))
    assert rec.task.error is None and len(rec.task.turns) == 2 * c.metadata["max_turns"]
    assert rec.task.turns[-1]["stop_reason"] == "turn_limit"
    assert rec.scores[0].score == 1.0 and "turns" not in rec.metadata


@pytest.mark.slow
def test_local_model_reruns_are_byte_identical():
    from judges import get_model

    c = load_cases("conversations.jsonl", "conversation")[0]

    def once() -> str:
        client = get_model("local", cache=None, trace=False)
        sim = UserSimulator(client, seed=0, max_turns=1, goal_threshold=None, max_tokens=24)
        return run(sim.run(c, lambda m: "We can renew it for you.")).text()

    first, second = once(), once()
    assert first.encode() == second.encode() and first.startswith("User: ")
