"""Proof of offline: a context manager that refuses every socket connection except to loopback.

    with block_network():
        ...   # a connection to anything but 127.0.0.0/8, ::1 or a Unix socket raises NetworkBlockedError

It patches ``socket.socket.connect``/``connect_ex`` and ``socket.create_connection`` for the whole process
(every thread), and ``socket.getaddrinfo`` for names that are not local, so a library that "phones home"
fails loudly instead of leaking. The red-team and bias suites run inside it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from safety.errors import SafetyError


class NetworkBlockedError(SafetyError, OSError):
    """A connection to a non-loopback address was attempted while the network is blocked."""


_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def is_loopback(address: Any) -> bool:
    """True for Unix-socket paths, loopback IPs and the local host names."""
    if isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    if isinstance(host, bytes):
        host = host.decode()
    host = str(host).strip("[]")
    if host.lower() in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@contextmanager
def block_network() -> Iterator[None]:
    """Refuse non-loopback connections (and name lookups) in this process until the block exits."""
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_create, real_getaddrinfo = socket.create_connection, socket.getaddrinfo

    def refuse(what: Any) -> NetworkBlockedError:
        return NetworkBlockedError(f"network access to {what!r} blocked: the safety suites run offline "
                                   "(only loopback is allowed)")

    def connect(self: socket.socket, address: Any) -> None:
        if not is_loopback(address):
            raise refuse(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not is_loopback(address):
            raise refuse(address)
        return real_connect_ex(self, address)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        if not is_loopback(address):
            raise refuse(address)
        return real_create(address, *args, **kwargs)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not is_loopback((host,)):
            raise refuse(host)
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.create_connection = create_connection  # type: ignore[assignment]
    socket.getaddrinfo = getaddrinfo
    try:
        yield
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign,assignment]
        socket.create_connection = real_create
        socket.getaddrinfo = real_getaddrinfo
