"""The persona user simulator: a model plays the user of a conversational case against the application.

    from simulate import ConversationTask, UserSimulator
    sim = UserSimulator(get_model("local"), seed=0)              # greedy: reruns are byte-identical
    transcript = await sim.run(case, app)                         # app(messages) -> next assistant reply
    SUITE = EvalSuite("chat", "conversations.jsonl", "conversation", task=ConversationTask(app, sim), ...)

A transcript's turns are ``judges.case.Turn`` (declared once there). See docs/conversations.md.
"""

from simulate._simulator import UserSimulator
from simulate._task import ConversationTask
from simulate._transcript import Transcript
from simulate.errors import SimulationError

__all__ = ["ConversationTask", "SimulationError", "Transcript", "UserSimulator"]
