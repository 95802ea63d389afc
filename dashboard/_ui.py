"""Helpers shared by the Streamlit pages: configuration, the cached store, who is logged in, and safe text.

Every string a model, a dataset or a user wrote is shown with ``st.text``/``st.code``/a table cell, or,
where Streamlit renders Markdown (headings, captions, alerts, widget labels and options), through
:func:`md`, which escapes it: a Markdown image in a judge's reasoning would otherwise make the reviewer's
browser fetch its URL (and whatever the injected prompt put into it).
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import streamlit as st

from review.store import ReviewStore

from .auth import User, check_private, load_users, prepare_decoy
from .config import DashboardConfig
from .errors import ConfigError
from .logins import LoginGuard, LoginPolicy, client_key
from .sessions import (
    COOKIE_NAME,
    Grant,
    check_grant,
    grant_for,
    issue_token,
    key_path,
    load_secret,
    logout_record,
    record_logout,
    token_grant,
)

USER_KEY = "dashboard_user"
_GRANT_KEY = "dashboard_grant"
_TOKEN_KEY = "dashboard_login_token"
_FORGET_KEY = "dashboard_forget_login"
_VIEWS = Path(__file__).resolve().parent / "views"

# Backslash-escaping every ASCII punctuation character Markdown, GFM autolinks, Streamlit's directives
# (:material/x:, :red[...]) or LaTeX ($) could act on turns them into literal characters.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~:$^])")


# Unicode bidi controls: embeddings and overrides (U+202A-U+202E), isolates (U+2066-U+2069) and the marks
# (U+200E, U+200F, U+061C). In model or file text they reorder the harness's own words beside it
# ("Δ -3.00" read as "00.3- Δ"); shown, each is replaced by its visible code point.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Escapes do not stop GFM's autolinks: they are found in the text after the Markdown is parsed. A word
# joiner (U+2060, invisible) inside "://", after "www" and after "@" breaks the three literal forms
# (https://..., www.x, a@b.c) without changing what a reader sees.
_WJ = "\u2060"
_AUTOLINK = re.compile(r"(?i)(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)")


def plain(text: object) -> str:
    """``text`` for display as plain text (``st.text``, table cells): bidi controls neutralised."""
    return _BIDI.sub(lambda m: f"<U+{ord(m.group()):04X}>", str(text))


def show_text(body: object, *, where: Any = None) -> None:
    """``st.text`` (or ``where.text``) of model-, dataset- or file-written text, bidi controls neutralised."""
    (where or st).text(plain(body))


def md(text: object) -> str:
    """``text`` made inert for Streamlit's Markdown: no image, link (bare URLs included), HTML, heading,
    emphasis or directive, and no bidi control."""
    return _MD_SPECIAL.sub(r"\\\1", _AUTOLINK.sub(_WJ, plain(text)))


def fmt(x: float, digits: int = 3) -> str:
    """A number with ``digits`` decimals, "n/a" for NaN, and never "-0.000" for a value that rounds to zero."""
    if math.isnan(x):
        return "n/a"
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def config() -> DashboardConfig:
    """The environment's configuration, overridden by ``streamlit run dashboard/app.py -- --db X --users Y``.

    Flags: ``--db``, ``--users``, ``--datasets``, ``--results`` (the folder of eval run files),
    ``--synth-dir`` (the folder generated sets are queued from), ``--topics-report`` (the Topics page's report).
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
    if (synth_dir := _flag("--synth-dir")) is not None:
        cfg = replace(cfg, synth_dir=Path(synth_dir))
    if (topics_report := _flag("--topics-report")) is not None:
        cfg = replace(cfg, topics_report=Path(topics_report))
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


def login_guard() -> LoginGuard:
    """The login throttle and audit, on the review store's database (policy from ``EVALHARNESS_LOGIN_*``)."""
    return LoginGuard(store(), LoginPolicy.from_env(os.environ))


def client_address() -> str:
    """The throttle's client key: the socket peer ("local" on loopback), never a forwarded header's value
    unless a trusted proxy is configured (:func:`dashboard.logins.client_key`)."""
    try:
        ip = st.context.ip_address
        headers = list(st.context.headers.items())
    except Exception:  # noqa: BLE001 - no client context: one shared key is the safe side
        ip, headers = None, []
    if not isinstance(ip, str):  # AppTest hands out a mock
        ip = None
    headers = [(k, v) for k, v in headers if isinstance(k, str)]
    return client_key(
        ip, headers, trusted_proxies=config().trusted_proxies, server_trust=os.environ.get("FORWARDED_ALLOW_IPS")
    )


def preflight() -> None:
    """Stop the app with the reason while the users file or the session key is readable by every user."""
    cfg = config()
    try:
        check_private(cfg.users)
        check_private(key_path(cfg.users))
        if cfg.login_ttl_s > 0:
            load_secret(cfg.users)  # missing, weak or readable by others: said now, not at the first login
        logout_record(cfg.users)
    except ConfigError as exc:
        st.error("The dashboard refuses to start: " + md(exc))
        st.stop()
    prepare_decoy()  # once per process (cached): before any login attempt can be timed


def oidc_configured() -> bool:
    """Whether ``[auth]`` is in the app's secrets, so ``st.login`` can be offered."""
    return bool(st.secrets.load_if_toml_exists() and "auth" in st.secrets)


def current_user() -> User | None:
    """The logged-in user: from this session, a remembered login (signed cookie) or an OIDC identity.

    Every page run checks the session's grant against the users file and the logout record
    (:func:`dashboard.sessions.check_grant`): a logout elsewhere, a changed password, e-mail or role, a
    removed user or an expired login ends this tab's session here, and the role is the file's, not the
    one cached when the session began.
    """
    preflight()
    now = time.time()
    user = st.session_state.get(USER_KEY)
    if isinstance(user, User):
        grant = st.session_state.get(_GRANT_KEY)
        fresh = None
        if isinstance(grant, Grant):
            fresh = check_grant(grant, users(), now=now, last_logout=_last_logout())
        if fresh is None:
            _end_session()
            return None
        st.session_state[USER_KEY] = fresh
        return fresh
    remembered = None if st.session_state.get(_FORGET_KEY) else _remembered_user(now)
    if remembered is not None:
        return remembered
    if oidc_configured() and st.user.is_logged_in:
        email = st.user.get("email")
        for u in users().values():
            if email and u.email == email:
                _start_session(u, grant_for(u, now=now, ttl_s=config().login_ttl_s))
                return u
    return None


def _last_logout() -> Any:
    # The record beside the users file is the one that holds across review stores; the audit's logout rows
    # (this store's) can only end a session sooner.
    recorded = logout_record(config().users)
    audited = login_guard().last_logout

    def last(name: str) -> float | None:
        times = [t for t in (recorded(name), audited(name)) if t is not None]
        return max(times) if times else None

    return last


def _start_session(user: User, grant: Grant) -> None:
    st.session_state[USER_KEY] = user
    st.session_state[_GRANT_KEY] = grant


def _end_session() -> None:
    # The grant no longer holds: forget the user, the remembered login (the cookie is deleted by the
    # login page) and any claims' widgets; the claims themselves expire in the store.
    for key in (USER_KEY, _GRANT_KEY, _TOKEN_KEY):
        st.session_state.pop(key, None)
    st.session_state[_FORGET_KEY] = True
    for key in [k for k in st.session_state if str(k).startswith("lease")]:
        del st.session_state[key]


def _remembered_user(now: float) -> User | None:
    cfg = config()
    if cfg.login_ttl_s <= 0:
        return None
    try:
        token = st.context.cookies.get(COOKIE_NAME)
    except Exception:  # noqa: BLE001 - no client context (AppTest)
        return None
    if not isinstance(token, str) or not token:
        return None
    grant = token_grant(token, load_secret(cfg.users))
    if grant is None:
        return None
    user = check_grant(grant, users(), now=now, last_logout=_last_logout())
    if user is not None:
        _start_session(user, grant)
    return user


def remember_login(user: User) -> None:
    """After a password login: keep ``user`` in this session and, for ``login_ttl_s``, across refreshes."""
    now = time.time()
    cfg = config()
    _start_session(user, grant_for(user, now=now, ttl_s=cfg.login_ttl_s))
    st.session_state.pop(_FORGET_KEY, None)
    if cfg.login_ttl_s > 0:
        st.session_state[_TOKEN_KEY] = issue_token(user, load_secret(cfg.users), now=now, ttl_s=cfg.login_ttl_s)


def _set_cookie(value: str, max_age_s: int, *, where: Any = st) -> None:
    # Streamlit has no server-side Set-Cookie for an app, so the page sets it: SameSite=Strict, Secure
    # over https, scoped to the whole app. The token is signed and checked on the server (sessions.py).
    cookie = f"{COOKIE_NAME}={value}; Path=/; Max-Age={max_age_s}; SameSite=Strict"
    where.html(
        f"<script>document.cookie = {json.dumps(cookie)} + "
        "(location.protocol === 'https:' ? '; Secure' : '');</script>",
        unsafe_allow_javascript=True,
    )


def require_user(*, admin: bool = False) -> User:
    """Stop the page unless someone (an admin, when asked) is logged in; pages call this first."""
    user = current_user()
    if user is None:
        st.error("Please log in.")
        st.stop()
    if admin and not user.is_admin:
        st.error("This page is for admins.")
        st.stop()
    if token := st.session_state.get(_TOKEN_KEY):
        # Idempotent, so every run sets it (a first run cut short by a rerun loses nothing); in the
        # sidebar, below the logout button, where its empty element takes no visible room.
        _set_cookie(token, int(config().login_ttl_s), where=st.sidebar)
    return user  # type: ignore[return-value]


def forget_login() -> None:
    """At the end of the login page after a logout: delete the remembered-login cookie in the browser."""
    if st.session_state.get(_FORGET_KEY):
        _set_cookie("", 0)


def login_navigation() -> Any:
    """The navigation before login: the login form under every page's URL, so ``/calibration`` works.

    Each page file in ``views/`` gets a hidden login page at its URL (no "page not found" for a deep
    link); after the login the rerun keeps the URL, and the real page with that URL opens. No page's own
    script runs before login.
    """
    stems = sorted(p.stem for p in _VIEWS.glob("*.py") if p.stem not in ("login", "__init__"))
    pages = [st.Page("views/login.py", title="Log in", icon=":material/login:", default=True)]
    pages += [st.Page("views/login.py", title="Log in", icon=":material/login:", url_path=s) for s in stems]
    return st.navigation(pages, position="hidden")


def logout() -> None:
    """Forget the session's user, end its remembered logins (audited), and the OIDC cookie if any."""
    user = st.session_state.get(USER_KEY)
    if isinstance(user, User):
        record_logout(config().users, user.name, now=time.time())
        login_guard().logout(user.name, client=client_address())
    _end_session()
    if oidc_configured() and st.user.is_logged_in:
        st.logout()
