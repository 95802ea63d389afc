"""Remembered logins: a signed, expiring token kept in a browser cookie, so a refresh does not log out.

A token is ``<payload>.<signature>``: the payload (base64url JSON) names the user, when it was issued and
when it expires, plus a fingerprint of the user's password hash; the signature is HMAC-SHA256 under the
session key. It is accepted while it has not expired, the user is still in the users file with the same
password (changing it ends every remembered login), and the user has not logged out since it was issued.

The key is ``EVALHARNESS_SESSION_SECRET`` when set, else a random key kept in ``session.key`` next to the
users file (made 0600 by ``add-user``, never remade when missing; the dashboard refuses one another user
owns or may read, like the users file, and a short or repetitive secret). Logouts are recorded in
``session.logouts`` beside the users file, so they hold whichever review store a dashboard opens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .auth import User, check_private, write_private
from .errors import ConfigError

__all__ = [
    "COOKIE_NAME",
    "Grant",
    "check_grant",
    "grant_for",
    "init_secret",
    "issue_token",
    "key_path",
    "load_secret",
    "logout_record",
    "record_logout",
    "token_grant",
    "verify_token",
]

#: The cookie that carries the token.
COOKIE_NAME = "evalharness_login"
SECRET_ENV = "EVALHARNESS_SESSION_SECRET"


#: The shortest signing key accepted, and the fewest distinct characters in it (a repeated one is refused).
MIN_SECRET_LENGTH = 32
_MIN_DISTINCT = 8


def _weakness(secret: bytes) -> str | None:
    if len(secret) < MIN_SECRET_LENGTH:
        return f"is too short to sign logins (at least {MIN_SECRET_LENGTH} random characters)"
    if len(set(secret)) < _MIN_DISTINCT:
        return f"repeats too few characters to sign logins (at least {_MIN_DISTINCT} different ones)"
    return None


def key_path(users_file: str | Path) -> Path:
    """Where the session key is kept: ``session.key`` beside the users file."""
    return Path(users_file).parent / "session.key"


def init_secret(users_file: str | Path) -> Path:
    """Make the session key beside the users file (mode 0600) unless it exists; ``python -m dashboard add-user``
    calls it, and nothing else makes one. The key's path."""
    path = key_path(users_file)
    check_private(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # kept: another process made it first, or it was there
        return path
    with os.fdopen(fd, "wb") as fh:
        fh.write(secrets.token_hex(32).encode())
    return path


def load_secret(users_file: str | Path) -> bytes:
    """The signing key: ``$EVALHARNESS_SESSION_SECRET``, else ``session.key`` beside the users file.

    A missing key is an error, never remade here (a new key would quietly revive nothing but hide that the
    old one went); ``add-user`` makes it. A short or repetitive secret is refused, and so is a key file that
    another user owns or may read (``auth.check_private``)."""
    if env := os.environ.get(SECRET_ENV, ""):
        if why := _weakness(env.encode()):
            raise ConfigError(f"{SECRET_ENV} {why}; use e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`")
        return env.encode()
    path = key_path(users_file)
    check_private(path)
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"session key {path} is missing: `python -m dashboard add-user` makes it beside the users file "
            f"(or set {SECRET_ENV}); the dashboard does not make one on its own"
        ) from None
    if why := _weakness(key):
        raise ConfigError(f"session key {path} {why}; delete it and run `python -m dashboard add-user` to make one")
    return key


def _logouts_path(users_file: str | Path) -> Path:
    return Path(users_file).parent / "session.logouts"


def record_logout(users_file: str | Path, name: str, *, now: float) -> None:
    """Record that ``name`` logged out at ``now`` in ``session.logouts`` beside the users file (0600): every
    login of the name issued before it ends, whichever review store a dashboard uses."""
    import fcntl

    path = _logouts_path(users_file)
    check_private(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = os.open(path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        record = _read_logouts(path)
        record[name] = max(now, record.get(name, now))
        write_private(path, json.dumps(record, sort_keys=True))
    finally:
        os.close(lock)


def _read_logouts(path: Path) -> dict[str, float]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ConfigError(f"logout record {path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"logout record {path} must be a JSON object of name -> time")
    return {str(k): float(v) for k, v in data.items() if isinstance(v, (int, float))}


def logout_record(users_file: str | Path) -> Callable[[str], float | None]:
    """``last_logout`` for :func:`check_grant`: when a name last logged out, from ``session.logouts`` beside
    the users file (checked like the users file: owned by this user, mode 0600)."""
    path = _logouts_path(users_file)
    check_private(path)
    record = _read_logouts(path)
    return record.get


def _fingerprint(user: User) -> str:
    return hashlib.sha256(f"{user.password_hash}\x1f{user.email or ''}\x1f{user.role}".encode()).hexdigest()[
        :16
    ]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Grant:
    """What a signed-in session holds: whose it is, the user's fingerprint then, when it began and ends.

    Kept in the session state (and, signed, in the cookie) and checked against the users file and the
    logout record on every page run, so a logout elsewhere, a password, e-mail or role change, a removed
    user or an expired TTL ends an open tab's session at its next rerun.
    """

    name: str
    fingerprint: str = field(repr=False)
    issued: float
    expires: float | None  # None: while the tab stays open (EVALHARNESS_LOGIN_TTL=0)


def grant_for(user: User, *, now: float, ttl_s: float) -> Grant:
    """A grant for ``user`` from ``now``; ``ttl_s`` <= 0 means no expiry while the tab is open."""
    return Grant(user.name, _fingerprint(user), now, now + ttl_s if ttl_s > 0 else None)


def check_grant(
    grant: Grant, users: dict[str, User], *, now: float, last_logout: Callable[[str], float | None]
) -> User | None:
    """The user as the users file has them now, or None when the grant expired, the user is gone, their
    password, e-mail or role changed, or they logged out (anywhere) since it was issued."""
    user = users.get(grant.name)
    if user is None or now < grant.issued or (grant.expires is not None and now >= grant.expires):
        return None
    if not hmac.compare_digest(str(grant.fingerprint), _fingerprint(user)):
        return None
    logged_out = last_logout(user.name)
    if logged_out is not None and logged_out >= grant.issued:
        return None
    return user


def issue_token(user: User, secret: bytes, *, now: float, ttl_s: float) -> str:
    """A token for ``user`` valid for ``ttl_s`` seconds from ``now``."""
    payload = {"u": user.name, "iat": now, "exp": now + ttl_s, "fp": _fingerprint(user)}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())}"


def token_grant(token: str, secret: bytes) -> Grant | None:
    """The grant a token carries when its signature holds (None when forged or malformed)."""
    body, _, signature = token.partition(".")
    try:
        expected = hmac.new(secret, body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_unb64(signature), expected):
            return None
        payload = json.loads(_unb64(body))
        name, issued, expires, fingerprint = (
            payload["u"],
            float(payload["iat"]),
            float(payload["exp"]),
            payload["fp"],
        )
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(name, str):
        return None
    return Grant(name, str(fingerprint), issued, expires)


def verify_token(
    token: str,
    users: dict[str, User],
    secret: bytes,
    *,
    now: float,
    last_logout: Callable[[str], float | None],
) -> User | None:
    """The user the token names, or None when it is forged, expired, outdated or logged out."""
    grant = token_grant(token, secret)
    return None if grant is None else check_grant(grant, users, now=now, last_logout=last_logout)
