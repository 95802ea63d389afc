"""A library help-desk assistant (the local model) in simulated conversations with persona users.

The simulator (the local model too, greedy, seed 0) plays each persona of ``datasets/conversations.jsonl``
for at most ``max_turns`` user turns. The suite gates on ``transcript_check`` (deterministic: strict
alternation, the exact turn count unless a stated stop, no failed turn): the embedded 270M judge's grades
barely track people, so goal completion, turn relevancy, knowledge retention and the simulator's persona
adherence are reported, not gated, until meta-evaluation qualifies a judge (docs/conversations.md).
"""

import pytest

from experiments import EvalSuite, Gate
from judges import ModelRequest, get_model
from judges.conversation import (
    GoalCompletion,
    KnowledgeRetention,
    PersonaAdherence,
    TranscriptCheck,
    TurnRelevancy,
)
from simulate import ConversationTask, UserSimulator

SYSTEM = ("You are the help desk of a public library. Loans last three weeks and can be renewed twice online "
          "or at the desk with the library card number. Open Monday to Saturday 9:00-20:00, Sunday 10:00-16:00. "
          "A lost card is replaced at the desk with a photo ID. Answer in one or two sentences.")
_APP: list = []


async def library_desk(messages: list[dict[str, str]]) -> str:
    """The application under test: the conversation so far -> the next assistant reply."""
    if not _APP:
        _APP.append(get_model("local", cache=None))  # the app's calls bypass the call cache
    out = await _APP[0].complete(ModelRequest([{"role": "user", "content": SYSTEM}, {"role": "assistant", "content": "Understood."},
                                               *messages], max_tokens=40, stop=("\n",)))
    return out.text.strip()


CONVERSATIONS = EvalSuite(
    name="conversations",
    dataset="conversations.jsonl",
    kind="conversation",
    task=ConversationTask(library_desk, lambda: UserSimulator(get_model("local", cache=None), seed=0),
                          name="library-desk", version="1"),
    scorers=(TranscriptCheck(), GoalCompletion(), TurnRelevancy(), KnowledgeRetention(), PersonaAdherence()),
    gate=Gate(min=1.0, on="point", max_drop=0.0, max_task_error_rate=0.0),
    task_concurrency=1,
)


@pytest.mark.parametrize("case", CONVERSATIONS.cases(), ids=lambda c: c.id)
def test_conversation(case, evaluate):
    evaluate(CONVERSATIONS, case)


def test_conversations_gate(evaluate_suite):
    evaluate_suite(CONVERSATIONS)
