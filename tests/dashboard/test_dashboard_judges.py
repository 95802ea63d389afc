"""The Judges page through AppTest: meta-evaluations listed, qualification shown, model text kept plain."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from dashboard_helpers import PASSWORDS
from streamlit.testing.v1 import AppTest

from judges import Completion, ModelClient, PairwiseJudge
from judges.meta_eval import load_labelled, meta_evaluate, write_meta_eval
from judges.providers import FakeFunctionProvider

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")
TRAP = "**bold** ![leak](http://example.invalid/x.png)"


def _client() -> ModelClient:
    def reply(req):
        body = req.messages[-2].content.rsplit("Instruction:", 1)[-1]
        good_first = "GOOD" in body and body.index("GOOD") < body.index("BAD")
        p = 0.9 if good_first else 0.8
        return Completion(text="A", provider="fake", model="fake-judge", label_probs={" A": p, " B": 1 - p})

    return ModelClient(FakeFunctionProvider(reply, model="fake-judge", exact_label_probs=True), trace=False)


@pytest.fixture
def evidence(app_env: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    rows = [{"id": f"p{i}", "prompt": f"{TRAP} {i}", "response_a": "GOOD" if i % 2 else "BAD",
             "response_b": "BAD" if i % 2 else "GOOD", "preferred": "A" if i % 2 else "B"} for i in range(60)]
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    rec = asyncio.run(meta_evaluate(PairwiseJudge("q"), _client(), load_labelled(str(data), "pairwise"),
                                    n_resamples=50))
    folder = tmp_path / "evidence"
    write_meta_eval(rec, folder / "pairwise-q.json")
    monkeypatch.setenv("EVALHARNESS_JUDGE_EVIDENCE", str(folder))
    monkeypatch.setenv("EVALHARNESS_RESULTS", str(tmp_path / "results"))
    return folder


def _judges_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_name").input("bob")
    at.text_input(key="login_password").input(PASSWORDS["bob"])
    at.button(key="login_submit").click().run()
    at.switch_page("views/judges.py").run()
    assert not at.exception, at.exception
    return at


def test_the_page_shows_the_meta_evaluation_and_whether_the_judge_may_gate(evidence: Path) -> None:
    at = _judges_page()
    assert [t.value for t in at.title] == ["Judges"]
    overview = at.dataframe[0].value  # the overview of every file
    assert list(overview["judge"]) == ["pairwise:q"] and list(overview["may gate"]) == ["yes"]
    assert at.success[0].value.startswith("Qualified to gate")
    variants = at.dataframe[1].value
    assert {"per_order", "mean_prob", "configured"} <= set(variants["variant"])
    assert list(variants.loc[variants["variant"] == "per_order", "accuracy"]) == ["0% [0, 0]"]
    texts = [t.value for t in at.text]
    assert any("fake-judge" in t for t in texts)
    assert any(TRAP in t for t in texts)  # the dataset's text, verbatim as plain text
    markdown = [m.value for m in (*at.markdown, *at.caption, *at.title, *at.subheader)]
    assert not any("example.invalid" in m for m in markdown)  # never rendered as Markdown


def test_only_disagreements_filter(evidence: Path) -> None:
    at = _judges_page()
    at.checkbox(key="judges_wrong").check().run()
    assert not at.exception
    assert any(c.value.startswith("0 cases") for c in at.caption)  # the fake judge agrees everywhere


def test_no_files_says_how_to_make_one(app_env: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("EVALHARNESS_JUDGE_EVIDENCE", str(tmp_path / "none"))
    monkeypatch.setenv("EVALHARNESS_RESULTS", str(tmp_path / "results"))
    at = _judges_page()
    assert "python -m judges meta-eval" in at.info[0].value
