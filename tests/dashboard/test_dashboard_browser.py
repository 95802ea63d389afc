"""End to end in a real headless Chromium: two reviewers, no item shown to both, labels in the store.

Streamlit is started with ``streamlit run`` on a free loopback port and polled at ``/_stcore/health``;
Playwright drives Debian's ``/usr/bin/chromium`` (never ``playwright install``).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_helpers import PASSWORDS, run_pair, sample_items

from dashboard import ReviewStore
from experiments.baseline import compare
from experiments.record import write_run

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path, users_file: Path) -> Iterator[dict]:
    db = tmp_path / "e2e.sqlite"
    store = ReviewStore(db)
    store.add_items(sample_items(6))
    store.close()
    port = _free_port()
    results = tmp_path / "results"  # empty unless a test writes run files (the Runs page reads it per run)
    env = {
        **os.environ,
        "EVALHARNESS_REVIEW_DB": str(db),
        "EVALHARNESS_USERS": str(users_file),
        "EVALHARNESS_RESULTS": str(results),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(APP),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.address",
            "127.0.0.1",
            "--server.port",
            str(port),
            "--server.fileWatcherType",
            "none",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                    if resp.read() == b"ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.poll() is not None and proc.stdout else ""
                pytest.fail(f"streamlit did not become healthy on {url}: {out}")
            time.sleep(0.2)
        yield {"url": url, "db": db, "results": results}
    finally:
        # Stop exactly the server this fixture started (its own session), by PID.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        if proc.stdout:
            proc.stdout.close()


@pytest.fixture
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def _login(page, url: str, name: str) -> None:
    page.goto(url)
    page.get_by_role("textbox", name="User name").fill(name)
    page.get_by_role("textbox", name="Password").fill(PASSWORDS[name])
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Review").wait_for(timeout=30_000)


ITEM_HEADING = re.compile(r"Item (\d+) ·")


def _current_item(page) -> int:
    heading = page.get_by_role("heading", name=ITEM_HEADING)
    heading.wait_for(timeout=30_000)
    match = ITEM_HEADING.search(heading.inner_text())
    assert match, heading.inner_text()
    return int(match.group(1))


_SETTLED = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app && app.getAttribute('data-test-script-state') === 'notRunning'
        && !document.querySelector('[data-stale="true"]');
}"""


def _settle(page) -> None:
    """Wait until the script run is over and no stale element is left (shortcuts bind after that)."""
    page.wait_for_function(_SETTLED, timeout=30_000)
    page.wait_for_timeout(300)


def _press_and_wait(page, key: str, item: int) -> None:
    """Press a shortcut key and wait for the flash that says ``item`` was saved."""
    saved = page.get_by_text(f"Saved item {item}.")
    _settle(page)
    page.keyboard.press(key)
    saved.wait_for(timeout=30_000)


def _next_item(page) -> int | None:
    """After a submit: the next item's id, or None when the queue ran dry."""
    _settle(page)
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
        body = page.locator("body").inner_text()
        assert "Claim next item" not in body and "question 0" not in body and "Queues" not in body
        assert page.get_by_role("button", name="Log in").count() == 1
    assert page.get_by_test_id("stSidebarNav").count() == 0


def test_claim_survives_reload(server: dict, browser) -> None:
    page = browser.new_context().new_page()
    _login(page, server["url"], "bob")
    page.get_by_role("button", name=re.compile("Claim next item")).click()
    before = _current_item(page)
    page.reload()
    _login(page, server["url"], "bob")
    assert _current_item(page) == before


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
    _settle(page)
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
