"""A tiny deterministic "application" for the import examples: answers capital-city questions from a table.

``CAPITALS_APP_VARIANT=broken`` makes it answer badly, to show an imported suite's gate failing.
"""

from __future__ import annotations

import os

from judges import Case

CAPITALS = {"france": "Paris", "japan": "Tokyo", "italy": "Rome", "canada": "Ottawa", "kenya": "Nairobi",
            "peru": "Lima", "egypt": "Cairo", "norway": "Oslo"}


def answer(case: Case) -> str:
    """The capital named in the question, or "I don't know"."""
    if os.environ.get("CAPITALS_APP_VARIANT") == "broken":
        return "I don't know"
    question = case.input.lower()
    return next((city for country, city in CAPITALS.items() if country in question), "I don't know")
