"""Login throttle and audit: per-name and per-client limits, back-off or lock, unknown names alike, every try audited.

The clock is a fake moved by hand, so locks and back-offs expire without sleeping.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from dashboard_helpers import PASSWORDS, FakeClock

from dashboard import AuthError, load_users
from dashboard.errors import ConfigError
from dashboard.logins import LoginGuard, LoginPolicy, LoginThrottled
from review import ReviewStore


@pytest.fixture
def users(users_file: Path) -> dict:
    return load_users(users_file)


def _try(guard: LoginGuard, users: dict, name: str, password: str, client: str = "10.0.0.1") -> str:
    """The outcome of one attempt: "ok", "failed" (checked, wrong) or "refused" (throttled, unchecked)."""
    try:
        guard.login(users, name, password, client=client)
    except LoginThrottled:
        return "refused"
    except AuthError:
        return "failed"
    return "ok"


def _wrong_every_second(guard: LoginGuard, users: dict, clock: FakeClock, n: int = 200) -> list[str]:
    """``n`` wrong passwords for bob, one a second; the outcome of each."""
    outcomes = []
    for _ in range(n):
        outcomes.append(_try(guard, users, "bob", "guess"))
        clock.advance(1)
    return outcomes


def test_200_wrong_passwords_lock_the_name_until_the_lock_expires(
    store: ReviewStore, clock: FakeClock, users: dict
) -> None:
    guard = LoginGuard(store, LoginPolicy(mode="lock", max_failures=5, lock_s=900), clock=clock)
    start = clock.now
    assert _wrong_every_second(guard, users, clock) == ["failed"] * 5 + ["refused"] * 195
    # The right password is refused while the lock holds (it is not even checked) ...
    clock.now = start + 4 + 899
    assert _try(guard, users, "bob", PASSWORDS["bob"]) == "refused"
    # ... and works once it has expired: 900 s after the fifth failure.
    clock.now = start + 4 + 900
    assert _try(guard, users, "bob", PASSWORDS["bob"]) == "ok"
    rows = guard.attempts(name="bob", limit=1000)
    assert len(rows) == 202  # every attempt is in the audit table
    assert Counter(r.outcome for r in rows) == {"failed": 5, "refused": 196, "ok": 1}
    assert {r.client for r in rows} == {"10.0.0.1"}


def test_200_wrong_passwords_back_off_exponentially(
    store: ReviewStore, clock: FakeClock, users: dict
) -> None:
    guard = LoginGuard(store, LoginPolicy(mode="backoff", max_failures=5, base_delay_s=1.0), clock=clock)
    start = clock.now
    checked = [i for i, outcome in enumerate(_wrong_every_second(guard, users, clock)) if outcome == "failed"]
    # 5 free tries, then waits of 1, 2, 4, ... 64 s after each further failure: 12 passwords checked in 200 s.
    assert checked == [0, 1, 2, 3, 4, 5, 7, 11, 19, 35, 67, 131]
    clock.now = start + 131 + 127
    assert _try(guard, users, "bob", PASSWORDS["bob"]) == "refused"  # the 128 s wait is not over
    clock.now = start + 131 + 128
    assert _try(guard, users, "bob", PASSWORDS["bob"]) == "ok"
    assert len(guard.attempts(name="bob", limit=1000)) == 202


def test_back_off_is_capped(store: ReviewStore, clock: FakeClock, users: dict) -> None:
    policy = LoginPolicy(max_failures=1, base_delay_s=1.0, max_delay_s=10.0, window_s=10**6)
    guard = LoginGuard(store, policy, clock=clock)
    for _ in range(12):
        assert _try(guard, users, "bob", "guess") == "failed"
        clock.advance(10)  # never more than max_delay_s, however many failures
    assert _try(guard, users, "bob", "guess") == "failed"
    assert _try(guard, users, "bob", "guess") == "refused"


def test_success_resets_the_name_but_old_failures_age_out(
    store: ReviewStore, clock: FakeClock, users: dict
) -> None:
    guard = LoginGuard(store, LoginPolicy(mode="lock", max_failures=3, window_s=600), clock=clock)
    assert [_try(guard, users, "bob", "x") for _ in range(2)] == ["failed"] * 2
    assert _try(guard, users, "bob", PASSWORDS["bob"]) == "ok"
    assert [_try(guard, users, "bob", "x") for _ in range(3)] == ["failed"] * 3  # the count started again
    assert _try(guard, users, "bob", "x") == "refused"
    clock.advance(901)  # the lock is over and the failures left the 600 s window
    assert [_try(guard, users, "bob", "x") for _ in range(3)] == ["failed"] * 3


def test_one_client_trying_many_names_is_throttled(store: ReviewStore, clock: FakeClock, users: dict) -> None:
    guard = LoginGuard(store, LoginPolicy(mode="lock", max_failures=5, client_max_failures=20), clock=clock)
    for i in range(20):
        assert _try(guard, users, f"user{i}", "guess", client="203.0.113.9") == "failed"
    # The 21st attempt from that client is refused, even with a right password for a real user ...
    assert _try(guard, users, "carol", PASSWORDS["carol"], client="203.0.113.9") == "refused"
    # ... while another client is not affected, and a success does not reset the client's count.
    assert _try(guard, users, "carol", PASSWORDS["carol"], client="198.51.100.7") == "ok"
    assert _try(guard, users, "bob", PASSWORDS["bob"], client="203.0.113.9") == "refused"


def test_unknown_names_are_throttled_and_timed_like_known_ones(
    store: ReviewStore, clock: FakeClock, users: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = LoginGuard(store, LoginPolicy(mode="lock", max_failures=2), clock=clock)
    outcomes = {name: [_try(guard, users, name, "guess") for _ in range(3)] for name in ("bob", "mallory")}
    assert outcomes["bob"] == outcomes["mallory"] == ["failed", "failed", "refused"]
    messages = set()
    for name in ("bob", "mallory"):
        with pytest.raises(LoginThrottled) as exc:
            guard.login(users, name, "guess", client="10.0.0.1")
        messages.add(str(exc.value))
    assert len(messages) == 1  # nothing tells a real name from an unknown one

    # One scrypt per checked attempt whether or not the name exists (the decoy hash is made once).
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args: object, **kwargs: object) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hashlib, "scrypt", counting)
    fresh = LoginGuard(store, LoginPolicy(), clock=clock)
    per_name = {}
    for name in ("carol", "nobody", "carol", "nobody"):
        calls.clear()
        _try(fresh, users, name, "wrong", client=f"client-{name}")
        per_name[name] = len(calls)
    assert per_name == {"carol": 1, "nobody": 1}


def test_parallel_attempts_cannot_slip_past_the_limit(
    store: ReviewStore, clock: FakeClock, users: dict
) -> None:
    guard = LoginGuard(store, LoginPolicy(mode="lock", max_failures=5), clock=clock)
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: _try(guard, users, "bob", "guess"), range(40)))
    # The check and the "pending" row are one transaction, and pending counts as failed: exactly 5 checked.
    assert Counter(outcomes) == {"failed": 5, "refused": 35}
    assert len(guard.attempts(name="bob")) == 40


def test_logout_and_failed_only_listing(store: ReviewStore, clock: FakeClock, users: dict) -> None:
    guard = LoginGuard(store, clock=clock)
    assert guard.last_logout("bob") is None
    _try(guard, users, "bob", "wrong")
    _try(guard, users, "bob", PASSWORDS["bob"])
    clock.advance(5)
    guard.logout("bob", client="10.0.0.1")
    assert guard.last_logout("bob") == clock.now
    assert [a.outcome for a in guard.attempts()] == ["logout", "ok", "failed"]
    assert [a.outcome for a in guard.attempts(failed_only=True)] == ["failed"]


def test_policy_from_env_and_bad_values() -> None:
    env = {
        "EVALHARNESS_LOGIN_MODE": "lock",
        "EVALHARNESS_LOGIN_MAX_FAILURES": "3",
        "EVALHARNESS_LOGIN_LOCK_SECONDS": "60",
    }
    policy = LoginPolicy.from_env(env)
    assert (policy.mode, policy.max_failures, policy.lock_s) == ("lock", 3, 60.0)
    assert LoginPolicy.from_env({}) == LoginPolicy()
    assert policy.wait_s(2, 3) == 0 and policy.wait_s(3, 3) == 60.0
    with pytest.raises(ConfigError, match="EVALHARNESS_LOGIN_MAX_FAILURES='many'"):
        LoginPolicy.from_env({"EVALHARNESS_LOGIN_MAX_FAILURES": "many"})
    with pytest.raises(ConfigError, match="'backoff' or 'lock'"):
        LoginPolicy(mode="sleep")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least 1"):
        LoginPolicy(max_failures=0)
