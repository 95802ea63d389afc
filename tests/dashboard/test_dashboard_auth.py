"""Users file, scrypt hashes, and the add-user CLI (also run as a real subprocess with --password-stdin)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from dashboard import AuthError, add_user, authenticate, hash_password, load_users, verify_password
from dashboard.cli import main
from dashboard.errors import ConfigError


def test_hash_roundtrip_and_salting() -> None:
    h1, h2 = hash_password("s3cret"), hash_password("s3cret")
    assert h1 != h2 and h1.startswith("scrypt$16384$8$1$")
    assert verify_password("s3cret", h1) and verify_password("s3cret", h2)
    assert not verify_password("s3cret!", h1)
    assert not verify_password("s3cret", "garbage")
    with pytest.raises(ConfigError, match="empty"):
        hash_password("")


def test_users_file_has_no_plaintext_and_is_private(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    add_user(path, "alice", "pw-alice", role="admin", email="alice@example.org")
    add_user(path, "bob", "pw-bob")
    text = path.read_text()
    assert "pw-alice" not in text and "pw-bob" not in text
    assert os.stat(path).st_mode & 0o777 == 0o600
    users = load_users(path)
    assert {n: u.role for n, u in users.items()} == {"alice": "admin", "bob": "reviewer"}
    assert users["alice"].email == "alice@example.org" and users["alice"].is_admin
    assert tomllib.loads(text)["users"]["bob"]["role"] == "reviewer"
    add_user(path, "bob", "pw-bob-2", role="admin")  # replacing keeps the others
    users = load_users(path)
    assert users["bob"].is_admin and authenticate(users, "bob", "pw-bob-2").name == "bob"


def test_authenticate_rejects_alike(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    add_user(path, "alice", "pw")
    users = load_users(path)
    with pytest.raises(AuthError) as wrong_pw:
        authenticate(users, "alice", "nope")
    with pytest.raises(AuthError) as no_user:
        authenticate(users, "mallory", "pw")
    assert str(wrong_pw.value) == str(no_user.value)  # does not reveal which names exist


def test_bad_users_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="user name 'a b'"):
        add_user(tmp_path / "u.toml", "a b", "pw")
    with pytest.raises(ConfigError, match="role 'root'"):
        add_user(tmp_path / "u.toml", "ann", "pw", role="root")
    bad = tmp_path / "bad.toml"
    bad.write_text('[users.x]\nrole = "owner"\npassword = "x"\n')
    with pytest.raises(ConfigError, match="role 'owner'"):
        load_users(bad)
    bad.write_text("[users\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_users(bad)
    assert load_users(tmp_path / "missing.toml") == {}


def test_add_user_cli_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    path = tmp_path / "users.toml"
    monkeypatch.setattr(sys, "stdin", io.StringIO("pw-long-for-c1\n"))
    assert main(["add-user", "carol", "--role", "admin", "--password-stdin", "--users", str(path)]) == 0
    assert authenticate(load_users(path), "carol", "pw-long-for-c1").is_admin
    prompts = iter(["one", "two"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(prompts))
    assert main(["add-user", "dan", "--users", str(path)]) == 2  # the two typed passwords differ
    assert "dan" not in load_users(path)


def test_add_user_cli_subprocess(tmp_path: Path) -> None:
    path = tmp_path / "users.toml"
    proc = subprocess.run(
        [sys.executable, "-m", "dashboard", "add-user", "erin", "--role", "reviewer", "--password-stdin"],
        input="pw-long-for-e1\n",
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "EVALHARNESS_USERS": str(path)},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "user 'erin' (reviewer)" in proc.stdout
    assert authenticate(load_users(path), "erin", "pw-long-for-e1").role == "reviewer"
