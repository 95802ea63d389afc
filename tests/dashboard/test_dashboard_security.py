"""Security, second round (issue 23): a throttle the client cannot steer, sessions that end, an Export page
that sends the Phoenix key only to the configured Phoenix, admin pages confined to their folders, blind
calibration. Each test failed before its fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard_helpers import PASSWORDS, FakeClock, app_test, login
from streamlit.testing.v1 import AppTest

from dashboard import AuthError, add_user, load_users
from dashboard.cli import _parser, serve_env
from dashboard.config import DashboardConfig
from dashboard.logins import LOCAL, LoginGuard, LoginPolicy, LoginThrottled, client_key
from review import ReviewStore

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


# --- 1. the throttle's client key ---------------------------------------------------------------------


def test_a_forwarded_header_never_names_the_client_without_a_configured_proxy() -> None:
    # uvicorn's default trust (loopback) replaced the peer with the header's value: the key stays "local".
    for claimed in ("203.0.113.7", "local", "![x](https://trap.invalid/)", "10.0.0.1"):
        assert client_key(claimed, [("x-forwarded-for", claimed)], server_trust=None) == LOCAL
    # The socket peer is the client; loopback browsers are all "local".
    assert client_key("198.51.100.4", [], server_trust=None) == "198.51.100.4"
    assert client_key(None, [], server_trust=None) == LOCAL
    assert client_key("::1", [], server_trust="") == LOCAL
    # serve without --trusted-proxy: the server believes no header, so the peer it reports is the socket's.
    assert client_key("198.51.100.4", [("X-Forwarded-For", "1.2.3.4")], server_trust="") == "198.51.100.4"
    # A configured proxy: the server resolved the client from its header, and the app takes it.
    assert (
        client_key("203.0.113.7", [("x-forwarded-for", "203.0.113.7")],
                   trusted_proxies=("10.0.0.2",), server_trust="10.0.0.2")
        == "203.0.113.7"
    )
    # Garbage never becomes a key.
    assert client_key("<b>x</b>", [], server_trust="") == "unknown"


def test_fresh_header_values_do_not_buy_fresh_guesses(store: ReviewStore, clock: FakeClock,
                                                      users_file: Path) -> None:
    users = load_users(users_file)
    guard = LoginGuard(store, LoginPolicy(client_max_failures=3, max_failures=50), clock=clock)
    outcomes = []
    for i in range(6):
        header = f"203.0.113.{i}"
        key = client_key(header, [("X-Forwarded-For", header)], server_trust=None)  # as uvicorn hands it over
        try:
            guard.login(users, f"name{i}", "guess", client=key)
            outcomes.append("ok")
        except LoginThrottled:
            outcomes.append("refused")
        except AuthError:
            outcomes.append("failed")
    assert outcomes == ["failed"] * 3 + ["refused"] * 3
    with pytest.raises(LoginThrottled):  # the right password is refused unchecked while the client waits
        guard.login(users, "bob", PASSWORDS["bob"], client=client_key("9.9.9.9", [("x-forwarded-for", "9.9.9.9")]))


def test_the_audit_client_column_holds_no_markup(store: ReviewStore, clock: FakeClock, users_file: Path) -> None:
    guard = LoginGuard(store, clock=clock)
    with pytest.raises(AuthError):
        guard.login(load_users(users_file), "bob", "guess", client="![x](https://trap.invalid/?q=1) **b**")
    guard.logout("bob", client="<img src=x>")
    assert [a.client for a in guard.attempts()] == ["invalid", "invalid"]


def test_serve_trusts_no_forwarded_header_unless_a_proxy_is_named(users_file: Path) -> None:
    args = _parser(DashboardConfig()).parse_args(["serve", "--users", str(users_file)])
    env = serve_env(args, {"FORWARDED_ALLOW_IPS": "*"})
    assert env["FORWARDED_ALLOW_IPS"] == "" and env["EVALHARNESS_TRUSTED_PROXIES"] == ""
    args = _parser(DashboardConfig()).parse_args(["serve", "--trusted-proxy", "10.0.0.2"])
    env = serve_env(args, {})
    assert env["FORWARDED_ALLOW_IPS"] == env["EVALHARNESS_TRUSTED_PROXIES"] == "10.0.0.2"


# --- 2. open sessions end -------------------------------------------------------------------------------


def _app() -> AppTest:
    return app_test(APP)


def _login(name: str) -> AppTest:
    return login(APP, name, PASSWORDS[name])


def _bob_labels_one(db: Path, **label: object) -> None:
    store = ReviewStore(db)
    lease = store.claim_next("bob", queue="escalation")
    assert lease is not None
    store.submit(lease, **label)  # type: ignore[arg-type]
    store.close()


def _titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def _rewrite_users(path: Path, keep: dict[str, str]) -> None:
    """The users file with only the ``keep`` users, each with the given role and their current hash."""
    from dashboard.auth import write_private

    users = load_users(path)
    lines = []
    for name, role in keep.items():
        lines += [f'[users."{name}"]', f'role = "{role}"', f'password = "{users[name].password_hash}"', ""]
    write_private(path, "\n".join(lines))


@pytest.mark.parametrize("change", ["logout elsewhere", "password change", "demotion", "removal", "ttl expiry"])
def test_an_open_admin_tab_loses_its_session_at_the_next_run(
    app_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    import time

    if change == "ttl expiry":
        monkeypatch.setenv("EVALHARNESS_LOGIN_TTL", "2")
    at = _login("alice")
    at.switch_page("views/export.py").run()
    assert _titles(at) == ["Export"]
    users = app_env["users"]
    if change == "logout elsewhere":
        store = ReviewStore(app_env["db"])
        LoginGuard(store).logout("alice", client="198.51.100.4")
        store.close()
    elif change == "password change":
        add_user(users, "alice", "a-new-password-9", role="admin")
    elif change == "demotion":
        _rewrite_users(users, {"alice": "reviewer", "bob": "reviewer", "carol": "reviewer"})
    elif change == "removal":
        _rewrite_users(users, {"bob": "reviewer", "carol": "reviewer"})
    else:
        time.sleep(2.1)
    at.run()
    assert not at.exception, at.exception
    assert _titles(at) == ["Human review"]  # the login form, nothing of the Export page
    assert not [b for b in at.button if b.key.startswith("export_")]


def test_a_demoted_admin_cannot_write_from_the_export_page(app_env: dict[str, Path]) -> None:
    _bob_labels_one(app_env["db"], score=4, note="fine")
    at = _login("alice")
    at.switch_page("views/export.py").run()
    _rewrite_users(app_env["users"], {"alice": "reviewer", "bob": "reviewer", "carol": "reviewer"})
    # The click's rerun is the first run after the demotion: nothing may be written.
    at.button(key="export_golden").click().run()
    assert not (app_env["datasets"] / "human").exists()
    at = _login("alice")
    assert "Export" not in [p for p in _titles(at)]
    with pytest.raises(ValueError):
        at.switch_page("views/export.py")


# --- 3. the Phoenix key goes to the configured Phoenix only ------------------------------------------------


def test_the_export_page_sends_the_phoenix_key_to_the_configured_phoenix_only(
    app_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, recorders: list[dict]
) -> None:
    configured, trap = recorders
    monkeypatch.setenv("EVALHARNESS_PHOENIX_ENDPOINT", configured["url"])
    monkeypatch.setenv("PHOENIX_API_KEY", "phx-secret-key")
    _bob_labels_one(app_env["db"], score=5, note="a note that must not leak")
    at = _login("alice")
    at.switch_page("views/export.py").run()
    # The attack: point the endpoint at the trap. The page has no field for it any more.
    for box in at.text_input:
        if "endpoint" in box.key or "phoenix" in (box.label or "").lower():
            box.input(trap["url"]).run()
    at.button(key="export_phoenix").click().run()
    assert not at.exception, at.exception
    assert trap["requests"] == []
    assert [r["auth"] for r in configured["requests"]] == ["Bearer phx-secret-key"]


# --- 4. admin pages stay in their folders -------------------------------------------------------------


def _synth_page(app_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, synth_dir: Path) -> AppTest:
    monkeypatch.setenv("EVALHARNESS_SYNTH_DIR", str(synth_dir))
    at = _login("alice")
    at.switch_page("views/synthetic.py").run()
    assert not at.exception, at.exception
    return at


def _queue(at: AppTest, typed: str) -> str:
    at.text_input(key="synth_set_path").input(typed).run()
    at.button(key="synth_queue").click().run()
    assert not at.exception, at.exception
    return "\n".join(e.value for e in at.error).replace("\\", "")  # as read: the Markdown escapes dropped


def test_queue_a_generated_set_reads_only_inside_the_synth_folder(
    app_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    synth_dir = tmp_path / "synth_out"
    synth_dir.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("root:$6$very-secret-hash-line\n")
    (synth_dir / "link.jsonl").symlink_to(secret)
    (synth_dir / "bad.jsonl").write_text("session-key-0123456789abcdef0123456789abcdef\n")
    at = _synth_page(app_env, monkeypatch, synth_dir)
    outside = _queue(at, str(secret))
    missing = _queue(at, str(tmp_path / "no-such-file.txt"))
    for shown in (outside, missing, _queue(at, "../secret.txt"), _queue(at, "link.jsonl")):
        assert "very-secret" not in shown and "root:" not in shown
    # A missing file and an existing one outside the folder get the same answer (up to the name typed).
    assert outside.replace(str(secret), "X") == missing.replace(str(tmp_path / "no-such-file.txt"), "X")
    inside_bad = _queue(at, "bad.jsonl")
    assert "not a generated set" in inside_bad and "0123456789abcdef" not in inside_bad
    assert not at.success


def test_a_dataset_name_cannot_leave_the_datasets_folder(
    app_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from review.models import NewItem
    from synth import REVIEW_QUEUE, SyntheticRow, review_fields
    from synth._rows import Origin

    row = SyntheticRow(id="synth-0", kind="rag", question="Why does it matter?", contexts=["It matters."],
                       reference="Because.", origin=Origin(source="corpus.jsonl#doc-0", position=0,
                                                           evolution="reasoning", persona="novice"))
    store = ReviewStore(app_env["db"])
    store.add_items([NewItem(**review_fields(row))])
    lease = store.claim_next("bob", queue=REVIEW_QUEUE)
    assert lease is not None
    store.submit(lease, category="accept", note="")
    store.close()
    at = _synth_page(app_env, monkeypatch, tmp_path)
    escape = tmp_path / "escaped"
    at.text_input(key="synth_export_name").input(f"../../../{escape.name}/x").run()
    at.button(key="synth_export").click().run()
    assert not at.exception, at.exception
    assert at.error and not at.success
    assert not list(tmp_path.rglob("x.jsonl")) and not escape.exists()


# --- 5. blind calibration -------------------------------------------------------------------------------


def test_calibration_hides_other_reviewers_labels_until_the_viewers_own_is_in(app_env: dict[str, Path]) -> None:
    store = ReviewStore(app_env["db"])
    # carol labels both calibration items (case-100: 1, case-101: 5); bob only the first (3).
    for who, n in (("carol", 2), ("bob", 1)):
        for _ in range(n):
            lease = store.claim_next(who, queue="calibration")
            assert lease is not None
            item = store.get_item(lease.item_id)
            store.submit(lease, score={"carol": 1 if item.source_id == "case-100" else 5, "bob": 3}[who])
    bob_item = next(r.item_id for r in store.labels(reviewer="bob"))
    assert {r.item_id for r in store.labels(visible_to="bob")} == {bob_item}
    assert {r.reviewer for r in store.labels(visible_to="bob")} == {"bob", "carol"}
    assert len({r.item_id for r in store.labels()}) == 2  # unfiltered: both items
    store.close()

    at = _login("bob")
    at.switch_page("views/calibration.py").run()
    assert not at.exception, at.exception
    headings = [e.label.replace("\\", "") for e in at.expander if e.label.replace("\\", "").startswith("Item ")]
    assert headings and all(f"Item {bob_item}:" in h for h in headings)
    assert not any("carol 5" in h for h in headings)
    assert {m.label: m.value for m in at.metric}["Items with judge and human scores"] == "1"
    at = _login("alice")  # an admin sees every item
    at.switch_page("views/calibration.py").run()
    assert {m.label: m.value for m in at.metric}["Items with judge and human scores"] == "2"


# --- 10, 13: password policy, the decoy hash at start ----------------------------------------------------


@pytest.mark.parametrize("password", ["x", "short-pw1", "password1234", "aaaaaaaaaaaaaaaa", "xx-carol-xx-12"])
def test_add_user_refuses_weak_passwords(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str) -> None:
    import io
    import sys

    from dashboard.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    path = tmp_path / "users.toml"
    assert main(["add-user", "carol", "--password-stdin", "--users", str(path)]) == 2
    assert not path.exists()


def test_the_decoy_hash_is_made_before_the_first_login(app_env: dict[str, Path]) -> None:
    from dashboard import auth

    auth._decoy_hash.cache_clear()
    _app().run()  # the login page, before any attempt
    assert auth._decoy_hash.cache_info().currsize == 1
