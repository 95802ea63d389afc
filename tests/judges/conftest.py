"""Fixtures for judge tests: fake providers only (the real local model has its own test)."""

import asyncio
from collections.abc import Callable

import pytest


@pytest.fixture
def run() -> Callable:
    return lambda coro: asyncio.run(coro)
