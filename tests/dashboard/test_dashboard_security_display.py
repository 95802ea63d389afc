"""Security, second round (issue 23), the low findings: production-log rows cut to the log's columns (14), file
text never Markdown (8), bidi controls neutralised (9), the login audit's name field and retention (11), the
session key and users file checked, revocation kept beside them (12). Each test failed before its fix."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from dashboard_helpers import PASSWORDS, login

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
