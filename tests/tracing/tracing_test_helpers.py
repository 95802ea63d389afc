"""Helpers shared by the tracing tests."""

from __future__ import annotations

import time
from typing import Any


def wait_for_spans(
    client: Any, project: str, expected: int, timeout_s: float = 20.0, **filters: Any
) -> list[Any]:
    """Poll Phoenix until ``expected`` spans of ``project`` are stored (ingestion is asynchronous)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    spans: list[Any] = []
    while time.monotonic() < deadline:
        try:
            spans = client.spans.get_spans(
                project_identifier=project, limit=max(100, expected * 2), **filters
            )
        except httpx.HTTPStatusError as exc:  # 404 until the project's first span is stored
            if exc.response.status_code != 404:
                raise
            spans = []
        if len(spans) >= expected:
            return spans
        time.sleep(0.25)
    raise AssertionError(
        f"Phoenix holds {len(spans)} spans of project {project!r} after {timeout_s}s, expected {expected}"
    )
