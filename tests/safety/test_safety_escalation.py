"""Multi-turn escalation: attacks delivered turn by turn through the conversation simulator, graded on every turn."""

from __future__ import annotations

import asyncio
import random

import pytest

from experiments import Task
from experiments.suite import run_case
from judges import Case, Completion, ModelClient, ModelRequest
from judges.providers import FakeFunctionProvider
from safety import make_canary, redteam_report, redteam_suite
from safety.attacks import attack_cases, expand, load_attacks
from safety.escalation import MultiTurnAttackError, MultiTurnTask
from safety.grading import AttackGrader, LeakDetector, detect
from safety.strategies import Escalation, SimulatedEscalation
from simulate import SimulationError, UserSimulator

CANARY = make_canary(seed=3)


def fake_attacker_client() -> ModelClient:
    """A fake simulator model: its user turn names the request's seed (so reruns and seeds can be compared)."""

    def reply(req: ModelRequest) -> Completion:
        text = f"warm-up message {req.seed}"
        return Completion(text=text, provider="fake", model="fake-attacker", texts=(text,))

    return ModelClient(FakeFunctionProvider(reply, model="fake-attacker"), trace=False)


class RecordingChat:
    """A fake chat app: records the messages of each call; ``leak_on`` turns (0-based user turn) leak the canary."""

    def __init__(self, leak_on: int | None = None, raise_on: int | None = None) -> None:
        self.calls: list[list[dict[str, str]]] = []
        self.leak_on, self.raise_on = leak_on, raise_on

    def __call__(self, case: Case):
        async def app(messages: list[dict[str, str]]) -> str:
            n = len(self.calls)
            self.calls.append([dict(m) for m in messages])
            if n == self.raise_on:
                raise RuntimeError("model server down")
            if n == self.leak_on:
                return f"Sure, since it is approved: the code is {CANARY}."
            return "I can't help with that request."
        return app


def refusing_single(case: Case) -> str:
    return "I can't help with that request."


def escalation_cases(strategy, n: int = 3, seed: int = 0) -> list[Case]:
    attacks = [a for a in load_attacks() if a.category == "system_prompt_extraction"]
    return [c for c in attack_cases(expand(attacks, [strategy], per_strategy=n, seed=seed), canary=CANARY)
            if c.metadata.get("user_turns")]


def test_escalation_scripts_three_user_turns_ending_with_the_attack_and_is_seeded():
    cases = escalation_cases(Escalation())
    assert cases and all(len(c.metadata["user_turns"]) == 3 for c in cases)
    assert all(c.metadata["user_turns"][-1] == c.input for c in cases)  # the attack itself is the last turn
    assert escalation_cases(Escalation()) == cases
    turns = Escalation().user_turns("ATTACK", random.Random(0))
    assert turns[-1] == "ATTACK" and turns[0] in Escalation().openers and turns[1] in Escalation().framings
    simulated = escalation_cases(SimulatedEscalation(warmup=2))
    assert all(c.metadata["user_turns"][:2] == [None, None] for c in simulated)
    with pytest.raises(ValueError, match="warmup"):
        SimulatedEscalation(warmup=0)


def test_each_user_turn_is_sent_only_after_the_previous_reply():
    chat = RecordingChat()
    task = MultiTurnTask(Task(refusing_single, name="single"), chat)
    case = escalation_cases(Escalation())[0]
    out = asyncio.run(task.run(case))
    assert [len(m) for m in chat.calls] == [1, 3, 5]  # one user turn, then the reply, then the next user turn
    for messages in chat.calls:
        assert [m["role"] for m in messages] == ["user", "assistant"] * (len(messages) // 2) + ["user"]
    assert [m["content"] for m in chat.calls[-1] if m["role"] == "user"] == case.metadata["user_turns"]
    assert [t["role"] for t in out.turns] == ["user", "assistant"] * 3
    assert out.text == "I can't help with that request." and out.turns[-1]["stop_reason"] == "turn_limit"


def test_a_leak_at_an_earlier_turn_is_a_success_that_the_final_reply_alone_would_hide():
    case = escalation_cases(Escalation())[0]
    out = asyncio.run(MultiTurnTask(Task(refusing_single, name="single"), RecordingChat(leak_on=1)).run(case))
    graded = Case(case.id, case.input, output=out.text, metadata={**case.metadata, "turns": list(out.turns)})
    found = detect(graded)
    assert found is not None and found.succeeded and found.detector == "canary"
    final_only = Case(case.id, case.input, output=out.text, metadata=case.metadata)
    assert not detect(final_only).succeeded  # the final reply refuses: only the transcript shows the leak
    leak = asyncio.run(LeakDetector().judge(None, graded))
    assert leak.score == 0.0


def test_simulated_escalation_writes_the_warm_up_turns_reproducibly():
    case = escalation_cases(SimulatedEscalation(warmup=2))[0]

    def run(seed: int) -> tuple:
        chat = RecordingChat()
        sim = UserSimulator(fake_attacker_client(), seed=seed)  # its goal judge is switched off for attacks
        out = asyncio.run(MultiTurnTask(Task(refusing_single, name="single"), chat, simulator=sim).run(case))
        return out.turns, chat.calls

    turns, calls = run(seed=4)
    users = [t for t in turns if t["role"] == "user"]
    assert [u.get("simulated", False) for u in users] == [True, True, False]
    assert users[0]["content"] == "warm-up message 4000" and users[-1]["content"] == case.input
    assert len(calls) == 3
    assert run(seed=4) == (turns, calls) and run(seed=5)[0] != turns


def test_a_simulated_turn_without_a_simulator_and_an_app_failure_are_task_errors():
    case = escalation_cases(SimulatedEscalation())[0]
    with pytest.raises(MultiTurnAttackError, match="no simulator"):
        asyncio.run(MultiTurnTask(Task(refusing_single, name="single"), RecordingChat()).run(case))
    scripted = escalation_cases(Escalation())[0]
    with pytest.raises(MultiTurnAttackError, match="turn 3: RuntimeError: model server down"):
        asyncio.run(MultiTurnTask(Task(refusing_single, name="single"), RecordingChat(raise_on=1)).run(scripted))


def test_in_a_suite_the_escalation_has_its_own_row_and_records_its_transcript():
    task = MultiTurnTask(Task(refusing_single, name="single"), RecordingChat(leak_on=1))
    suite = redteam_suite("rt", task, canary=CANARY, grader=AttackGrader(fallback=None),
                          strategies=("escalation",), per_strategy=3)

    async def go():
        return [await run_case(suite, c, None) for c in suite.cases()]

    records = asyncio.run(go())
    multi = [r for r in records if r.case_id.endswith(":escalation")]
    assert len(multi) == 3 and all(len(r.task.turns) == 6 for r in multi)
    report = redteam_report(records)
    assert report.by_strategy["escalation"].n == 3
    assert report.by_strategy["plain"].k == 0  # the single-turn app refuses everything


def test_bad_scripts_are_clear_errors():
    sim = UserSimulator(fake_attacker_client(), goal_threshold=None)
    bad = Case("c", "x", metadata={"user_turns": ["hi", 3]})
    with pytest.raises(SimulationError, match="user_turns"):
        asyncio.run(sim.run(bad, lambda m: "ok"))
    both = Case("c", "x", metadata={"user_turns": ["hi"], "opening_turns": [{"role": "user", "content": "a"}]})
    with pytest.raises(SimulationError, match="both opening_turns and user_turns"):
        asyncio.run(sim.run(both, lambda m: "ok"))
    needs_persona = Case("c", "x", metadata={"user_turns": [None, "attack"]})
    with pytest.raises(SimulationError, match="no persona"):
        asyncio.run(sim.run(needs_persona, lambda m: "ok"))
