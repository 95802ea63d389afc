"""What the simulator raises. Failures of the application under test are recorded in the transcript instead."""

from __future__ import annotations


class SimulationError(Exception):
    """A conversational case or a simulator setting is unusable (no persona, no scenario, a bad turn limit)."""
