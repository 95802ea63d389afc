"""The free-port probe of ``python -m tracing.phoenix_server start``: a port whose last server stopped a
moment ago (its connections in TIME_WAIT) is free; a port something listens on is not."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tracing.phoenix_server import _port_in_use


def _tcp_states(port: int) -> set[str]:
    """States (hex, as /proc/net/tcp writes them: 0A LISTEN, 06 TIME_WAIT) of IPv4 sockets on local ``port``."""
    states = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            states.add(fields[3])
    return states


def _served_and_stopped() -> int:
    """A port that a server (SO_REUSEADDR, as uvicorn) listened on, answered one connection on and closed
    first, then stopped: the server side of that connection is left in TIME_WAIT, nothing listens."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            conn, _ = server.accept()
            conn.close()  # the server closes first (HTTP "Connection: close"): its side goes to TIME_WAIT
            client.recv(1)
    return port


def test_a_stopped_servers_port_in_time_wait_is_free() -> None:
    port = _served_and_stopped()
    assert "06" in _tcp_states(port) and "0A" not in _tcp_states(port)  # TIME_WAIT, nothing listening
    with socket.socket() as plain, pytest.raises(OSError):
        plain.bind(("127.0.0.1", port))  # the old probe (no SO_REUSEADDR) said "in use" here for ~60 s
    assert not _port_in_use(port)
    with socket.socket() as again:  # and the next server binds it, as `start` after `stop` does
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen()


def test_a_port_something_listens_on_is_in_use() -> None:
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert _port_in_use(server.getsockname()[1])
