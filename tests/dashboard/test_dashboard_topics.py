"""The Topics page: a report written by the monitor's own code, read and shown; a missing or broken file named
with the command that writes it; a topic's failing traces queued for review once, by admins only; and the same
in a real browser."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dashboard_helpers import PASSWORDS, fill_login, free_port, sample_items, served, settle
from streamlit.testing.v1 import AppTest

from monitor.config import EvaluatorConfig
from monitor.sources import TraceRow
from monitor.topic_report import TopicRow, topics_report, write_topics
from monitor.topics import Candidate, Topic, TopicModel, TopicParams
from review import ReviewStore
from review.models import Item

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
BILLING = "billing / invoice / refund"
LOGIN = "password / login / reset"
COMMAND = "python -m monitor topics report"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# The billing topic's traces judged below the pass mark: trace id, span id, failed by. The third has no trace id
# (a log without tracing): the monitor keys it by a hash of the row, "row-...".
FAILING = {
    "b0": ("a" * 32, "s-b0", ["helpfulness", "correctness"]),
    "b1": ("b" * 32, "s-b1", ["helpfulness"]),
    "row-5f0c9e": ("row-5f0c9e", None, ["helpfulness"]),
}


def _row(key: str, trace: str, span: str | None, day: int, prompt: str, response: str) -> TraceRow:
    when = T0 + timedelta(days=day, minutes=len(key))
    return TraceRow(key, trace, span, when, prompt, response, {"latency_ms": 400.0 + day, "error": None})


EVALUATORS = [EvaluatorConfig(name=name, rubric="5: right ... 1: wrong", sample_rate=1.0, scale=(1, 5))
              for name in ("helpfulness", "correctness")]


def write_report(folder: Path) -> Path:
    """A topics report over ten calls, made by ``monitor.topic_report`` itself (the format the page reads)."""
    model = TopicModel(
        topics=(
            Topic(0, BILLING, ("billing", "invoice", "refund"), (1.0, 0.0), 0.5, 40, 0.4, ("Where is my invoice?",)),
            Topic(1, LOGIN, ("password", "login", "reset"), (0.0, 1.0), 0.5, 40, 0.4, ("I cannot log in",)),
        ),
        params=TopicParams(),
        version=3,
        n_fit=100,
        outlier_share=0.2,
        next_id=2,
    )
    billing = [
        _row("b0", "a" * 32, "s-b0", 0, "Why was I billed twice?", "Refunds take 5 days."),
        _row("b1", "b" * 32, "s-b1", 1, "Send me last month's invoice", "I like turtles."),
        _row("row-5f0c9e", "row-5f0c9e", None, 1, "Refund my order \u202eplease", "No."),
        _row("b3", "d" * 32, "s-b3", 2, "Can I pay by card?", "Yes, every major card."),
        _row("b4", "e" * 32, "s-b4", 2, "Change my billing address", "Settings > Billing."),
        _row("b5", "f" * 32, "s-b5", 2, "Is VAT included?", "Yes."),
    ]
    login = [_row(f"l{i}", f"{i:032x}", f"s-l{i}", 0, f"I forgot my password ({i})", "Use the reset link.")
             for i in range(3)]
    outlier = [_row("o0", "9" * 32, "s-o0", 1, "Tell me a joke about crypto wallets", "No.")]
    rows = billing + login + outlier
    assigned = np.array([0] * len(billing) + [1] * len(login) + [-1] * len(outlier))
    scores = pd.DataFrame(
        [{"key": r.key, "evaluator": ev, "score": 1.0 if ev in FAILING.get(r.key, ("", "", []))[2] else 5.0,
          "failure": None} for r in rows for ev in ("helpfulness", "correctness")]
    )
    candidate = Candidate(1, 0.1, ("crypto", "wallet", "joke"), ("Tell me a joke about crypto wallets",), (9,))
    report = topics_report(model, rows, assigned, start=T0.isoformat(), end=(T0 + timedelta(days=3)).isoformat(),
                           scores=scores, pass_at={"helpfulness": 3.0, "correctness": 3.0},
                           candidates=[candidate], evaluators=EVALUATORS)
    return write_topics(report, folder)["json"]


@pytest.fixture
def report(app_env: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "reports" / "topics"
    path = write_report(folder)
    monkeypatch.setenv("EVALHARNESS_TOPICS_REPORT", str(folder))  # the folder: the page reads its topics.json
    return path


def _topics_page(name: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(PASSWORDS[name])
    at.button(key="login_submit").click().run()
    at.switch_page("views/topics.py").run()
    assert not at.exception, at.exception
    return at


def _items(db: Path) -> list[Item]:
    store = ReviewStore(db)
    try:
        return [store.get_item(i) for i in range(1, store.count_items() + 1)]
    finally:
        store.close()


def _frame(at: AppTest, column: str) -> pd.DataFrame | None:
    """The table with ``column`` (AppTest's dataframes carry no key): the topics, or the failing traces."""
    return next((d.value for d in at.dataframe if column in d.value.columns), None)


def _texts(at: AppTest) -> str:
    return "\n".join(t.value for t in at.text)


def test_the_report_format_is_the_one_the_page_reads(report: Path) -> None:
    # TopicsReport.to_dict's row is TopicRow's fields less the trace keys, plus the disagreement: if the monitor
    # adds or renames a field this fails here, beside the page that reads it.
    data = json.loads(report.read_text())
    expected = {f.name for f in fields(TopicRow)} - {"keys"} | {"disagreement"}
    assert all(set(t) == expected for t in data["topics"])
    assert {"start", "end", "model_version", "n", "topics", "candidates", "worst", "changed",
            "outlier_share"} <= set(data)
    billing = next(t for t in data["topics"] if t["id"] == 0)
    assert {f["key"] for f in billing["failing"]} == set(FAILING)


def test_page_shows_the_topics_of_a_report(report: Path) -> None:
    at = _topics_page("bob")
    assert [t.value for t in at.title] == ["Topics"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Inputs"] == "10"
    assert metrics["Topics"] == "2"
    assert metrics["Outliers"] == "10.0%"
    assert metrics["Candidate new topics"] == "1"

    table = _frame(at, "keywords")
    assert table is not None
    assert list(table["topic"]) == [BILLING, LOGIN, "outliers"]  # largest first, the outliers last
    billing = table.iloc[0]
    assert billing["n"] == 6 and billing["share"] == pytest.approx(0.6)
    assert billing["reference"] == pytest.approx(0.4)
    assert billing["Δ (pts)"] == pytest.approx(20.0)
    assert billing["keywords"] == "billing, invoice, refund"
    # per evaluator: the mean with its CI, the fail rate with its Wilson CI (3 of 6 failed helpfulness)
    assert billing["helpfulness mean"].startswith("3.00 [")
    assert billing["helpfulness fail"].startswith("50% [")
    assert billing["correctness fail"].startswith("17% [")
    assert table.iloc[1]["helpfulness fail"].startswith("0% [")
    assert billing["latency p50 ms"] == pytest.approx(401.5)
    charts = [json.loads(c.proto.spec)["encoding"] for c in at.get("vega_lite_chart")]  # st.altair_chart
    assert [(c["y"]["field"], c["x"]["field"]) for c in charts] == [("topic", "share"), ("inputs", "day")], (
        "the share chart and the daily trend are drawn")

    # the worst topic is picked first: its examples, failing traces and daily counts
    assert at.selectbox(key="topics_pick").value == 0
    failing = _frame(at, "failed by")
    assert failing is not None
    assert len(failing) == 3
    assert set(failing["failed by"]) == {"correctness, helpfulness", "helpfulness"}
    assert "Refund my order <U+202E>please" in set(failing["prompt"])  # a bidi control shown, not obeyed
    texts = _texts(at)
    assert "Why was I billed twice?" in texts
    assert "crypto / wallet / joke: 1 inputs (10.0% of the window)" in texts  # the candidate, named by keywords
    assert "e.g. Tell me a joke about crypto wallets" in texts

    at.selectbox(key="topics_pick").set_value(1).run()
    assert not at.exception
    assert "I forgot my password (0)" in _texts(at)
    assert _frame(at, "failed by") is None


def test_a_missing_report_names_the_path_and_the_command(app_env: dict[str, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere" / "topics.json"
    monkeypatch.setenv("EVALHARNESS_TOPICS_REPORT", str(missing))
    at = _topics_page("bob")
    assert not at.exception
    [warning] = at.warning
    assert warning.value.replace("\\", "") == f"No topics report at {missing}."  # _ui.md's escapes removed
    assert any(COMMAND in c.value for c in at.code)
    assert not at.dataframe


@pytest.mark.parametrize("content, why", [
    ("{not json", "is not valid JSON (line 1, column 2)"),
    (json.dumps({"topics": [{"id": 0, "name": "x"}], "n": 1}), "is not a topics report: topics[0] has no 'status'"),
    (json.dumps(["secret-token-123"]), "is not a topics report: the file is not a JSON object"),
])
def test_a_broken_report_is_named_without_its_content(app_env: dict[str, Path], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch, content: str, why: str) -> None:
    path = tmp_path / "topics.json"
    path.write_text(content)
    monkeypatch.setenv("EVALHARNESS_TOPICS_REPORT", str(path))
    at = _topics_page("bob")
    assert not at.exception
    [warning] = at.warning
    shown = warning.value.replace("\\", "")  # _ui.md's escapes
    assert why in shown and "topics.json" in shown
    assert "secret-token" not in shown
    assert any(COMMAND in c.value for c in at.code)


def test_admin_sends_a_topics_failing_traces_once(report: Path, app_env: dict[str, Path]) -> None:
    before = _items(app_env["db"])
    at = _topics_page("alice")
    send = at.button(key="topics_send")
    assert send.label == "Send 3 failing traces to the review queue"
    send.click().run()
    assert not at.exception
    assert "Queued 3 failing traces of topic 0" in at.success[0].value

    added = [it for it in _items(app_env["db"]) if it.id > len(before)]
    assert {it.source_id for it in added} == {f"prod:{'a' * 32}", f"prod:{'b' * 32}", "prod:row-5f0c9e"}
    by_source = {it.source_id: it for it in added}
    first = by_source[f"prod:{'a' * 32}"]
    # judged on the criterion of the evaluator that scored it lowest, with that score as the judge's, so the label
    # counts in that evaluator's judge-human agreement
    assert (first.queue, first.criterion, first.scale) == ("escalation", "correctness", (1.0, 5.0))
    assert first.judge_score == 1.0 and first.meta["evaluator"] == "correctness"
    assert (first.input, first.output) == ("Why was I billed twice?", "Refunds take 5 days.")
    assert (first.trace_id, first.span_id) == ("a" * 32, "s-b0")
    assert first.meta["topic_id"] == 0 and first.meta["topic_name"] == BILLING
    assert first.meta["failed_by"] == ["correctness", "helpfulness"]  # in the report's order
    assert first.meta["trace_url"].endswith(f"/redirects/traces/{'a' * 32}")
    assert first.reason.startswith(f"topic {BILLING} (#0): failed by correctness, helpfulness")
    assert first.priority == 2.0  # failed by two evaluators: claimed first
    untraced = by_source["prod:row-5f0c9e"]
    assert untraced.trace_id is None and untraced.span_id is None and untraced.meta["trace_url"] is None

    at.button(key="topics_send").click().run()  # again, and from a fresh session
    assert "Queued 0 failing traces" in at.success[0].value and "3 were already queued" in at.success[0].value
    _topics_page("alice").button(key="topics_send").click().run()
    assert len(_items(app_env["db"])) == len(before) + 3


def test_a_reviewer_cannot_send(report: Path, app_env: dict[str, Path]) -> None:
    before = len(_items(app_env["db"]))
    at = _topics_page("bob")
    failing = _frame(at, "failed by")
    assert failing is not None and len(failing) == 3  # bob sees the traces
    assert not [b for b in at.button if b.key == "topics_send"]
    assert any("An admin can send" in c.value for c in at.caption)
    assert len(_items(app_env["db"])) == before


# ---------------------------------------------------------------- in a real browser


@pytest.fixture
def topics_server(tmp_path: Path, users_file: Path) -> Iterator[dict]:
    db = tmp_path / "e2e.sqlite"
    store = ReviewStore(db)
    store.add_items(sample_items(2))
    store.close()
    report = write_report(tmp_path / "reports" / "topics")
    port = free_port()
    env = {**os.environ, "EVALHARNESS_REVIEW_DB": str(db), "EVALHARNESS_USERS": str(users_file),
           "EVALHARNESS_TOPICS_REPORT": str(report)}
    cmd = [
        sys.executable, "-m", "streamlit", "run", APP, "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.address", "127.0.0.1", "--server.port", str(port),
        "--server.fileWatcherType", "none",
    ]  # fmt: skip
    with served(cmd, env, tmp_path, port) as url:
        yield {"url": url, "db": db}


@pytest.mark.slow
def test_admin_sends_failing_traces_from_the_topics_page_in_a_browser(topics_server: dict, browser) -> None:
    page = browser.new_context().new_page()
    fill_login(page, topics_server["url"], "alice")
    page.get_by_role("heading", name="Review").wait_for(timeout=30_000)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Topics").click()
    page.get_by_role("heading", name="Topics", exact=True).wait_for(timeout=30_000)
    page.get_by_text(f"{BILLING} (#0): 6 inputs", exact=False).wait_for(timeout=30_000)
    settle(page)
    page.get_by_role("button", name="Send 3 failing traces to the review queue").click()
    page.get_by_text("Queued 3 failing traces of topic 0").wait_for(timeout=30_000)
    items = _items(topics_server["db"])
    assert sorted(it.source_id for it in items if it.source_id.startswith("prod:")) == sorted(
        [f"prod:{'a' * 32}", f"prod:{'b' * 32}", "prod:row-5f0c9e"])
    assert all(it.queue == "escalation" for it in items)
