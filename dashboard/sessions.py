"""Remembered logins: a signed, expiring token kept in a browser cookie, so a refresh does not log out.

A token is ``<payload>.<signature>``: the payload (base64url JSON) names the user, when it was issued and
when it expires, plus a fingerprint of the user's password hash; the signature is HMAC-SHA256 under the
session key. It is accepted while it has not expired, the user is still in the users file with the same
password (changing it ends every remembered login), and the user has not logged out since it was issued.

The key is ``EVALHARNESS_SESSION_SECRET`` when set, else a random key kept in ``session.key`` next to the
users file (created mode 0600; the dashboard refuses a world-readable one, like the users file).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from .auth import User, check_private
from .errors import ConfigError

__all__ = ["COOKIE_NAME", "issue_token", "load_secret", "verify_token"]

#: The cookie that carries the token.
COOKIE_NAME = "evalharness_login"
SECRET_ENV = "EVALHARNESS_SESSION_SECRET"


def load_secret(users_file: str | Path) -> bytes:
    """The signing key: ``$EVALHARNESS_SESSION_SECRET``, else ``session.key`` beside the users file (made once)."""
    if env := os.environ.get(SECRET_ENV, ""):
        if len(env) < 16:
            raise ConfigError(f"{SECRET_ENV} is too short to sign logins; use at least 32 random characters")
        return env.encode()
    path = Path(users_file).parent / "session.key"
    check_private(path)
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another dashboard process made it first
            return path.read_bytes()
        key = secrets.token_hex(32).encode()
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
    if len(key) < 16:
        raise ConfigError(f"session key {path} is too short; delete it and a new one is made")
    return key


def _fingerprint(user: User) -> str:
    return hashlib.sha256(f"{user.password_hash}\x1f{user.email or ''}\x1f{user.role}".encode()).hexdigest()[
        :16
    ]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(user: User, secret: bytes, *, now: float, ttl_s: float) -> str:
    """A token for ``user`` valid for ``ttl_s`` seconds from ``now``."""
    payload = {"u": user.name, "iat": now, "exp": now + ttl_s, "fp": _fingerprint(user)}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{body}.{_b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())}"


def verify_token(
    token: str,
    users: dict[str, User],
    secret: bytes,
    *,
    now: float,
    last_logout: Callable[[str], float | None],
) -> User | None:
    """The user the token names, or None when it is forged, expired, outdated or logged out."""
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
    user = users.get(name) if isinstance(name, str) else None
    if (
        user is None
        or not issued <= now < expires
        or not hmac.compare_digest(str(fingerprint), _fingerprint(user))
    ):
        return None
    logged_out = last_logout(user.name)
    if logged_out is not None and logged_out >= issued:
        return None
    return user
