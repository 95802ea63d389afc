"""Security, second round (issue 23): a throttle the client cannot steer, sessions that end, an Export page
that sends the Phoenix key only to the configured Phoenix, admin pages confined to their folders, blind
calibration. Each test failed before its fix."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from dashboard_helpers import PASSWORDS, FakeClock
from streamlit.testing.v1 import AppTest

from dashboard import AuthError, add_user, load_users
from dashboard.cli import _parser, serve_env
from dashboard.config import DashboardConfig
from dashboard.logins import LOCAL, LoginGuard, LoginPolicy, LoginThrottled, client_key
from review import ReviewStore

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


# --- 1. the throttle's client key ---------------------------------------------------------------------


def test_a_forwarded_header_never_names_the_client_without_a_configured_proxy() -> None:
    # uvicorn's default trust (loopback) replaced the peer with the header's value: the key stays "local".
    for claimed in ("203.0.113.7", "local", "![x](https://trap.invalid/)", "10.0.0.1"):
        assert client_key(claimed, [("x-forwarded-for", claimed)], server_trust=None) == LOCAL
    # The socket peer is the client; loopback browsers are all "local".
    assert client_key("198.51.100.4", [], server_trust=None) == "198.51.100.4"
    assert client_key(None, [], server_trust=None) == LOCAL
    assert client_key("::1", [], server_trust="") == LOCAL
    # serve without --trusted-proxy: the server believes no header, so the peer it reports is the socket's.
    assert client_key("198.51.100.4", [("X-Forwarded-For", "1.2.3.4")], server_trust="") == "198.51.100.4"
    # A configured proxy: the server resolved the client from its header, and the app takes it.
    assert (
        client_key("203.0.113.7", [("x-forwarded-for", "203.0.113.7")],
                   trusted_proxies=("10.0.0.2",), server_trust="10.0.0.2")
        == "203.0.113.7"
    )
    # Garbage never becomes a key.
    assert client_key("<b>x</b>", [], server_trust="") == "unknown"


def test_fresh_header_values_do_not_buy_fresh_guesses(store: ReviewStore, clock: FakeClock,
                                                      users_file: Path) -> None:
    users = load_users(users_file)
    guard = LoginGuard(store, LoginPolicy(client_max_failures=3, max_failures=50), clock=clock)
    outcomes = []
    for i in range(6):
        header = f"203.0.113.{i}"
        key = client_key(header, [("X-Forwarded-For", header)], server_trust=None)  # as uvicorn hands it over
        try:
            guard.login(users, f"name{i}", "guess", client=key)
            outcomes.append("ok")
        except LoginThrottled:
            outcomes.append("refused")
        except AuthError:
            outcomes.append("failed")
    assert outcomes == ["failed"] * 3 + ["refused"] * 3
    with pytest.raises(LoginThrottled):  # the right password is refused unchecked while the client waits
        guard.login(users, "bob", PASSWORDS["bob"], client=client_key("9.9.9.9", [("x-forwarded-for", "9.9.9.9")]))


def test_the_audit_client_column_holds_no_markup(store: ReviewStore, clock: FakeClock, users_file: Path) -> None:
    guard = LoginGuard(store, clock=clock)
    with pytest.raises(AuthError):
        guard.login(load_users(users_file), "bob", "guess", client="![x](https://trap.invalid/?q=1) **b**")
    guard.logout("bob", client="<img src=x>")
    assert [a.client for a in guard.attempts()] == ["invalid", "invalid"]


def test_serve_trusts_no_forwarded_header_unless_a_proxy_is_named(users_file: Path) -> None:
    args = _parser(DashboardConfig()).parse_args(["serve", "--users", str(users_file)])
    env = serve_env(args, {"FORWARDED_ALLOW_IPS": "*"})
    assert env["FORWARDED_ALLOW_IPS"] == "" and env["EVALHARNESS_TRUSTED_PROXIES"] == ""
    args = _parser(DashboardConfig()).parse_args(["serve", "--trusted-proxy", "10.0.0.2"])
    env = serve_env(args, {})
    assert env["FORWARDED_ALLOW_IPS"] == env["EVALHARNESS_TRUSTED_PROXIES"] == "10.0.0.2"
