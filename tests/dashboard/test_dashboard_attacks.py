"""The attacks of issue 23's findings 1-5, scripted against a served dashboard, each failing.

The dashboard is started the way a team runs it, ``python -m dashboard serve`` (Streamlit on uvicorn, on a free
port on 127.0.0.1); a real headless Chromium plays the attacker; two recording HTTP servers on 127.0.0.1 stand
for the configured Phoenix and the attacker's trap. Each test states the attack, runs it through the pages as a
browser would, and checks that it achieved nothing: no fresh guesses, no write from a revoked session, no
request to the trap, no file content shown or written outside its folder, no other reviewer's label seen.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dashboard_helpers import PASSWORDS, fill_login, free_port, sample_items, served, settle

from dashboard import add_user
from dashboard.logins import LoginGuard
from review import ReviewStore

pytestmark = pytest.mark.slow

SECRET_LINE = "root:$6$attack-target-hash:19000:0:99999:7:::"


@pytest.fixture
def dashboard(tmp_path: Path, users_file: Path, recorders: list[dict]) -> Iterator[dict]:
    """``python -m dashboard serve`` with a filled store, a configured Phoenix (recorder 0) and its key."""
    db = tmp_path / "review.sqlite"
    store = ReviewStore(db)
    store.add_items(sample_items(3))
    store.add_items(sample_items(2, queue="calibration", overlap=3, start=100))
    store.close()
    synth_dir = tmp_path / "synth_out"
    synth_dir.mkdir()
    (tmp_path / "outside.txt").write_text(SECRET_LINE + "\n")
    port = free_port()
    env = {
        **os.environ,
        "PHOENIX_API_KEY": "phx-secret-key",
        "EVALHARNESS_PHOENIX_ENDPOINT": recorders[0]["url"],
        # a small throttle, so that the attack meets it after a few guesses, and a lock that outlasts the test
        "EVALHARNESS_LOGIN_CLIENT_MAX_FAILURES": "3",
        "EVALHARNESS_LOGIN_MODE": "lock",
        "EVALHARNESS_LOGIN_LOCK_SECONDS": "600",
        "EVALHARNESS_LOGIN_MAX_FAILURES": "50",
        "FORWARDED_ALLOW_IPS": "*",  # what an attacker would hope for: serve must override it
    }
    cmd = [
        sys.executable, "-m", "dashboard", "serve", "--port", str(port), "--db", str(db),
        "--users", str(users_file), "--results", str(tmp_path / "results"),
        "--datasets", str(tmp_path / "datasets"), "--synth-dir", str(synth_dir),
    ]  # fmt: skip
    with served(cmd, env, tmp_path, port) as url:
        yield {"url": url, "db": db, "users": users_file, "tmp": tmp_path, "configured": recorders[0],
               "trap": recorders[1]}  # fmt: skip


def _new_page(browser, **context: object):
    return browser.new_context(**context).new_page()


def _logged_in(browser, url: str, name: str, path: str = ""):
    page = _new_page(browser)
    fill_login(page, url + path, name)
    page.get_by_role("button", name="Log out").wait_for(timeout=30_000)
    settle(page)
    return page


def _wait_text(page, text: str) -> None:
    page.get_by_text(text).first.wait_for(timeout=30_000)


def _click_and_wait(page, button: str, until: Callable[[], None]) -> None:
    settle(page)
    page.get_by_role("button", name=button).click()
    until()
    settle(page)


# --- 1. each guess claims a new client with X-Forwarded-For ----------------------------------------------


def test_attack_1_fresh_forwarded_headers_buy_no_fresh_guesses(dashboard: dict, browser) -> None:
    url = dashboard["url"]
    for i in range(3):
        page = _new_page(browser, extra_http_headers={"X-Forwarded-For": f"203.0.113.{i}"})
        fill_login(page, url, f"name{i}", "guess-guess-guess")
        _wait_text(page, "unknown user name or wrong password")
        page.context.close()
    # The fourth guess, with yet another header and bob's right password: the client (the socket peer,
    # "local") is throttled, so it is refused unchecked. Before the fix it logged in.
    page = _new_page(browser, extra_http_headers={"X-Forwarded-For": "198.51.100.9"})
    fill_login(page, url, "bob")
    _wait_text(page, "too many failed logins")
    assert page.get_by_role("button", name="Log out").count() == 0
    # "X-Forwarded-For: local" and markup name no client either: the audit holds only "local".
    page = _new_page(browser, extra_http_headers={"X-Forwarded-For": "![x](https://trap.invalid/) local"})
    fill_login(page, url, "carol", "guess-guess-guess")
    _wait_text(page, "too many failed logins")
    store = ReviewStore(dashboard["db"])
    try:
        attempts = LoginGuard(store).attempts()
    finally:
        store.close()
    assert len(attempts) == 5 and {a.client for a in attempts} == {"local"}
    assert [a.outcome for a in reversed(attempts)] == ["failed"] * 3 + ["refused"] * 2


# --- 2. an open tab outlives a logout elsewhere, a demotion --------------------------------------------


def test_attack_2_an_open_tab_ends_with_a_logout_elsewhere(dashboard: dict, browser) -> None:
    url = dashboard["url"]
    open_tab = _logged_in(browser, url, "bob")
    other = _logged_in(browser, url, "bob")
    _click_and_wait(other, "Log out", lambda: _wait_text(other, "Log in to review."))
    # The open tab's next run (any click) shows the login form instead of the page.
    _click_and_wait(open_tab, "Claim next item", lambda: _wait_text(open_tab, "Log in to review."))
    assert open_tab.get_by_role("button", name="Log out").count() == 0


def test_attack_2_a_demoted_admin_writes_nothing_from_an_open_export_page(dashboard: dict, browser) -> None:
    url = dashboard["url"]
    store = ReviewStore(dashboard["db"])
    lease = store.claim_next("bob", queue="escalation")
    assert lease is not None
    store.submit(lease, score=4, note="fine")
    store.close()
    export = _logged_in(browser, url, "alice", "/export")
    _wait_text(export, "Datasets folder (configured)")
    add_user(dashboard["users"], "alice", PASSWORDS["alice"], role="reviewer")  # the demotion
    _click_and_wait(export, "Write golden JSONL", lambda: _wait_text(export, "Log in to review."))
    assert not (dashboard["tmp"] / "datasets").exists()


# --- 3. the Export page sends the Phoenix key where an admin points it ----------------------------------


def test_attack_3_the_phoenix_key_and_labels_never_reach_the_trap(dashboard: dict, browser) -> None:
    configured, trap = dashboard["configured"], dashboard["trap"]
    store = ReviewStore(dashboard["db"])
    lease = store.claim_next("bob", queue="escalation")
    assert lease is not None
    store.submit(lease, score=5, note="a note that must not leak")
    store.close()
    page = _logged_in(browser, dashboard["url"], "alice", "/export")
    _wait_text(page, "Phoenix endpoint (configured)")
    # The attack: type the trap's address into any field of the page. There is no endpoint field any more;
    # every text box the page has gets the trap's address anyway.
    for box in page.get_by_role("textbox").all():
        box.fill(trap["url"])
        box.press("Enter")
        settle(page)
    _click_and_wait(page, "Send HUMAN annotations to Phoenix", lambda: _wait_text(page, "Sent 1 annotations"))
    assert trap["requests"] == []
    assert [r["auth"] for r in configured["requests"]] == ["Bearer phx-secret-key"]
    assert b"a note that must not leak" in configured["requests"][0]["body"]


# --- 4. admin pages take raw server paths --------------------------------------------------------------


def test_attack_4_admin_paths_stay_in_their_folders(dashboard: dict, browser) -> None:
    tmp = dashboard["tmp"]
    page = _logged_in(browser, dashboard["url"], "alice", "/synthetic")
    page.get_by_text("Queue a generated set").click()
    answers = {}
    for probe in (str(tmp / "outside.txt"), "../outside.txt", str(tmp / "no-such-file.jsonl"), "/etc/shadow"):
        box = page.get_by_role("textbox", name="Generated set")
        box.fill(probe)
        box.press("Enter")
        settle(page)
        _click_and_wait(page, "Queue for review", lambda p=probe: _wait_text(page, f"No generated set named {p!r}"))
        body = page.locator("body").inner_text()
        assert "attack-target-hash" not in body and "root:" not in body
        answers[probe] = body.count("No generated set named")
    assert set(answers.values()) == {1}  # an existing file outside and a missing one get the same answer
    # A dataset name that climbs out of the datasets folder is refused, and nothing is written anywhere.
    name_box = page.get_by_role("textbox", name="Dataset name")
    name_box.fill("../../escaped")
    name_box.press("Enter")
    settle(page)
    before = sorted(p.name for p in tmp.iterdir())
    export = page.get_by_role("button", name="Export accepted rows")
    if export.is_enabled():  # enabled only once generated rows were reviewed; either way nothing escapes
        _click_and_wait(page, "Export accepted rows", lambda: _wait_text(page, "A dataset name is letters"))
    assert sorted(p.name for p in tmp.iterdir()) == before
    assert not list(tmp.parent.glob("escaped*")) and not list(tmp.glob("escaped*"))


# --- 5. calibration is not blind -----------------------------------------------------------------------


def test_attack_5_a_reviewer_sees_no_other_reviewers_label_before_their_own(dashboard: dict, browser) -> None:
    store = ReviewStore(dashboard["db"])
    for _ in range(2):  # carol labels both calibration items, with a note naming her scores
        lease = store.claim_next("carol", queue="calibration")
        assert lease is not None
        store.submit(lease, score=5, note="carol-was-here")
    store.close()
    page = _logged_in(browser, dashboard["url"], "bob", "/calibration")
    _wait_text(page, "No scored human labels yet")  # bob has labelled nothing: he sees nothing of carol's
    body = page.locator("body").inner_text()
    assert "carol" not in body and "carol-was-here" not in body
