"""Login throttling and the login audit: every attempt is a row, and repeated failures slow or lock a name.

Two counters, both read from the ``login_audit`` table (so they hold across dashboard processes and
restarts):

* **per name** (as typed, so unknown names are throttled exactly like real ones and the throttle does
  not reveal which names exist): failed attempts since the name's last successful login, within
  ``window_s``;
* **per client** (the browser's address): failed attempts within ``window_s`` under any name. A success
  does not reset it, or one valid account would let a client guess other accounts' passwords forever.

Once a counter reaches its limit, attempts are refused unchecked until the wait after the last failure
is over: ``base_delay_s`` doubled for each failure past the limit, capped at ``max_delay_s``
(``mode="backoff"``), or ``lock_s`` (``mode="lock"``). A refused attempt is audited but does not extend
the wait. Throttling refuses rather than sleeps: a sleeping server lets an attacker run attempts in
parallel, a refusal does not.

The check and the "pending" row of an attempt are written in one transaction (serialised per name and
per client), and a pending attempt counts as a failure until its password check says otherwise, so
parallel requests cannot slip past the limit.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    not_,
    or_,
    select,
    update,
)

from review import ReviewStore
from review._engine import serialize

from .auth import MIN_PASSWORD_LENGTH, User, authenticate
from .errors import AuthError, ConfigError

__all__ = ["LOCAL", "LoginAttempt", "LoginGuard", "LoginPolicy", "LoginThrottled", "client_key"]

#: The one client key of every browser on this machine (loopback), and of any request whose address
#: the server may have taken from a forwarded header nobody configured it to trust.
LOCAL = "local"
# uvicorn (Streamlit's server) honours X-Forwarded-For from these peers unless FORWARDED_ALLOW_IPS says else.
_UVICORN_DEFAULT_TRUST = "127.0.0.1,::1"
_FORWARDED_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")
_CLIENT_TEXT = re.compile(r"^[0-9A-Za-z.:%_-]{1,64}$")

# The login audit lives in the review store's database, beside the review tables (created on first use).
_metadata = MetaData()
# Every login attempt: "pending" while the password is checked, then "ok" or "failed"; "refused" when the
# throttle turned it away unchecked; "logout" ends every remembered login of the name issued before it.
logins = Table(
    "login_audit",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", Float, nullable=False),
    Column("name", String(128), nullable=False),  # a user's name, a short plain one, else a hash (_audit_name)
    Column("client", String(128), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("detail", Text, nullable=False, default="{}"),
)
Index("ix_logins_name", logins.c.name, logins.c.id)
Index("ix_logins_client", logins.c.client, logins.c.id)

_FAILED = ("failed", "pending")
_COUNTED = ("ok", "failed", "pending")
_MAX_NAME = 64
# A name an unknown visitor typed is kept as typed only when it is short and plain: lowercase letters with
# ``. _ -`` between them, fewer characters than a password may have (auth.MIN_PASSWORD_LENGTH) and no digit,
# so it cannot be a password set under the policy. Anything else (a password typed into the name field,
# long text, markup) is kept as a hash, so the same text is still one name to the throttle.
_PLAIN_NAME = re.compile(rf"^[a-z][a-z._-]{{0,{MIN_PASSWORD_LENGTH - 2}}}$")


class LoginThrottled(AuthError):
    """Too many failed logins for this name or from this client; ``retry_after_s`` says when to try again."""

    def __init__(self, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            f"too many failed logins: try again in {math.ceil(retry_after_s)} s "
            "(an admin sees the failed attempts on the Queues page)"
        )


@dataclass(frozen=True)
class LoginPolicy:
    """How many failures are allowed and what follows them (see the module docstring)."""

    mode: Literal["backoff", "lock"] = "backoff"
    max_failures: int = 5
    client_max_failures: int = 20
    base_delay_s: float = 1.0
    max_delay_s: float = 900.0
    lock_s: float = 900.0
    window_s: float = 3600.0
    audit_days: float = 90.0
    audit_max_rows: int = 100_000

    def __post_init__(self) -> None:
        if self.mode not in ("backoff", "lock"):
            raise ConfigError(f"login throttle mode {self.mode!r} must be 'backoff' or 'lock'")
        if self.max_failures < 1 or self.client_max_failures < 1:
            raise ConfigError("login failure limits must be at least 1")
        if min(self.base_delay_s, self.max_delay_s, self.lock_s, self.window_s) <= 0:
            raise ConfigError("login throttle delays and window must be positive seconds")
        if self.audit_days <= 0 or self.audit_max_rows < 1:
            raise ConfigError("login audit retention must be positive days and at least 1 row")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LoginPolicy:
        """``EVALHARNESS_LOGIN_MODE`` (backoff|lock), ``..._MAX_FAILURES``, ``..._CLIENT_MAX_FAILURES``,
        ``..._LOCK_SECONDS``, ``..._MAX_DELAY_SECONDS``, ``..._WINDOW_SECONDS``, and the audit's retention
        ``EVALHARNESS_LOGIN_AUDIT_DAYS`` (90) and ``EVALHARNESS_LOGIN_AUDIT_MAX_ROWS`` (100000); unset ones keep
        the defaults."""
        fields: dict[str, tuple[str, Callable[[str], Any]]] = {
            "mode": ("EVALHARNESS_LOGIN_MODE", str),
            "max_failures": ("EVALHARNESS_LOGIN_MAX_FAILURES", int),
            "client_max_failures": ("EVALHARNESS_LOGIN_CLIENT_MAX_FAILURES", int),
            "lock_s": ("EVALHARNESS_LOGIN_LOCK_SECONDS", float),
            "max_delay_s": ("EVALHARNESS_LOGIN_MAX_DELAY_SECONDS", float),
            "window_s": ("EVALHARNESS_LOGIN_WINDOW_SECONDS", float),
            "audit_days": ("EVALHARNESS_LOGIN_AUDIT_DAYS", float),
            "audit_max_rows": ("EVALHARNESS_LOGIN_AUDIT_MAX_ROWS", int),
        }
        values: dict[str, Any] = {}
        for name, (var, parse) in fields.items():
            if raw := env.get(var, "").strip():
                try:
                    values[name] = parse(raw)
                except ValueError as exc:
                    raise ConfigError(f"{var}={raw!r} is not a valid {parse.__name__}") from exc
        return cls(**values)

    def wait_s(self, failures: int, limit: int) -> float:
        """Seconds to wait after the last failure, with ``failures`` counted against ``limit``."""
        if failures < limit:
            return 0.0
        if self.mode == "lock":
            return self.lock_s
        return min(self.base_delay_s * 2.0 ** min(failures - limit, 60), self.max_delay_s)


@dataclass(frozen=True)
class LoginAttempt:
    """One row of the login audit."""

    id: int
    ts: float
    name: str
    client: str
    outcome: str  # pending | ok | failed | refused | logout


class LoginGuard:
    """Checks passwords through the throttle and writes the login audit into the review store's database."""

    def __init__(
        self,
        store: ReviewStore,
        policy: LoginPolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        _metadata.create_all(store.engine)
        self.policy = policy or LoginPolicy()
        self._clock = clock

    def login(self, users: dict[str, User], name: str, password: str, *, client: str | None) -> User:
        """The user when the password is right and neither the name nor the client is throttled.

        Raises :class:`LoginThrottled` (attempt refused unchecked) or :class:`AuthError` (wrong name or
        password, one message for both). Every attempt is audited.
        """
        name, client = _audit_name(name, users), _client_text(client)
        now = self._clock()
        self.prune(now)
        with self.store.engine.begin() as conn:
            serialize(conn, f"login-name:{name}")
            serialize(conn, f"login-client:{client}")
            wait = self._retry_after(conn, name, client, now)
            if wait > 0:
                conn.execute(logins.insert(), _row(now, name, client, "refused", {"retry_after_s": wait}))
            else:
                attempt_id = conn.execute(
                    logins.insert().returning(logins.c.id), _row(now, name, client, "pending", {})
                ).scalar_one()
        if wait > 0:  # raised after the commit, so the refusal stays in the audit
            raise LoginThrottled(wait)
        try:
            user = authenticate(users, name, password)
        except AuthError:
            self._settle(attempt_id, "failed")
            raise
        self._settle(attempt_id, "ok")
        return user

    def logout(self, name: str, *, client: str | None) -> None:
        """Audit a logout; remembered logins of ``name`` issued before it stop working (see sessions.py)."""
        with self.store.engine.begin() as conn:
            conn.execute(
                logins.insert(), _row(self._clock(), name[:_MAX_NAME], _client_text(client), "logout", {})
            )

    def last_logout(self, name: str) -> float | None:
        """When ``name`` last logged out, if ever."""
        with self.store.engine.connect() as conn:
            value = conn.execute(
                select(func.max(logins.c.ts)).where(logins.c.name == name, logins.c.outcome == "logout")
            ).scalar()
        return None if value is None else float(value)

    def attempts(
        self, *, name: str | None = None, failed_only: bool = False, limit: int = 200
    ) -> list[LoginAttempt]:
        """The newest audit rows first (optionally of one name, or only failed and refused attempts)."""
        q = select(logins).order_by(logins.c.id.desc()).limit(limit)
        if name is not None:
            q = q.where(logins.c.name == name)
        if failed_only:
            q = q.where(logins.c.outcome.in_(("failed", "refused")))
        with self.store.engine.connect() as conn:
            return [LoginAttempt(r.id, r.ts, r.name, r.client, r.outcome) for r in conn.execute(q).all()]

    def prune(self, now: float | None = None) -> int:
        """Delete audit rows past the retention (``audit_days``, then all but the newest ``audit_max_rows``);
        the number deleted. Rows the throttle still counts (attempts within ``window_s``) and logouts (they
        end remembered logins) are kept whatever the limits, so flooding the audit cannot reset a counter.
        Every login attempt prunes first, so unauthenticated visitors cannot grow the table without bound."""
        now = self._clock() if now is None else now
        keep = or_(
            logins.c.outcome == "logout",
            and_(logins.c.outcome.in_(_COUNTED), logins.c.ts >= now - self.policy.window_s),
        )
        with self.store.engine.begin() as conn:
            gone = conn.execute(
                delete(logins).where(logins.c.ts < now - self.policy.audit_days * 86400.0, not_(keep))
            ).rowcount
            cut = conn.execute(
                select(logins.c.id).order_by(logins.c.id.desc()).offset(self.policy.audit_max_rows).limit(1)
            ).scalar()
            if cut is not None:
                gone += conn.execute(delete(logins).where(logins.c.id <= cut, not_(keep))).rowcount
        return int(gone)

    def _retry_after(self, conn: Any, name: str, client: str, now: float) -> float:
        since = now - self.policy.window_s
        # Enough rows to see the capped back-off: past ~60 failures over the limit the wait is constant.
        recent = conn.execute(
            select(logins.c.ts, logins.c.outcome)
            .where(logins.c.name == name, logins.c.outcome.in_(_COUNTED), logins.c.ts >= since)
            .order_by(logins.c.id.desc())
            .limit(self.policy.max_failures + 64)
        ).all()
        streak = 0
        for row in recent:
            if row.outcome == "ok":
                break
            streak += 1
        name_wait = 0.0
        if streak:
            name_wait = recent[0].ts + self.policy.wait_s(streak, self.policy.max_failures) - now
        n_client, last_client = conn.execute(
            select(func.count(), func.max(logins.c.ts)).where(
                logins.c.client == client, logins.c.outcome.in_(_FAILED), logins.c.ts >= since
            )
        ).one()
        client_wait = 0.0
        if n_client:
            client_wait = last_client + self.policy.wait_s(n_client, self.policy.client_max_failures) - now
        return max(name_wait, client_wait, 0.0)

    def _settle(self, attempt_id: int, outcome: str) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(update(logins).where(logins.c.id == attempt_id).values(outcome=outcome))


def _row(ts: float, name: str, client: str, outcome: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {"ts": ts, "name": name, "client": client, "outcome": outcome, "detail": json.dumps(detail)}


def _audit_name(name: str, users: Mapping[str, User]) -> str:
    """What the audit keeps of a typed name: a user's name, a short plain name, else ``#`` and a hash."""
    if name in users and len(name) <= _MAX_NAME:
        return name
    if _PLAIN_NAME.match(name):
        return name
    return "#" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _client_text(client: str | None) -> str:
    # The audit's client column is shown to admins: only an address-like token, never free text or markup.
    if not client:
        return "unknown"
    return client if _CLIENT_TEXT.match(client) else "invalid"


def _host_list(raw: str | Iterable[str]) -> set[str]:
    items = raw.split(",") if isinstance(raw, str) else raw
    return {item.strip() for item in items if item.strip()}


def client_key(
    peer: str | None,
    headers: Iterable[tuple[str, str]] | Mapping[str, str],
    *,
    trusted_proxies: Iterable[str] = (),
    server_trust: str | None = None,
) -> str:
    """The throttle's client key for a request: the socket peer, never a value the client chose.

    ``peer`` is the address the server reports (None or loopback: :data:`LOCAL`). The server (uvicorn)
    replaces the peer with the ``X-Forwarded-For`` value when the real peer is one it trusts
    (``server_trust``: ``$FORWARDED_ALLOW_IPS``, by default loopback). That is honoured only when every
    peer the server trusts is a configured ``trusted_proxies`` entry (``EVALHARNESS_TRUSTED_PROXIES``;
    ``python -m dashboard serve --trusted-proxy`` sets both). Otherwise a request that carries a forwarded
    header may hold an address its sender made up: it counts as the one client :data:`LOCAL`, whatever
    the header says, so a fresh header value never buys a fresh budget of guesses.
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    forwarded = any(str(k).lower() in _FORWARDED_HEADERS for k, _ in pairs)
    trusted_by_server = _host_list(_UVICORN_DEFAULT_TRUST if server_trust is None else server_trust)
    if forwarded and trusted_by_server and not trusted_by_server <= _host_list(trusted_proxies):
        return LOCAL
    if not peer:
        return LOCAL
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return "unknown"
    if address.is_loopback:
        return LOCAL
    return str(address)
