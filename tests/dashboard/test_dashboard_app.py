"""The Streamlit app through AppTest: login gate, review flow, refresh, admin pages, calibration, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dashboard_helpers import PASSWORDS, app_test, login
from streamlit.testing.v1 import AppTest

from review import ReviewStore

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def _app() -> AppTest:
    return app_test(APP)


def _login(name: str, password: str | None = None) -> AppTest:
    return login(APP, name, password if password is not None else PASSWORDS[name])


def _all_text(at: AppTest) -> str:
    parts = [
        e.value for kind in ("title", "subheader", "markdown", "text", "caption") for e in getattr(at, kind)
    ]
    return "\n".join(str(p) for p in parts)


def test_nothing_but_login_before_login(app_env: dict[str, Path]) -> None:
    at = _app().run()
    assert [t.value for t in at.title] == ["Human review"]
    assert [b.key for b in at.button] == ["login_submit"]
    assert "answer 0" not in _all_text(at)
    # The other pages' scripts are not even registered before login: every URL is the login page.
    for page in ("views/review.py", "views/queues.py"):
        with pytest.raises(ValueError, match=r"Known pages: \[('[^']*views/login.py'(, )?)+\]"):
            at.switch_page(page)


def test_wrong_password_is_refused(app_env: dict[str, Path]) -> None:
    at = _login("bob", "wrong")
    assert [e.value for e in at.error] == ["unknown user name or wrong password"]
    assert [t.value for t in at.title] == ["Human review"]


def test_review_claim_submit_and_audit(app_env: dict[str, Path]) -> None:
    at = _login("bob")
    assert [t.value for t in at.title] == ["Review"]
    at.selectbox(key="queue_choice").select("escalation").run()
    at.button(key="claim").click().run()
    assert not at.exception
    heading = at.subheader[0].value
    assert heading.startswith("Item ") and "escalation" in heading
    text = _all_text(at)
    assert "question" in text and "answer" in text and "judge-a" in text
    assert at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")  # the judge's probability bars
    score_radio = next(r for r in at.radio if r.key.startswith("score_"))
    score_radio.set_value(4)
    next(t for t in at.text_area if t.key.startswith("note_")).input("good answer")
    at.button(key="submit").click().run()
    assert at.success[0].value.startswith("Saved item")
    store = ReviewStore(app_env["db"])
    [label] = store.labels()
    assert (label.reviewer, label.score, label.note) == ("bob", 4.0, "good answer")
    assert store.audit_log()[0].action == "label"
    # The next item was claimed automatically.
    assert store.active_lease("bob") is not None and store.active_lease("bob").item_id != label.item_id
    store.close()


def test_quick_label_skip_and_flag(app_env: dict[str, Path]) -> None:
    at = _login("carol")
    at.selectbox(key="queue_choice").select("escalation").run()
    at.button(key="claim").click().run()
    at.button(key="quick_2").click().run()  # the "2" shortcut button submits score 2
    at.button(key="skip").click().run()
    at.button(key="flag").click().run()  # without a note: refused with the reason
    assert any("needs a note" in e.value for e in at.error)
    next(t for t in at.text_area if t.key.startswith("note_")).input("prompt injection attempt")
    at.button(key="flag").click().run()
    store = ReviewStore(app_env["db"])
    kinds = sorted((r.kind, r.score) for r in store.labels())
    assert kinds == [("flag", None), ("label", 2.0)]
    assert [e.action for e in store.audit_log()][::-1] == ["label", "skip", "flag"]
    store.close()


def test_claim_survives_a_refresh(app_env: dict[str, Path]) -> None:
    first = _login("bob")
    first.button(key="claim").click().run()
    heading = first.subheader[0].value
    # A refresh is a new session: log in again and the same item is back, without claiming.
    again = _login("bob")
    assert again.subheader[0].value == heading
    assert "claim" not in [b.key for b in again.button]


def test_queues_page_is_admin_only_and_releases(app_env: dict[str, Path]) -> None:
    bob = _login("bob")
    bob.button(key="claim").click().run()
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        bob.switch_page("views/queues.py")  # not registered for reviewers

    alice = _login("alice")
    alice.switch_page("views/queues.py").run()
    assert not alice.exception
    table = alice.dataframe[0].value  # queue sizes
    assert list(table["queue"]) == ["calibration", "escalation"]
    assert list(table["items"]) == [2, 4]
    holders = alice.dataframe[1].value  # claims held
    assert list(holders["reviewer"]) == ["bob"]
    alice.selectbox(key="release_who").select("bob").run()
    alice.button(key="release_reviewer").click().run()
    assert any("Released 1 claims of bob" in s.value for s in alice.success)
    store = ReviewStore(app_env["db"])
    assert store.holders() == []
    store.close()


def test_calibration_page_shows_agreement(app_env: dict[str, Path]) -> None:
    store = ReviewStore(app_env["db"])
    # Two reviewers label both calibration items; the judge said 1 and 2 (sample_items: 1 + i % 5).
    for who, scores in (("bob", [1, 3]), ("carol", [2, 3])):
        for _ in scores:
            lease = store.claim_next(who, queue="calibration")
            assert lease is not None
            item = store.get_item(lease.item_id)
            store.submit(lease, score=scores[0] if item.source_id == "case-100" else scores[1])
    store.close()
    at = _login("bob")
    at.switch_page("views/calibration.py").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Items with judge and human scores"] == "2"
    assert metrics["Items with 2+ reviewers"] == "2"
    assert metrics["Quadratic-weighted κ"] not in ("", None)
    [chart] = at.get("vega_lite_chart")  # st.altair_chart
    assert json.loads(chart.proto.spec)["title"] == "Confusion matrix"
    # Disagreements: case-100 (reviewers 1 vs 2) and case-101 (reviewers 3, judge 2), both gap 1.
    assert len([e for e in at.expander if e.label.startswith("Item ")]) == 2


def test_export_page_writes_files(app_env: dict[str, Path]) -> None:
    store = ReviewStore(app_env["db"])
    lease = store.claim_next("bob", queue="escalation")
    assert lease is not None
    store.submit(lease, score=5, note="exactly right")
    store.close()
    at = _login("alice")
    at.switch_page("views/export.py").run()
    at.button(key="export_golden").click().run()
    at.button(key="export_fewshot").click().run()
    assert not at.exception
    golden = app_env["datasets"] / "human" / "rag" / "helpfulness.jsonl"  # sample items have a context
    fewshot = app_env["datasets"] / "fewshot" / "helpfulness.jsonl"
    assert json.loads(golden.read_text())["human_score"] == 5
    assert json.loads(fewshot.read_text()) == {
        "input": "question 0",
        "output": "answer 0",
        "score": 5,
        "reasoning": "exactly right",
    }
    assert not at.button(key="export_phoenix").disabled  # the labelled item came from a span


@pytest.mark.parametrize("page", ["views/queues.py", "views/export.py"])
def test_reviewer_cannot_open_admin_pages_directly(app_env: dict[str, Path], page: str) -> None:
    import time

    from dashboard.auth import load_users
    from dashboard.sessions import grant_for

    # Defence in depth: a page script run on its own checks the role too.
    at = AppTest.from_file(str(Path(APP).parent / page), default_timeout=30)
    bob = load_users(app_env["users"])["bob"]
    at.session_state["dashboard_user"] = bob
    at.session_state["dashboard_grant"] = grant_for(bob, now=time.time(), ttl_s=3600)
    at.run()
    assert [e.value for e in at.error] == ["This page is for admins."]


def test_pairwise_item_answered_with_a_letter(app_env: dict[str, Path]) -> None:
    from review import JudgeView, NewItem

    store = ReviewStore(app_env["db"])
    store.add_items(
        [
            NewItem(
                queue="audit",
                source_id="pw-1",
                input="Explain a hash table.",
                output="A: ...\n\nB: ...",
                criterion="preference",
                categories=("A", "B", "tie"),
                judge_score=0.5,
                judges=(JudgeView("judge", 0.5, {"A": 0.5, "B": 0.5}),),
                meta={"kind": "pairwise"},
            )
        ]
    )
    at = _login("bob")
    at.selectbox(key="queue_choice").select("audit").run()
    at.button(key="claim").click().run()
    assert "A = A" in _all_text(at) and "T = tie" in _all_text(at)
    at.button(key="quickcat_tie").click().run()
    [label] = store.labels()
    assert (label.category, label.score) == ("tie", 0.5)
    store.close()


def _oidc_app(email: str) -> AppTest:
    at = _app()
    at.secrets["auth"] = {
        "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
        "cookie_secret": "test-cookie-secret",
        "client_id": "dashboard",
        "client_secret": "not-a-real-secret",
        "server_metadata_url": "https://idp.invalid/.well-known/openid-configuration",
    }
    at.user = {"is_logged_in": True, "email": email}
    return at.run()


def test_oidc_identity_maps_to_a_configured_user(app_env: dict[str, Path]) -> None:
    from dashboard import add_user

    add_user(app_env["users"], "dora", "unused-pw", role="admin", email="dora@example.org")
    at = _oidc_app("dora@example.org")
    assert not at.exception
    assert [t.value for t in at.title] == ["Review"]
    assert "Logged in as **dora** (admin)" in [c.value for c in at.sidebar.caption]


def test_oidc_identity_without_a_user_gets_no_access(app_env: dict[str, Path]) -> None:
    at = _oidc_app("stranger@example.org")
    assert [t.value for t in at.title] == ["Human review"]
    assert any(r"stranger@example\.org is not a dashboard user" in w.value.replace("\u2060", "") for w in at.warning)
    assert "claim" not in [b.key for b in at.button]


def test_login_throttle_on_the_page_and_failures_listed_for_admins(
    app_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVALHARNESS_LOGIN_MODE", "lock")
    monkeypatch.setenv("EVALHARNESS_LOGIN_MAX_FAILURES", "2")
    for _ in range(2):
        at = _login("bob", "wrong")
        assert [e.value for e in at.error] == ["unknown user name or wrong password"]
    at = _login("bob")  # the right password, but the name is locked
    assert "too many failed logins" in at.error[0].value
    assert [t.value for t in at.title] == ["Human review"]
    alice = _login("alice")
    alice.switch_page("views/queues.py").run()
    assert not alice.exception
    [failures] = [d.value for d in alice.dataframe if "outcome" in d.value.columns]
    assert list(failures["outcome"]) == ["refused", "failed", "failed"]
    assert set(failures["name"]) == {"bob"}


def test_calibration_ci_never_shows_negative_zero_and_the_heat_map_has_one_tick_per_label(
    app_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from review import agreement

    real = agreement.criterion_agreement

    def tiny_negative_ci(*args: object, **kwargs: object) -> agreement.CriterionAgreement:
        from dataclasses import replace

        return replace(real(*args, **kwargs), kappa_ci=(-0.0001, 0.4))  # type: ignore[arg-type]

    monkeypatch.setattr(agreement, "criterion_agreement", tiny_negative_ci)
    store = ReviewStore(app_env["db"])
    for who in ("bob", "carol"):
        for score in (1, 3):
            lease = store.claim_next(who, queue="calibration")
            assert lease is not None
            store.submit(lease, score=score)
    store.close()
    at = _login("bob")
    at.switch_page("views/calibration.py").run()
    assert not at.exception
    assert "95% CI 0.000 … 0.400" in [c.value for c in at.caption]
    [chart] = at.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    # Category axes: ordinal, every label listed in score order (one tick each), on every layer drawn
    encodings = [layer["encoding"] for layer in spec.get("layer", [spec])]
    assert len(encodings) == 2  # the cells and the counts written in them
    for encoding in encodings:
        for axis in ("x", "y"):
            assert encoding[axis]["type"] in ("nominal", "ordinal")
            assert encoding[axis]["sort"] == ["1", "2", "3"]  # humans and the judge scored 1 to 3


def test_export_page_defaults_to_the_running_phoenix(app_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("PHOENIX_COLLECTOR_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT",
                "EVALHARNESS_PHOENIX_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("tracing.phoenix_server.running_url", lambda workdir=None: "http://127.0.0.1:7123")
    at = _login("alice")
    at.switch_page("views/export.py").run()
    assert "Phoenix endpoint (configured): http://127.0.0.1:7123" in [c.value.replace("\\", "").replace("\u2060", "") for c in at.caption]
    monkeypatch.setenv("PHOENIX_COLLECTOR_ENDPOINT", "http://127.0.0.1:7999/v1/traces")  # as tracing.setup() reads
    at = _login("alice")
    at.switch_page("views/export.py").run()
    assert "Phoenix endpoint (configured): http://127.0.0.1:7999" in [c.value.replace("\\", "").replace("\u2060", "") for c in at.caption]
