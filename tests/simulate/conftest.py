"""Fixtures for the simulator tests: a scripted simulator model."""

import pytest
from sim_fakes import fake_simulator_client

from judges import ModelClient


@pytest.fixture
def sim_client() -> ModelClient:
    return fake_simulator_client()
