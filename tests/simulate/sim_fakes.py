"""Fakes shared by the simulator tests (imported by name; pytest puts this folder on sys.path)."""

from __future__ import annotations

from collections.abc import Callable

from judges import Completion, ModelClient, ModelRequest
from judges.providers import FakeFunctionProvider


def fake_simulator_client(goal_label: str = "1", user_text: Callable[[ModelRequest], str] | None = None) -> ModelClient:
    """User turns name the seed and the turn; goal checks answer ``goal_label`` with certainty."""

    def reply(req: ModelRequest) -> Completion:
        if req.labels:
            probs = {lab: (1.0 if lab.strip() == goal_label else 0.0) for lab in req.labels}
            return Completion(text=goal_label, provider="fake", model="fake-sim", label_probs=probs)
        text = user_text(req) if user_text else f"question {req.seed} from me"
        return Completion(text=text, provider="fake", model="fake-sim", texts=(text,))

    return ModelClient(FakeFunctionProvider(reply, model="fake-sim", exact_label_probs=True), trace=False)
