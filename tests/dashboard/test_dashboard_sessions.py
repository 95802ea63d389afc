"""Remembered logins: the signed token in the login cookie, its expiry, and the key that signs it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dashboard import ConfigError, User, add_user, load_users
from dashboard.sessions import init_secret, issue_token, load_secret, verify_token

SECRET = b"0123456789abcdef0123456789abcdef"


def _never(_name: str) -> float | None:
    return None


@pytest.fixture
def people(tmp_path: Path) -> dict[str, User]:
    path = tmp_path / "users.toml"
    add_user(path, "bob", "pw-bob")
    add_user(path, "ann", "pw-ann", role="admin")
    return load_users(path)


def test_token_round_trip_and_expiry(people: dict[str, User]) -> None:
    token = issue_token(people["bob"], SECRET, now=1000.0, ttl_s=60)
    assert verify_token(token, people, SECRET, now=1000.0, last_logout=_never) == people["bob"]
    assert verify_token(token, people, SECRET, now=1059.9, last_logout=_never) == people["bob"]
    assert verify_token(token, people, SECRET, now=1060.0, last_logout=_never) is None  # expired
    assert verify_token(token, people, SECRET, now=999.0, last_logout=_never) is None  # not yet issued


def test_forged_or_stale_tokens_are_refused(people: dict[str, User], tmp_path: Path) -> None:
    token = issue_token(people["bob"], SECRET, now=1000.0, ttl_s=3600)
    body, _, sig = token.partition(".")
    ann = issue_token(people["ann"], SECRET, now=1000.0, ttl_s=3600)
    forged = [
        f"{ann.partition('.')[0]}.{sig}",  # ann's payload under bob's signature
        f"{body}.{sig[:-2]}AA",
        body,
        "",
        "not.a.token",
        "%%%.%%%",
    ]
    for bad in forged:
        assert verify_token(bad, people, SECRET, now=1001.0, last_logout=_never) is None, bad
    assert (
        verify_token(token, people, b"another-secret-of-32-characters!", now=1001.0, last_logout=_never)
        is None
    )
    # a logout after the token was issued ends it; one before does not
    assert verify_token(token, people, SECRET, now=1001.0, last_logout=lambda n: 1000.5) is None
    assert verify_token(token, people, SECRET, now=1001.0, last_logout=lambda n: 999.0) == people["bob"]
    # a changed password or a removed user ends it too
    path = tmp_path / "users.toml"
    add_user(path, "bob", "pw-bob-new")
    assert verify_token(token, load_users(path), SECRET, now=1001.0, last_logout=_never) is None
    assert verify_token(token, {"ann": people["ann"]}, SECRET, now=1001.0, last_logout=_never) is None
    assert "pw-bob" not in token and people["bob"].password_hash not in token


def test_session_key_file_is_made_private_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVALHARNESS_SESSION_SECRET", raising=False)
    users = tmp_path / "conf" / "users.toml"
    with pytest.raises(ConfigError, match="missing"):  # never made on its own
        load_secret(users)
    init_secret(users)  # what add-user does
    key = load_secret(users)
    path = users.parent / "session.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(key) == 64
    assert load_secret(users) == key
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_secret(users)
    secret = "0123456789abcdef" * 2
    monkeypatch.setenv("EVALHARNESS_SESSION_SECRET", secret)
    assert load_secret(users) == secret.encode()
    monkeypatch.setenv("EVALHARNESS_SESSION_SECRET", "short")
    with pytest.raises(ConfigError, match="too short"):
        load_secret(users)
