"""One Phoenix server venv per machine and user, shared by every project (no install: fake venvs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracing import phoenix_server
from tracing.phoenix_server import VENV_ENV, ensure_server_venv, server_venv, shared_venv
from tracing.project import pin_root, unpin_root


def fake_venv(root: Path) -> Path:
    """A folder that looks like an installed server venv (the executable and the PostgreSQL driver)."""
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "phoenix").write_text("#!/bin/sh\n")
    (root / "lib" / "python3.11" / "site-packages" / "asyncpg").mkdir(parents=True)
    (root / "lib" / "python3.11" / "site-packages" / "asyncpg" / "__init__.py").write_text("")
    return root


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(VENV_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def no_install(*args: object, **kwargs: object) -> None:
    raise AssertionError("nothing may be installed")


def test_every_project_finds_the_one_shared_venv(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = shared_venv()
    assert shared == home / "cache" / "evalharness" / "phoenix-venv"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert shared_venv() == Path.home() / ".cache" / "evalharness" / "phoenix-venv"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    fake_venv(shared)
    monkeypatch.setattr(phoenix_server, "_install", no_install)
    for project in ("one", "two"):
        (home / project).mkdir()
        pin_root(home / project)
        try:
            assert ensure_server_venv() == shared / "bin" / "phoenix"
        finally:
            unpin_root(home / project)
    monkeypatch.setenv(VENV_ENV, str(home / "mine"))
    assert server_venv() == home / "mine"


def test_a_project_venv_from_before_is_shared_not_installed_again(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = home / "old-checkout"
    legacy = fake_venv(old / ".venv-phoenix")
    monkeypatch.setattr(phoenix_server, "_install", no_install)
    pin_root(old)
    try:
        assert server_venv() == legacy  # found before anything is linked
        exe = ensure_server_venv()
    finally:
        unpin_root(old)
    shared = shared_venv()
    assert exe == shared / "bin" / "phoenix" and shared.resolve() == legacy.resolve()
    (home / "new-project").mkdir()
    pin_root(home / "new-project")
    try:
        assert ensure_server_venv() == shared / "bin" / "phoenix"
    finally:
        unpin_root(home / "new-project")


def test_a_missing_shared_venv_is_installed_there_once(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []

    def install(root: Path, *, need_server: bool, need_driver: bool) -> Path:
        calls.append(root)
        fake_venv(root)
        return root / "bin" / "phoenix"

    monkeypatch.setattr(phoenix_server, "_install", install)
    (home / "proj").mkdir()
    pin_root(home / "proj")
    try:
        assert ensure_server_venv() == shared_venv() / "bin" / "phoenix"
        assert ensure_server_venv() == shared_venv() / "bin" / "phoenix"
    finally:
        unpin_root(home / "proj")
    assert calls == [shared_venv()]
    assert not (home / "proj" / ".venv-phoenix").exists()
