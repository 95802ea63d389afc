"""Fixtures for the tracing tests: one real Phoenix per session, read back with arize-phoenix-client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tracing.phoenix_server import PhoenixProcess, free_port, start_phoenix


@pytest.fixture(scope="session")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PhoenixProcess]:
    """A real, locked-down Phoenix on a free loopback port; stopped by PID at the end of the session.

    Uses ``$EVALHARNESS_PHOENIX_VENV``, else the user's shared server venv (installed on first use).
    """
    proc = start_phoenix(free_port(), tmp_path_factory.mktemp("phoenix"), timeout_s=180)
    try:
        yield proc
    finally:
        proc.stop()
        assert not proc.is_alive()


@pytest.fixture(scope="session")
def phoenix_client(phoenix: PhoenixProcess) -> Any:
    from phoenix.client import Client

    return Client(base_url=phoenix.url)


@pytest.fixture
def project() -> str:
    """A fresh Phoenix project name per test, so tests never see each other's spans."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def handle(phoenix: PhoenixProcess, project: str) -> Iterator[Any]:
    """The harness's tracing set up against the session's Phoenix for this test's project (shut down after)."""
    import tracing

    provider = TracerProvider()
    h = tracing.setup(phoenix.url, project, tracer_provider=provider, schedule_delay_s=0.05)
    yield h
    h.shutdown()
    provider.shutdown()


@pytest.fixture
def memory_provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A non-global SDK provider that keeps finished spans in memory (unit tests of attributes)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "unit"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()
