"""Wires the harness's pytest plugin into the eval suites (fixtures `evaluate`, `evaluate_suite`, `judge_client`)."""

from pathlib import Path

import pytest

from experiments.pytest_plugin import *

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # every suite here runs the real local model: `pytest -m "not slow"` leaves them out
    for item in items:
        if item.path.is_relative_to(_HERE):
            item.add_marker(pytest.mark.slow)
