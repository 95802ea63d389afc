"""A TCP proxy in front of the real Phoenix that can be switched to "down" or "slow" (fault tests)."""

from __future__ import annotations

import socket
import threading
import time
from typing import Literal

Mode = Literal["pass", "down", "slow"]


class FaultProxy:
    """127.0.0.1:<port> forwarding to ``target_port``; ``mode`` decides what a new connection gets.

    * ``pass``: forwarded both ways;
    * ``down``: closed at once, before a byte of response (the client sees the server disconnect);
    * ``slow``: held ``delay_s`` without an answer, then closed (the client's read times out first).
    """

    def __init__(self, target_port: int, *, delay_s: float = 30.0) -> None:
        self.target = ("127.0.0.1", target_port)
        self.delay_s = delay_s
        self.mode: Mode = "pass"
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(client, self.mode), daemon=True).start()

    def _serve(self, client: socket.socket, mode: Mode) -> None:
        if mode == "down":
            client.close()
            return
        if mode == "slow":
            deadline = time.monotonic() + self.delay_s
            while time.monotonic() < deadline and not self._stopped.is_set():
                time.sleep(0.05)
            client.close()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._stopped.set()
        self._listener.close()
