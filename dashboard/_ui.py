"""Helpers shared by the Streamlit pages: configuration, the cached store, and who is logged in."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import streamlit as st

from .auth import User, load_users
from .config import DashboardConfig
from .store import ReviewStore

USER_KEY = "dashboard_user"


def config() -> DashboardConfig:
    """The environment's configuration, overridden by ``streamlit run dashboard/app.py -- --db X --users Y``.

    Flags: ``--db``, ``--users``, ``--datasets``, ``--results`` (the folder of eval run files).
    """
    cfg = DashboardConfig.from_env()
    argv = sys.argv[1:]

    def _flag(name: str) -> str | None:
        return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None

    if (db := _flag("--db")) is not None:
        cfg = replace(cfg, db=db)
    if (users_path := _flag("--users")) is not None:
        cfg = replace(cfg, users=Path(users_path))
    if (datasets := _flag("--datasets")) is not None:
        cfg = replace(cfg, datasets=Path(datasets))
    if (results := _flag("--results")) is not None:
        cfg = replace(cfg, results_dir=Path(results))
    return cfg


@st.cache_resource(show_spinner=False)
def _store(db: str, lease_seconds: float, synchronous: str) -> ReviewStore:
    # One store (one engine, one connection per thread) per server process, shared by all sessions.
    return ReviewStore(db, lease_seconds=lease_seconds, sqlite_synchronous=synchronous)


def store() -> ReviewStore:
    """The review store for this server process."""
    cfg = config()
    return _store(cfg.db, cfg.lease_seconds, cfg.sqlite_synchronous)


def users() -> dict[str, User]:
    """The configured users (reread every run so new users can log in without a restart)."""
    return load_users(config().users)


def oidc_configured() -> bool:
    """Whether ``[auth]`` is in the app's secrets, so ``st.login`` can be offered."""
    return bool(st.secrets.load_if_toml_exists() and "auth" in st.secrets)


def current_user() -> User | None:
    """The logged-in user: from the password login in this session, or from an OIDC identity."""
    user = st.session_state.get(USER_KEY)
    if isinstance(user, User):
        return user
    if oidc_configured() and st.user.is_logged_in:
        email = st.user.get("email")
        for u in users().values():
            if email and u.email == email:
                st.session_state[USER_KEY] = u
                return u
    return None


def require_user(*, admin: bool = False) -> User:
    """Stop the page unless someone (an admin, when asked) is logged in; pages call this first."""
    user = current_user()
    if user is None:
        st.error("Please log in.")
        st.stop()
    if admin and not user.is_admin:
        st.error("This page is for admins.")
        st.stop()
    return user  # type: ignore[return-value]


def logout() -> None:
    """Forget the session's user (and the OIDC cookie, when that is how they logged in)."""
    st.session_state.pop(USER_KEY, None)
    for key in [k for k in st.session_state if str(k).startswith("lease")]:
        del st.session_state[key]
    if oidc_configured() and st.user.is_logged_in:
        st.logout()
