"""Read LLM spans from a Phoenix server with ``arize-phoenix-client`` (imported lazily)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .errors import MissingDependencyError


def load_phoenix_spans(base_url: str, project: str = "default", *, start_time: datetime | None = None,
                       end_time: datetime | None = None, limit: int = 100_000, timeout: int = 60) -> Any:
    """Fetch spans of ``project`` from the Phoenix server at ``base_url`` and map the LLM spans to a
    log frame (see :func:`drift.features.spans_to_log`)."""
    try:
        from phoenix.client import Client
    except ImportError as exc:
        raise MissingDependencyError("reading spans from Phoenix needs arize-phoenix-client; install "
                                     "`pip install 'evalharness[phoenix-client]'`") from exc
    from .features import spans_to_log

    spans = Client(base_url=base_url).spans.get_spans_dataframe(
        project_identifier=project, start_time=start_time, end_time=end_time, limit=limit, timeout=timeout)
    return spans_to_log(spans)
