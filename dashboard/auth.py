"""Users, roles and password hashes kept in a TOML file (stdlib scrypt; no plaintext anywhere).

The file looks like::

    [users.alice]
    role = "admin"
    password = "scrypt$16384$8$1$<salt b64>$<hash b64>"
    email = "alice@example.org"   # optional: maps an OIDC identity (st.login) to this user

It is read with :mod:`tomllib` and written by :func:`add_user` (the ``add-user`` CLI).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import stat
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from .errors import AuthError, ConfigError

__all__ = [
    "ROLES",
    "User",
    "add_user",
    "authenticate",
    "check_password_policy",
    "check_private",
    "hash_password",
    "load_users",
    "verify_password",
]

ROLES = ("reviewer", "admin")
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
# scrypt cost: 16 MiB of memory and ~50 ms per check; a login is rare, a stolen file is expensive to crack.
_N, _R, _P = 2**14, 8, 1


@dataclass(frozen=True)
class User:
    """A dashboard user: ``role`` is ``reviewer`` or ``admin``."""

    name: str
    role: str
    # repr=False: a User sits in session state and in log lines; its hash must never be printed.
    password_hash: str = field(default="", repr=False)
    email: str | None = None

    @property
    def is_admin(self) -> bool:
        """Whether the user may see the admin pages."""
        return self.role == "admin"


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Hash a password with scrypt into a self-describing string."""
    if not password:
        raise ConfigError("password must not be empty")
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, maxmem=64 * 1024 * 1024)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time comparison)."""
    try:
        algo, n, r, p, salt_b64, hash_b64 = encoded.split("$")
        if algo != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(hash_b64)
        got = hashlib.scrypt(
            password.encode(),
            salt=salt,
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=64 * 1024 * 1024,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def load_users(path: str | Path) -> dict[str, User]:
    """Read the users file; a missing file means no users yet."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"users file {path} is not valid TOML: {exc}") from exc
    users: dict[str, User] = {}
    for name, entry in (data.get("users") or {}).items():
        if not isinstance(entry, dict):
            raise ConfigError(f"users file {path}: [users.{name}] must be a table with role and password")
        role = entry.get("role", "reviewer")
        if role not in ROLES:
            raise ConfigError(f"users file {path}: user {name!r} has role {role!r}; use one of {ROLES}")
        users[name] = User(
            name=name, role=role, password_hash=entry.get("password", ""), email=entry.get("email")
        )
    return users


#: The shortest password ``add-user`` accepts.
MIN_PASSWORD_LENGTH = 12
# Passwords every guessing list starts with (lower-cased); a password that is one of these, or one
# character repeated, is refused whatever its length.
_COMMON = frozenset(
    [
        "password",
        "password1",
        "password12",
        "password123",
        "password1234",
        "passw0rd",
        "p@ssw0rd",
        "p@ssword",
        "123456",
        "1234567",
        "12345678",
        "123456789",
        "1234567890",
        "12345678910",
        "123123123",
        "111111111111",
        "000000000000",
        "qwerty",
        "qwertyuiop",
        "qwerty123456",
        "qwertyuiop123",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "abc123456789",
        "iloveyou123",
        "letmein12345",
        "welcome12345",
        "admin1234567",
        "administrator",
        "changeme1234",
        "trustno1trustno1",
        "football1234",
        "baseball1234",
        "monkey123456",
        "dragon123456",
        "sunshine1234",
        "princess1234",
        "superman1234",
        "starwars1234",
        "whatever1234",
        "correcthorsebatterystaple",
    ]
)


def check_password_policy(password: str, name: str = "") -> None:
    """Raise :class:`ConfigError` for a password too short, common, repetitive or equal to the user name."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    lowered = password.lower()
    if lowered in _COMMON or len(set(password)) < 4 or (name and name.lower() in lowered):
        raise ConfigError(
            "the password is too easy to guess (common, repetitive or containing the user name)"
        )


@cache
def _decoy_hash() -> str:
    # Computed once, at start (dashboard._ui.preflight calls prepare_decoy): an unknown name then costs
    # one scrypt, exactly like a known one, the first attempt included.
    return hash_password(secrets.token_urlsafe(16))


def prepare_decoy() -> None:
    """Compute the decoy hash now, so the first unknown-name attempt is not slower than the others."""
    _decoy_hash()


def authenticate(users: dict[str, User], name: str, password: str) -> User:
    """The user if name and password match; raises :class:`AuthError` otherwise (same message for both).

    Unknown names and users without a password (single sign-on only) are checked against a decoy hash,
    so the time taken does not reveal which names exist. Throttling is :class:`dashboard.logins.LoginGuard`.
    """
    user = users.get(name)
    stored = user.password_hash if user is not None and user.password_hash else _decoy_hash()
    ok = verify_password(password, stored)
    if user is None or not user.password_hash or not ok:
        raise AuthError("unknown user name or wrong password")
    return user


def check_private(path: str | Path) -> None:
    """Raise :class:`ConfigError` unless ``path`` is owned by this process's user and readable and writable by
    that user only (no group or other bits). A missing file passes (the caller says whether that is an error).

    The users file holds password hashes and the session key signs logins: the dashboard refuses to
    start on either when another user may read or change it.
    """
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        return
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        raise ConfigError(
            f"{path} belongs to another user (uid {st.st_uid}); it holds secrets: the dashboard's own user must "
            f"own it: run `chown $(id -un) {path} && chmod 600 {path}`"
        )
    if st.st_mode & 0o077:
        raise ConfigError(
            f"{path} is readable or writable by other users on this machine (mode {stat.filemode(st.st_mode)}); "
            f"it holds secrets: run `chmod 600 {path}`"
        )


def add_user(
    path: str | Path, name: str, password: str, role: str = "reviewer", email: str | None = None
) -> User:
    """Add or replace a user in the users file (written atomically, mode 0600)."""
    if not _NAME.match(name):
        raise ConfigError(f"user name {name!r} may only use letters, digits and _ . @ - (1-64 characters)")
    if role not in ROLES:
        raise ConfigError(f"role {role!r} is not one of {ROLES}")
    path = Path(path)
    users = load_users(path)
    users[name] = User(name=name, role=role, password_hash=hash_password(password), email=email)
    lines = ["# Dashboard users; written by `python -m dashboard add-user`.", ""]
    for u in users.values():
        lines.append(f'[users."{u.name}"]')
        lines.append(f'role = "{u.role}"')
        lines.append(f'password = "{u.password_hash}"')
        if u.email:
            if '"' in u.email or "\\" in u.email:
                raise ConfigError(f"email {u.email!r} may not contain quotes or backslashes")
            lines.append(f'email = "{u.email}"')
        lines.append("")
    write_private(path, "\n".join(lines))
    from .sessions import init_secret  # the documented init: the first add-user makes the session key

    init_secret(path)
    return users[name]


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600 (a new folder gets 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a leftover .tmp from a crash keeps its old mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
