"""Fixtures for the dashboard tests: a real SQLite store with a controllable clock, users, sample items."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from dashboard_helpers import CHROMIUM, CHROMIUM_ARGS, PASSWORDS, FakeClock, sample_items

from dashboard import add_user
from review import ReviewStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[ReviewStore]:
    s = ReviewStore(tmp_path / "review.sqlite", lease_seconds=60, clock=clock)
    yield s
    s.close()


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "users.toml"
    add_user(path, "alice", PASSWORDS["alice"], role="admin")
    add_user(path, "bob", PASSWORDS["bob"], role="reviewer")
    add_user(path, "carol", PASSWORDS["carol"], role="reviewer")
    return path


@pytest.fixture
def app_env(tmp_path: Path, users_file: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Environment for the Streamlit app: a filled store and the users file."""
    db = tmp_path / "app.sqlite"
    s = ReviewStore(db)
    s.add_items(sample_items(4))
    s.add_items(sample_items(2, queue="calibration", overlap=2, start=100))
    s.close()
    monkeypatch.setenv("EVALHARNESS_REVIEW_DB", str(db))
    monkeypatch.setenv("EVALHARNESS_USERS", str(users_file))
    monkeypatch.setenv("EVALHARNESS_DATASETS", str(tmp_path / "datasets"))
    return {"db": db, "users": users_file, "datasets": tmp_path / "datasets"}


@pytest.fixture
def recorders() -> Iterator[list[dict]]:
    """Two HTTP servers on 127.0.0.1 that record every request: [configured Phoenix, trap]."""
    servers, seen = [], []
    for _ in range(2):
        got: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            log_message = lambda self, *a: None
            sink = got

            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                self.sink.append({"path": self.path, "auth": self.headers.get("authorization"), "body": body})
                reply = json.dumps({"data": [{"id": str(i)} for i in range(50)]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        seen.append({"url": f"http://127.0.0.1:{srv.server_address[1]}", "requests": got})
    yield seen
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium from Debian, through Playwright."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
