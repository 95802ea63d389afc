import socket

import pytest

from safety.offline import NetworkBlockedError, block_network, is_loopback


def test_only_loopback_gets_through_and_the_block_lifts():
    assert is_loopback(("127.0.0.1", 80)) and is_loopback(("::1", 80, 0, 0)) and is_loopback("/tmp/sock")
    assert is_loopback(("localhost", 80)) and not is_loopback(("10.1.2.3", 80))
    with block_network():
        with pytest.raises(NetworkBlockedError, match="192.0.2.1"):
            socket.create_connection(("192.0.2.1", 80), timeout=1)
        with socket.socket() as s, pytest.raises(NetworkBlockedError):
            s.connect(("8.8.8.8", 53))
        with pytest.raises(NetworkBlockedError):
            socket.getaddrinfo("example.com", 443)
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=1):
            pass
        server.close()
    with pytest.raises(NetworkBlockedError):  # leaving a nested block restores the outer one (conftest's)
        socket.create_connection(("192.0.2.1", 80), timeout=1)


def test_an_http_client_cannot_phone_home():
    import httpx

    with pytest.raises(httpx.ConnectError, match="blocked"):
        httpx.get("https://huggingface.co/api/models", timeout=2)
