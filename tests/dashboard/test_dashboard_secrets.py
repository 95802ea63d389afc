"""Secrets stay out of sight: the users file is private, the app refuses a world-readable one, and no
password hash, session key or store password reaches a page, a repr or the CLI's output."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from dashboard_helpers import PASSWORDS
from streamlit.testing.v1 import AppTest

from dashboard import add_user, load_users
from dashboard.cli import main, shown_db

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def test_users_file_is_0600_even_over_a_stale_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "users.toml"
    stale = path.with_suffix(".toml.tmp")
    stale.parent.mkdir()
    stale.write_text("left by a crash")
    os.chmod(stale, 0o644)
    add_user(path, "ann", "pw-ann")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "pw-ann" not in path.read_text()


def test_app_refuses_to_start_on_a_world_readable_users_file(app_env: dict[str, Path]) -> None:
    os.chmod(app_env["users"], 0o644)
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    [error] = at.error
    assert "refuses to start" in error.value and "chmod 600" in error.value
    assert [b.key for b in at.button] == [] and not at.text_input  # no login form
    os.chmod(app_env["users"], 0o600)
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.error and [b.key for b in at.button] == ["login_submit"]


def test_serve_refuses_a_world_readable_users_file(
    users_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[list[str]] = []
    monkeypatch.setattr(os, "execve", lambda exe, argv, env: started.append(argv))
    assert main(["serve", "--users", str(users_file), "--port", "8599"]) == 0
    [cmd] = started
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--client.toolbarMode") + 1] == "minimal"
    assert cmd[cmd.index("--browser.gatherUsageStats") + 1] == "false"
    os.chmod(users_file, 0o640)  # group-readable is refused too (issue 23, finding 12)
    assert main(["serve", "--users", str(users_file)]) == 2
    assert "chmod 600" in capsys.readouterr().err
    assert len(started) == 1


def test_no_hash_in_reprs_or_on_any_page(app_env: dict[str, Path]) -> None:
    users = load_users(app_env["users"])
    hashes = [u.password_hash for u in users.values()]
    assert all(h.startswith("scrypt$") for h in hashes)
    assert all(h not in repr(u) and h not in str(u) for h, u in zip(hashes, users.values(), strict=True))

    at = AppTest.from_file(APP, default_timeout=30).run()
    at.text_input(key="login_name").input("alice")
    at.text_input(key="login_password").input(PASSWORDS["alice"])
    at.button(key="login_submit").click().run()
    shown = []
    for page in (
        "views/review.py",
        "views/calibration.py",
        "views/runs.py",
        "views/queues.py",
        "views/export.py",
    ):
        at.switch_page(page).run()
        assert not at.exception, page
        shown.append(repr(at))  # every element of the page, sidebar included
    text = "\n".join(shown)
    assert "scrypt$" not in text and not any(h.split("$")[-1] in text for h in hashes)
    assert PASSWORDS["alice"] not in text
    key = (app_env["users"].parent / "session.key").read_bytes().decode()
    assert key not in text


def test_store_urls_are_printed_without_their_password() -> None:
    assert shown_db("postgresql+psycopg://rev:s3cret-pw@db.internal:5432/reviews") == (
        "postgresql+psycopg://rev:***@db.internal:5432/reviews"
    )
    assert shown_db(".evalharness/review.sqlite") == ".evalharness/review.sqlite"
    assert "s3cret" not in shown_db("postgresql://rev:s3cret@")
