"""Conversation judges on hand-written transcripts with a fake model: per-turn scores point at the failing turn."""

from __future__ import annotations

import asyncio

import pytest
from judge_fakes import client_for, exact_fake

from judges import Case, GEval, JudgeFailure, Judgement
from judges.conversation import (
    ConversationGEval,
    GoalCompletion,
    KnowledgeRetention,
    PersonaAdherence,
    RoleAdherence,
    TranscriptCheck,
    TurnRelevancy,
)

TURNS = [
    {"index": 0, "role": "user", "content": "My card number is 4471.", "simulated": True},
    {"index": 1, "role": "assistant", "content": "Thanks, noted."},
    {"index": 2, "role": "user", "content": "Please renew The Leopard.", "simulated": True},
    {"index": 3, "role": "assistant", "content": "OFFTOPIC the weather is nice"},
    {"index": 4, "role": "user", "content": "Hello?", "simulated": False},
    {"index": 5, "role": "assistant", "content": "Renewed for card 4471.", "stop_reason": "turn_limit"},
]


def conv(turns=TURNS, **meta) -> Case:
    return Case("c", "renew a book", expected="renewed", metadata={"turns": turns, "goal": "renew", "max_turns": 3,
                                                                   "persona": {"description": "a teacher"}, **meta})


def low_if(marker: str):
    """5 for every judged message, 1 when it contains ``marker``."""
    def fn(req):
        if not req.labels:
            return "1. Read it.\n2. Score it."
        judged = req.messages[0].content.split("reply:\n")[-1].split("Response:\n")[-1]
        return {" 1": 1.0, " 5": 0.0} if marker in judged else {" 1": 0.0, " 5": 1.0}
    return fn


def run(coro):
    return asyncio.run(coro)


def test_turn_relevancy_points_at_the_failing_turn():
    prompts = []
    def fn(req):
        prompts.append(req.messages[0].content)
        return low_if("OFFTOPIC")(req)
    res = run(TurnRelevancy().judge(client_for(exact_fake(fn)), conv()))
    assert isinstance(res, Judgement)
    assert [p["turn"] for p in res.details["per_turn"]] == [1, 3, 5]
    assert res.details["worst_turn"] == 3 and res.details["failing_turns"] == [3]
    assert res.score == pytest.approx((5 + 1 + 5) / 3)
    assert "turn 3" in res.reasoning


def test_sliding_window_limits_what_each_verdict_sees():
    prompts = []
    def fn(req):
        prompts.append(req.messages[0].content)
        return {" 5": 1.0}
    run(TurnRelevancy(window=2).judge(client_for(exact_fake(fn)), conv()))
    last = prompts[-1]
    assert "Hello?" in last and "OFFTOPIC" in last and "4471." not in last.split("Assistant reply")[0]


def test_knowledge_retention_sees_every_earlier_user_turn():
    prompts = []
    def fn(req):
        prompts.append(req.messages[0].content)
        return {" 5": 1.0}
    run(KnowledgeRetention().judge(client_for(exact_fake(fn)), conv()))
    assert len(prompts) == 3 and "My card number is 4471." in prompts[-1] and "Hello?" in prompts[-1]


def test_persona_adherence_judges_only_simulated_user_turns():
    res = run(PersonaAdherence().judge(client_for(exact_fake(lambda r: {" 4": 1.0})), conv()))
    assert [p["turn"] for p in res.details["per_turn"]] == [0, 2] and res.score == 4.0
    assert res.judge == "persona_adherence"


def test_role_adherence_uses_the_case_role():
    prompts = []
    def fn(req):
        prompts.append(req.messages[0].content)
        return {" 5": 1.0}
    run(RoleAdherence().judge(client_for(exact_fake(fn)), conv(assistant_role="the library help desk")))
    assert all("the library help desk" in p for p in prompts) and len(prompts) == 3


def test_goal_completion_on_the_whole_transcript():
    res = run(GoalCompletion().judge(client_for(exact_fake(lambda r: {" 2": 1.0, " 4": 1.0})), conv()))
    assert res.score == pytest.approx(3.0) and res.prob_source == "exact"


def test_a_turn_the_judge_cannot_score_is_partial_not_zero():
    n = []
    def fn(req):
        n.append(1)
        return {" 5": 1.0} if len(n) != 2 else ""
    res = run(TurnRelevancy().judge(client_for(exact_fake(fn)), conv()))
    assert "partial" in res.flags and res.score == 5.0 and res.details["per_turn"][1]["score"] is None


def test_no_turns_is_a_failure_with_the_reason():
    res = run(TurnRelevancy().judge(client_for(exact_fake(lambda r: {" 5": 1.0})), Case("x", "i", output="o")))
    assert isinstance(res, JudgeFailure) and "no conversation turns" in res.reason


def test_conversation_geval_sliding_windows():
    g = ConversationGEval(GEval("coherence", "c", evaluation_steps=("read",)), window=4, stride=2)
    assert g.windows(3) == [(0, 3)]
    assert g.windows(10) == [(0, 4), (2, 6), (4, 8), (6, 10)]
    assert g.windows(9) == [(0, 4), (2, 6), (4, 8), (5, 9)]
    res = run(g.judge(client_for(exact_fake(low_if("OFFTOPIC"))), conv()))
    assert [w["turns"] for w in res.details["windows"]] == [[0, 3], [2, 5]]
    with pytest.raises(ValueError):
        ConversationGEval(GEval("c", "c"), window=4, stride=5)


def test_transcript_check_catches_each_broken_rule():
    ok = run(TranscriptCheck().judge(None, conv()))
    assert ok.score == 1.0
    double = TURNS[:2] + [{"index": 2, "role": "assistant", "content": "again"}] + TURNS[3:]
    assert run(TranscriptCheck().judge(None, conv(double))).score == 0.0
    short = run(TranscriptCheck().judge(None, conv(TURNS[:4])))
    assert short.score == 0.0 and "expected exactly 3" in short.reasoning
    failed = TURNS[:3] + [{"index": 3, "role": "assistant", "content": "", "error": "boom", "stop_reason": "task_error"}]
    res = run(TranscriptCheck().judge(None, conv(failed)))
    assert res.score == 0.0 and res.details["failing_turns"] == [3]
    stopped = TURNS[:2]
    stopped = [stopped[0], {**stopped[1], "stop_reason": "goal_reached"}]
    assert run(TranscriptCheck().judge(None, conv(stopped))).score == 1.0
