"""A conversational application as an experiments task: each case is a simulated conversation."""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from experiments.task import TaskOutput
from judges.case import Case
from simulate._simulator import App, UserSimulator


@dataclass(frozen=True)
class ConversationTask:
    """``app`` (messages so far -> next assistant reply) driven by ``simulator``, as a suite's task.

    The output is the transcript as ``Role: message`` lines; ``TaskOutput.turns`` carries the turns (with
    ``stop_reason`` on the last), which the conversation judges read. ``simulator`` may be a callable that
    makes one (so the model loads only when the suite runs).
    """

    app: App
    simulator: UserSimulator | Callable[[], UserSimulator]
    name: str = "conversation"
    version: str = ""
    _made: list[UserSimulator] = field(default_factory=list, compare=False, repr=False)

    def _simulator(self) -> UserSimulator:
        if isinstance(self.simulator, UserSimulator):
            return self.simulator
        if not self._made:
            self._made.append(self.simulator())
        return self._made[0]

    @property
    def fingerprint(self) -> str:
        try:
            source = inspect.getsource(self.app)  # type: ignore[arg-type]
        except (OSError, TypeError):
            source = ""
        sim = self.simulator if isinstance(self.simulator, UserSimulator) else None
        settings = [] if sim is None else [sim.seed, sim.temperature, sim.max_tokens, sim.goal_threshold,
                                           sim.client.info.model]
        payload = json.dumps(["conversation", self.name, self.version, source, settings], default=str)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    async def run(self, case: Case) -> TaskOutput:
        transcript = await self._simulator().run(case, self.app)
        turns = [t.to_dict() for t in transcript.turns]
        if turns:
            turns[-1] = {**turns[-1], "stop_reason": transcript.stop_reason}
        return TaskOutput(transcript.text(), turns=tuple(turns))

