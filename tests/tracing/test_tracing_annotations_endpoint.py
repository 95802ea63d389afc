"""Where annotations go: the argument, the variables tracing.setup() reads, then the running server's state file.

A Phoenix started on a non-default port with ``python -m tracing.phoenix_server start --port N`` is found
through its ``phoenix.pid.json`` without exporting anything; port 6006 is only the last resort.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from tracing_test_helpers import wait_for_spans

import tracing
from tracing._config import resolve_base_url
from tracing.phoenix_server import PID_FILE, PhoenixProcess, free_port, main, running_url, server_env

ENDPOINT_VARS = (
    "PHOENIX_COLLECTOR_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "PHOENIX_API_KEY",
)

# A stand-in for `phoenix serve`: answers POST /v1/span_annotations and logs each request as a JSON line.
FAKE_SERVER = textwrap.dedent(
    """
    import json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer

    port, log = int(sys.argv[1]), sys.argv[2]

    class H(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            with open(log, "a") as f:
                f.write(json.dumps({"path": self.path, "auth": self.headers.get("authorization"),
                                    "n": len(body["data"])}) + "\\n")
            out = json.dumps({"data": [{"id": f"ann-{i}"} for i in range(len(body["data"]))]}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a):
            pass

    HTTPServer(("127.0.0.1", port), H).serve_forever()
    """
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No endpoint variable set; the state-file lookup points at an empty workdir unless a test fills it."""
    for var in ENDPOINT_VARS:
        monkeypatch.delenv(var, raising=False)
    workdir = tmp_path / "phoenix-workdir"
    workdir.mkdir()
    monkeypatch.setenv("EVALHARNESS_PHOENIX_WORKDIR", str(workdir))
    return workdir


@pytest.fixture
def fake_phoenix(clean_env: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A fake server on a free, non-default port, recorded in the workdir's pid file like a real start."""
    port, log = free_port(), tmp_path / "requests.jsonl"
    script = tmp_path / "fake_phoenix.py"
    script.write_text(FAKE_SERVER)
    env = {**os.environ, "PHOENIX_WORKING_DIR": str(clean_env)}  # how phoenix_status recognises its server
    proc = subprocess.Popen([sys.executable, str(script), str(port), str(log), "serve"], env=env)
    try:
        _wait_for_port(port)
        (clean_env / PID_FILE).write_text(
            json.dumps(
                {"pid": proc.pid, "port": port, "grpc_port": free_port(), "url": f"http://127.0.0.1:{port}"}
            )
        )
        yield {"url": f"http://127.0.0.1:{port}", "port": port, "log": log}
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_for_port(port: int) -> None:
    import socket
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"fake Phoenix did not listen on {port}")


def _requests(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


ANNOTATION = tracing.SpanAnnotation("0123456789abcdef", "correctness", "HUMAN", score=1.0)


def test_annotations_go_to_the_running_server_on_its_own_port(fake_phoenix: dict[str, Any]) -> None:
    assert fake_phoenix["port"] != 6006
    assert running_url() == fake_phoenix["url"]
    assert resolve_base_url() == fake_phoenix["url"]
    assert tracing.annotate_spans([ANNOTATION]) == ["ann-0"]
    assert _requests(fake_phoenix["log"]) == [
        {"path": "/v1/span_annotations?sync=true", "auth": None, "n": 1}
    ]


def test_the_variables_setup_reads_come_first(
    fake_phoenix: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    other = free_port()
    monkeypatch.setenv("PHOENIX_COLLECTOR_ENDPOINT", f"http://127.0.0.1:{other}/v1/traces")
    assert resolve_base_url() == f"http://127.0.0.1:{other}"
    monkeypatch.setenv("PHOENIX_COLLECTOR_ENDPOINT", fake_phoenix["url"] + "/v1/traces")
    monkeypatch.setenv("PHOENIX_API_KEY", "phx-secret-key-123456")
    assert tracing.annotate_spans([ANNOTATION]) == ["ann-0"]
    [req] = _requests(fake_phoenix["log"])
    assert req["auth"] == "Bearer phx-secret-key-123456"


def test_no_state_and_no_variables_fall_back_to_6006(clean_env: Path) -> None:
    assert running_url() is None
    assert resolve_base_url() == "http://127.0.0.1:6006"
    # a pid file whose process is gone (or is not a Phoenix of this workdir) is ignored
    (clean_env / PID_FILE).write_text(json.dumps({"pid": os.getpid(), "port": 7777, "grpc_port": 7778}))
    assert resolve_base_url() == "http://127.0.0.1:6006"


def test_an_unreachable_server_error_never_shows_the_api_key(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOENIX_API_KEY", "phx-secret-key-123456")
    with pytest.raises(tracing.AnnotationError) as exc:
        tracing.annotate_spans([ANNOTATION], endpoint=f"http://127.0.0.1:{free_port()}", timeout_s=2)
    assert "phx-secret-key-123456" not in str(exc.value) and "phoenix_server status" in str(exc.value)


def test_server_env_inherits_no_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = {
        "OPENAI_API_KEY": "sk-test-abcdefghijklmnop",
        "PHOENIX_API_KEY": "phx-key",
        "ANTHROPIC_API_KEY": "sk-ant-xyz",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "GITHUB_TOKEN": "ghp_token",
        "EVALHARNESS_SESSION_SECRET": "dashboard-session-secret",
        "PHOENIX_SQL_DATABASE_URL": "postgresql://u:pw@db/phoenix",
    }
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    env = server_env(7123, 7124, tmp_path)
    assert not set(secrets) & set(env) - {"PHOENIX_API_KEY"} and "PHOENIX_API_KEY" not in env
    assert not any(v in env.values() for v in secrets.values())
    assert env["PATH"] == os.environ["PATH"]
    assert (env["PHOENIX_HOST"], env["PHOENIX_PORT"], env["PHOENIX_WORKING_DIR"]) == (
        "127.0.0.1",
        "7123",
        str(tmp_path),
    )


def test_help_text_has_no_raw_rst(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "``" not in out and "locked-down" in out


@pytest.mark.slow
def test_setup_and_annotate_find_a_real_phoenix_on_a_free_port(
    phoenix: PhoenixProcess, phoenix_client: Any, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ENDPOINT_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("EVALHARNESS_PHOENIX_WORKDIR", str(phoenix.workdir))
    assert phoenix.port != 6006
    provider = TracerProvider()
    handle = tracing.setup(None, project, tracer_provider=provider, schedule_delay_s=0.05)
    try:
        assert handle.endpoint.startswith(phoenix.url)
        with tracing.evaluator_span("check", tracer=handle.tracer) as rec:
            rec.set_result(score=1.0)
        assert handle.force_flush(10)
        trace_id, span_id = tracing.span_ids(rec.span)
        wait_for_spans(phoenix_client, project, 1, trace_ids=[trace_id])
        [ann_id] = tracing.annotate_spans([tracing.SpanAnnotation(span_id, "review", "HUMAN", label="ok")])
        got = phoenix_client.spans.get_span_annotations(span_ids=[span_id], project_identifier=project)
        assert [g["name"] for g in got] == ["review"] and ann_id
    finally:
        handle.shutdown()
        provider.shutdown()
