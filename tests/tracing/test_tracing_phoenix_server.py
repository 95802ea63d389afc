"""The one-command Phoenix: locked down, loopback only, found by its pid file, clear errors."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import pytest

from tracing import PhoenixServerError
from tracing.phoenix_server import (
    LOCKDOWN_ENV,
    PhoenixProcess,
    ensure_server_venv,
    free_port,
    main,
    phoenix_status,
    start_phoenix,
)

pytestmark = pytest.mark.slow


def _listening_addresses(port: int) -> set[str]:
    """Local addresses of LISTEN sockets on ``port`` from /proc/net/tcp (IPv4, little-endian hex)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr_hex, port_hex = local.split(":")
        if state == "0A" and int(port_hex, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(addr_hex)[::-1]))
    return found


def test_server_runs_locked_down_on_loopback(phoenix: PhoenixProcess) -> None:
    environ = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{phoenix.pid}/environ").read_text().split("\0")
        if "=" in item
    )
    for key, value in LOCKDOWN_ENV.items():
        assert environ[key] == value, key
    assert environ["PHOENIX_WORKING_DIR"] == str(phoenix.workdir)
    assert not any(k.startswith("OTEL_") for k in environ)
    assert _listening_addresses(phoenix.port) == {"127.0.0.1"}
    assert (phoenix.workdir / "phoenix.db").exists()  # database in the chosen working directory


def test_status_and_cli_find_the_running_server(
    phoenix: PhoenixProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    found = phoenix_status(phoenix.workdir)
    assert found is not None and (found.pid, found.port) == (phoenix.pid, phoenix.port)
    assert main(["status", "--workdir", str(phoenix.workdir)]) == 0
    assert phoenix.url in capsys.readouterr().out


def test_refuses_a_second_server_or_a_busy_port(phoenix: PhoenixProcess, tmp_path: Path) -> None:
    with pytest.raises(PhoenixServerError, match="already running"):
        start_phoenix(phoenix.port + 1, phoenix.workdir)
    with pytest.raises(PhoenixServerError, match=f"port {phoenix.port} .* already in use"):
        start_phoenix(phoenix.port, tmp_path / "other")


def test_nothing_running_and_missing_venv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert phoenix_status(tmp_path) is None
    assert main(["status", "--workdir", str(tmp_path)]) == 1
    assert main(["stop", "--workdir", str(tmp_path)]) == 0
    assert "no Phoenix running" in capsys.readouterr().out
    with pytest.raises(PhoenixServerError, match=str(tmp_path / "nope")):
        ensure_server_venv(tmp_path / "nope", install=False)


def test_stop_then_start_on_the_same_port(tmp_path: Path) -> None:
    """`stop` then `start` on the same port works at once: the stopped server's connections in TIME_WAIT
    (it closed them first, as after a "Connection: close" request) no longer read as "port in use"."""
    port, work = free_port(), tmp_path / "phoenix"
    first = start_phoenix(port, work, timeout_s=180)
    try:
        request = urllib.request.Request(f"{first.url}/healthz", headers={"Connection": "close"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
    finally:
        first.stop()
    assert not first.is_alive()
    second = start_phoenix(port, work, timeout_s=180)  # as `python -m tracing.phoenix_server start` after `stop`
    try:
        assert second.port == port and _listening_addresses(port) == {"127.0.0.1"}
    finally:
        second.stop()
