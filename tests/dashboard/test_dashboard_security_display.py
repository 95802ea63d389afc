"""Security, second round (issue 23), the low findings: production-log rows cut to the log's columns (14), file
text never Markdown (8), bidi controls neutralised (9), the login audit's name field and retention (11), the
session key and users file checked, revocation kept beside them (12). Each test failed before its fix."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from dashboard_helpers import PASSWORDS, FakeClock, login

from dashboard import AuthError, ConfigError, add_user, load_users
from dashboard.logins import LoginGuard, LoginPolicy, LoginThrottled
from review import ReviewStore, audit_items

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")

_TURNS = [{"index": 0, "role": "user", "content": "FORGED TURN"}, {"index": 1, "role": "assistant", "content": "x"}]


# --- 14. production-log rows are the log's columns ---------------------------------------------------------


def test_a_production_row_is_cut_to_the_log_columns_before_it_becomes_an_item() -> None:
    from tracing.production_log import LOG_COLUMNS

    row = {"prompt": "the prompt", "response": "the response", "trace_id": "t" * 32, "topic": "billing",
           "turns": _TURNS, "trajectory": [{"tool": "rm", "arguments": {}}], "kind": "conversation",
           "context": "planted context", "user_id": {"nested": "not a plain value"}}
    [item] = audit_items([row], rate=1.0)
    assert (item.input, item.output, item.context) == ("the prompt", "the response", None)
    assert set(item.meta) - {"trace_url"} <= set(LOG_COLUMNS)
    assert item.meta["topic"] == "billing" and "turns" not in item.meta and "user_id" not in item.meta


@pytest.mark.parametrize("stored", ["filled now", "filled before the cut"])
def test_an_audit_item_is_shown_as_its_prompt_and_response_not_a_conversation(
    tmp_path: Path, users_file: Path, monkeypatch: pytest.MonkeyPatch, stored: str
) -> None:
    db = tmp_path / "app.sqlite"
    row = {"prompt": "the prompt", "response": "the response", "trace_id": "t" * 32, "turns": _TURNS}
    [item] = audit_items([row], rate=1.0)
    if stored == "filled before the cut":  # as an older store holds it: the row's `turns` in the item's meta
        item = replace(item, meta={**item.meta, "turns": _TURNS})
    store = ReviewStore(db)
    store.add_items([item])
    store.close()
    monkeypatch.setenv("EVALHARNESS_REVIEW_DB", str(db))
    monkeypatch.setenv("EVALHARNESS_USERS", str(users_file))
    at = login(APP, "bob", PASSWORDS["bob"])
    at.switch_page("views/review.py").run()
    at.button(key="claim").click().run()
    assert not at.exception, at.exception
    texts = [t.value for t in at.text]
    assert "the prompt" in texts and "the response" in texts
    assert not at.chat_message and "FORGED TURN" not in texts
    assert not any("Conversation" in m.value for m in at.markdown)


# --- 8, 9. file text is never Markdown, bidi controls are neutralised --------------------------------------

# GFM's literal autolinks, as mdast-util-gfm-autolink-literal finds them in the text after parsing (escapes
# already resolved): a match in a label Streamlit renders would be a link in the reader's browser.
_GFM_URL = re.compile(r"(?i)(https?://|www(?=\.))([-.\w]+)")
_GFM_EMAIL = re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)")
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f"


def _unescaped(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


@pytest.mark.parametrize("hostile", ["see https://trap.invalid/x", "WWW.trap.invalid", "mail me@trap.invalid",
                                     "![x](http://trap.invalid/i.png)", "<img src=http://trap.invalid/>"])
def test_md_leaves_no_bare_url_for_gfm_to_link(hostile: str) -> None:
    from dashboard._ui import md

    shown = _unescaped(md(hostile))
    assert not _GFM_URL.search(shown) and not _GFM_EMAIL.search(shown)
    assert shown.replace("\u2060", "") == hostile  # the reader sees the text as written


def test_bidi_controls_are_neutralised_in_plain_and_markdown_text() -> None:
    from dashboard._ui import md, plain

    for shown in (plain(f"x{_BIDI}y"), _unescaped(md(f"x{_BIDI}y"))):
        assert not set(shown) & set(_BIDI) and "<U+202E>" in shown


def _planted_meta_eval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import json

    from judges import Completion, ModelClient, PairwiseJudge
    from judges.meta_eval import load_labelled, meta_evaluate, write_meta_eval
    from judges.providers import FakeFunctionProvider

    def reply(req):  # type: ignore[no-untyped-def]
        return Completion(text="A", provider="fake", model="fake-judge", label_probs={" A": 0.9, " B": 0.1})

    client = ModelClient(FakeFunctionProvider(reply, model="fake-judge", exact_label_probs=True), trace=False)
    rows = [{"id": f"p{i}", "prompt": f"prompt {i} \u202eRLO", "response_a": "a", "response_b": "b",
             "preferred": "A"} for i in range(4)]
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    rec = asyncio.run(meta_evaluate(PairwiseJudge("q"), client, load_labelled(str(data), "pairwise"), n_resamples=20))
    path = tmp_path / "evidence" / "planted.json"
    write_meta_eval(rec, path)
    planted = json.loads(path.read_text())
    for case in planted["cases"]:  # a planted file: Markdown and a bare URL where the labels go
        case["human"] = "![x](http://trap.invalid/h.png) https://trap.invalid/h"
        case["verdict"] = "**v** www.trap.invalid \u202e00.3"
    path.write_text(json.dumps(planted))
    monkeypatch.setenv("EVALHARNESS_JUDGE_EVIDENCE", str(path.parent))
    monkeypatch.setenv("EVALHARNESS_RESULTS", str(tmp_path / "results"))


def test_the_judges_page_renders_no_file_string_as_markdown(
    app_env: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _planted_meta_eval(tmp_path, monkeypatch)
    at = login(APP, "bob", PASSWORDS["bob"])
    at.switch_page("views/judges.py").run()
    assert not at.exception, at.exception
    labels = [e.label for e in at.expander if e.label.startswith("Case ")]
    assert len(labels) == 4
    for label in labels:
        assert "![" not in label and "**" not in label  # escaped: \!\[ and \*\*
        shown = _unescaped(label)
        assert "trap.invalid" in shown.replace("\u2060", "")
        assert not _GFM_URL.search(shown) and not set(shown) & set(_BIDI)
    texts = [t.value for t in at.text]
    assert any("<U+202E>RLO" in t for t in texts) and not any("\u202e" in t for t in texts)


# --- 11. the login audit's name field and its retention ----------------------------------------------------


def test_the_login_audit_keeps_no_typed_password_and_no_long_name(
    store: ReviewStore, clock: FakeClock, users_file: Path
) -> None:
    users = load_users(users_file)
    guard = LoginGuard(store, clock=clock)
    typed = [PASSWORDS["bob"], "Correct-Horse-Battery-9", "x" * 500, "![x](https://trap.invalid/)", "mallory", "bob"]
    for name in typed:
        with pytest.raises(AuthError):
            guard.login(users, name, "wrong password", client=None)
    names = [a.name for a in reversed(guard.attempts())]
    assert names[4:] == ["mallory", "bob"]  # a user's name, and a short plain one, as typed
    for kept in names[:4]:  # anything else is a hash: never the password, never 500 characters of text
        assert kept.startswith("#") and len(kept) <= 64
    assert len(set(names[:4])) == 4
    assert not any(PASSWORDS["bob"] in n or "Horse" in n or "trap" in n for n in names)
    # the same typed text is still one name to the throttle
    for _ in range(4):
        with pytest.raises(AuthError):
            guard.login(users, "Correct-Horse-Battery-9", "wrong", client="198.51.100.9")
    with pytest.raises(LoginThrottled):
        guard.login(users, "Correct-Horse-Battery-9", "wrong", client="198.51.100.10")


def test_the_login_audit_is_pruned_by_its_retention(store: ReviewStore, clock: FakeClock, users_file: Path) -> None:
    users = load_users(users_file)
    policy = LoginPolicy(audit_days=1, audit_max_rows=10, window_s=600, max_failures=1000, client_max_failures=1000)
    guard = LoginGuard(store, policy, clock=clock)
    guard.logout("alice", client=None)
    for i in range(30):  # an unauthenticated visitor's attempts, one a minute
        with pytest.raises(AuthError):
            guard.login(users, f"visitor{i}", "guess", client=None)
        clock.advance(60)
    rows = guard.attempts(limit=1000)
    # the newest 10 rows, plus what the throttle still counts (the last 10 minutes) and the logout
    assert len(rows) <= 12 and rows[0].ts == clock.now - 60  # the newest kept
    assert guard.last_logout("alice") is not None
    clock.advance(2 * 86400)
    with pytest.raises(AuthError):
        guard.login(users, "late", "guess", client=None)
    assert [a.name for a in guard.attempts(limit=1000)] == ["late", "alice"]
    assert LoginPolicy.from_env({"EVALHARNESS_LOGIN_AUDIT_DAYS": "7", "EVALHARNESS_LOGIN_AUDIT_MAX_ROWS": "50"}) \
        == LoginPolicy(audit_days=7, audit_max_rows=50)


# --- 12. the session key and users file checked, revocation kept beside them -------------------------------


def test_a_logout_holds_against_a_new_store_that_shares_the_users_file(
    tmp_path: Path, users_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from dashboard.sessions import issue_token, load_secret, logout_record, record_logout, verify_token

    monkeypatch.delenv("EVALHARNESS_SESSION_SECRET", raising=False)
    users, secret = load_users(users_file), load_secret(users_file)
    token = issue_token(users["bob"], secret, now=time.time() - 10, ttl_s=3600)
    record_logout(users_file, "bob", now=time.time())  # what the page's logout does, whichever store it used
    fresh = ReviewStore(tmp_path / "another.sqlite")  # a new store knows no logout
    assert LoginGuard(fresh).last_logout("bob") is None
    fresh.close()
    assert verify_token(token, users, secret, now=time.time(), last_logout=logout_record(users_file)) is None
    assert stat.S_IMODE((users_file.parent / "session.logouts").stat().st_mode) == 0o600


@pytest.mark.parametrize("which", ["users.toml", "session.key", "session.logouts"])
@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_group_or_world_access_to_a_secret_file_is_refused_with_the_fix(
    users_file: Path, monkeypatch: pytest.MonkeyPatch, which: str, mode: int
) -> None:
    from dashboard.sessions import record_logout

    record_logout(users_file, "bob", now=1.0)
    path = users_file.parent / which
    os.chmod(path, mode)
    monkeypatch.setenv("EVALHARNESS_USERS", str(users_file))
    monkeypatch.setenv("EVALHARNESS_REVIEW_DB", str(users_file.parent / "r.sqlite"))
    monkeypatch.delenv("EVALHARNESS_SESSION_SECRET", raising=False)
    from dashboard_helpers import app_test

    at = app_test(APP).run()
    assert [e.value for e in at.error] and f"chmod 600 {path}" in at.error[0].value.replace("\\", "")
    assert not [b for b in at.button if b.key == "login_submit"]


def test_a_secret_file_owned_by_another_user_is_refused(users_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.auth import check_private

    monkeypatch.setattr(os, "geteuid", lambda: os.stat(users_file).st_uid + 1)
    with pytest.raises(ConfigError, match="belongs to another user"):
        check_private(users_file)


def test_a_missing_key_is_an_error_not_remade(users_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard.sessions import load_secret

    monkeypatch.delenv("EVALHARNESS_SESSION_SECRET", raising=False)
    key = users_file.parent / "session.key"
    assert key.exists()  # made by add-user, the documented init
    key.unlink()
    with pytest.raises(ConfigError, match="missing"):
        load_secret(users_file)
    assert not key.exists()
    monkeypatch.setenv("EVALHARNESS_USERS", str(users_file))
    monkeypatch.setenv("EVALHARNESS_REVIEW_DB", str(users_file.parent / "r.sqlite"))
    from dashboard_helpers import app_test

    at = app_test(APP).run()
    assert at.error and "missing" in at.error[0].value and not key.exists()
    add_user(users_file, "dave", "a-long-passphrase-7", role="reviewer")
    assert key.exists() and len(load_secret(users_file)) == 64


@pytest.mark.parametrize("secret", ["x" * 16, "ab" * 20, "short-secret", "0123456789abcdef"])
def test_a_weak_session_secret_is_refused(
    users_file: Path, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    from dashboard.sessions import load_secret

    monkeypatch.setenv("EVALHARNESS_SESSION_SECRET", secret)
    with pytest.raises(ConfigError, match="too short|too few"):
        load_secret(users_file)
    monkeypatch.delenv("EVALHARNESS_SESSION_SECRET")
    (users_file.parent / "session.key").write_bytes(secret.encode())
    with pytest.raises(ConfigError, match="too short|too few"):
        load_secret(users_file)
