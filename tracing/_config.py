"""Where spans go and under which Phoenix project: arguments first, then the standard variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from tracing.errors import TracingConfigError

DEFAULT_ENDPOINT = "http://127.0.0.1:6006"
DEFAULT_PROJECT = "default"
TRACES_PATH = "/v1/traces"
PROJECT_RESOURCE_ATTRIBUTE = "openinference.project.name"
PROJECT_HEADER = "x-project-name"


@dataclass(frozen=True)
class ExportTarget:
    """The resolved Phoenix base URL, OTLP/HTTP traces URL and project name."""

    base_url: str
    traces_url: str
    project: str


def _check_url(url: str, source: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TracingConfigError(
            f"{source}={url!r} is not an http(s) URL; use e.g. {DEFAULT_ENDPOINT!r} (the Phoenix server)"
        )
    return url.rstrip("/")


def resolve_base_url(endpoint: str | None = None) -> str:
    """Phoenix base URL: ``endpoint``, the PHOENIX_COLLECTOR_ENDPOINT / OTEL_* variables, the running
    server's state file, else the default (the order of :func:`resolve_target`)."""
    return resolve_target(endpoint, DEFAULT_PROJECT).base_url


def resolve_target(endpoint: str | None, project: str | None) -> ExportTarget:
    """Resolve endpoint and project the way the Phoenix and OpenTelemetry docs describe.

    Endpoint order: argument, ``PHOENIX_COLLECTOR_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
    (a full traces URL), ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a base URL), then the server that
    ``python -m tracing.phoenix_server start`` recorded in its workdir (``EVALHARNESS_PHOENIX_WORKDIR`` or
    ``.evalharness/phoenix``) if it is still running, then ``http://127.0.0.1:6006``.
    Project order: argument, ``PHOENIX_PROJECT_NAME``, ``openinference.project.name`` inside
    ``OTEL_RESOURCE_ATTRIBUTES``, then ``"default"``.
    """
    candidates = [
        ("endpoint", endpoint),
        ("PHOENIX_COLLECTOR_ENDPOINT", os.environ.get("PHOENIX_COLLECTOR_ENDPOINT")),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")),
    ]
    found = next(((s, v) for s, v in candidates if v), None)
    if found is None:
        # Imported here: the state-file lookup is only needed when nothing was configured.
        from tracing.phoenix_server import running_url

        running = running_url()
        found = ("phoenix.pid.json", running) if running else ("default", DEFAULT_ENDPOINT)
    source, raw = found
    url = _check_url(raw.strip(), source)
    # A collector endpoint may carry the OTLP path already; keep one form of each URL.
    base = url.removesuffix(TRACES_PATH)
    return ExportTarget(base_url=base, traces_url=base + TRACES_PATH, project=resolve_project(project))


def resolve_project(project: str | None) -> str:
    """Project name from the argument, PHOENIX_PROJECT_NAME or OTEL_RESOURCE_ATTRIBUTES, else "default"."""
    if project is not None:
        if not project.strip():
            raise TracingConfigError("project must be a non-empty name, got an empty string")
        return project.strip()
    if env := os.environ.get("PHOENIX_PROJECT_NAME", "").strip():
        return env
    for item in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = item.partition("=")
        if key.strip() == PROJECT_RESOURCE_ATTRIBUTE and value.strip():
            return value.strip()
    return DEFAULT_PROJECT


def trace_url(phoenix_url: str | None, trace_id: str | None) -> str | None:
    """The Phoenix UI link that opens a trace by its OpenTelemetry id (None without a URL or a real trace id)."""
    if not phoenix_url or not trace_id or trace_id.startswith("row-"):
        return None
    return f"{phoenix_url.rstrip('/')}/redirects/traces/{trace_id}"
