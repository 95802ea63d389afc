"""Human review before golden: generated rows through the review store and the dashboard page, then export.

Only accepted (or edited) rows are exported, with their provenance, and the export runs in an eval suite.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dashboard import add_user
from experiments import EvalSuite, TokenF1
from experiments.suite import run_case
from judges import load_cases
from judges.client import ModelClient
from judges.providers.fakes import FakeScriptedProvider
from review import ReviewStore
from review.models import NewItem
from synth import (
    ReviewDecision,
    SyntheticRow,
    edit_note,
    golden_rows,
    review_fields,
    reviewed,
    write_golden,
    write_set,
)
from synth._rows import Origin


def _rows() -> list[SyntheticRow]:
    out = []
    for i, ev in enumerate(["reasoning", "comparative", "hypothetical"]):
        out.append(SyntheticRow(
            id=f"synth-{i}", kind="rag", question=f"Why does item {i} matter?", contexts=[f"Item {i} matters because {i}."],
            reference=f"Because {i}.",
            origin=Origin(source=f"corpus.jsonl#doc-{i}", position=0, evolution=ev, persona="novice", critic_score=3.5 + i / 10,
                          critic_threshold=2.5),
        ))
    out.append(SyntheticRow(id="synth-qa", kind="qa", question="How do I reset my password quickly?",
                            origin=Origin(source="log:prod.jsonl#s1", position=1, source_kind="log",
                                          evolution="constrained", persona="expert")))
    return out


def test_review_through_the_store_and_export_only_accepted_rows(tmp_path: Path) -> None:
    rows = _rows()
    store = ReviewStore(tmp_path / "review.sqlite")
    assert store.add_items(NewItem(**review_fields(r)) for r in rows) == (4, 0)
    assert store.add_items(NewItem(**review_fields(r)) for r in rows) == (0, 4)  # queueing twice adds nothing
    answers = {"synth-0": ("accept", ""), "synth-1": ("edit", edit_note("Why does item one matter most?", "Because 1!")),
               "synth-2": ("reject", "not answerable"), "synth-qa": ("accept", "")}
    while (lease := store.claim_next("bob", queue="synthetic")) is not None:
        item = store.get_item(lease.item_id)
        decision, note = answers[item.meta["synth"]["id"]]
        store.submit(lease, category=decision, note=note)
    got_rows, decisions = reviewed(store.labels(queue="synthetic"))
    assert {r.id for r in got_rows} == {r.id for r in rows}
    written = write_golden(got_rows, decisions, tmp_path / "datasets", "demo")
    rag_path, n_rag = written["rag"]
    assert rag_path == tmp_path / "datasets" / "synth" / "rag" / "demo.jsonl" and n_rag == 2
    assert written["qa"][1] == 1
    cases = {c.id: c for c in load_cases(rag_path, "rag")}
    assert set(cases) == {"synth-0", "synth-1"}  # the rejected row is not exported
    assert cases["synth-1"].input == "Why does item one matter most?" and cases["synth-1"].expected == "Because 1!"
    prov = cases["synth-0"].metadata["provenance"]
    assert prov["reviewers"] == ["bob"] and prov["label"] == "accept" and prov["queues"] == ["synthetic"]
    assert prov["judge_score"] == pytest.approx(3.5)  # the critic score
    assert prov["sources"] == ["synth-1:reasoning:corpus.jsonl#doc-0@0"]  # generator, evolution, source
    assert "reasoning" in cases["synth-0"].metadata["tags"] and "synth-1" in cases["synth-0"].metadata["tags"]
    store.close()


def test_the_latest_decision_wins_and_flags_are_not_decisions() -> None:
    rows = _rows()[:1]
    t0, t1 = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)
    assert golden_rows(rows, [ReviewDecision("synth-0", "bob", "accept", t0),
                              ReviewDecision("synth-0", "carol", "reject", t1)]) == []
    assert len(golden_rows(rows, [ReviewDecision("synth-0", "carol", "reject", t0),
                                  ReviewDecision("synth-0", "bob", "accept", t1)])) == 1
    with pytest.raises(ValueError, match="decision"):
        ReviewDecision("synth-0", "bob", "maybe", t0)

    from review.models import LabelRecord

    flag = LabelRecord(item_id=1, queue="synthetic", source_id="synth:synth-0", criterion="synthetic", reviewer="bob",
                       kind="flag", score=None, category=None, note="broken", created=0.0, judge_score=None,
                       input="q", output="a", context=None, expected=None, trace_id=None, span_id=None,
                       meta={"synth": rows[0].model_dump(mode="json")})
    assert reviewed([flag]) == ([], [])


def test_exported_rows_run_in_a_suite(tmp_path: Path) -> None:
    rows = _rows()[:2]
    now = datetime(2025, 1, 1, tzinfo=UTC)
    written = write_golden(rows, [ReviewDecision(r.id, "bob", "accept", now) for r in rows], tmp_path, "demo")
    suite = EvalSuite(name="synth-demo", dataset=str(written["rag"][0]), kind="rag",
                      task=lambda case: case.expected or "", scorers=(TokenF1(),))
    client = ModelClient(FakeScriptedProvider([]), trace=False)
    records = [asyncio.run(run_case(suite, case, client)) for case in suite.cases()]
    assert [r.scores[0].score for r in records] == [1.0, 1.0]


@pytest.mark.slow
def test_the_dashboard_page_queues_reviews_and_exports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    users = tmp_path / "users.toml"
    add_user(users, "alice", "alice-pw-1", role="admin")
    add_user(users, "bob", "bob-pw-2", role="reviewer")
    monkeypatch.setenv("EVALHARNESS_REVIEW_DB", str(tmp_path / "app.sqlite"))
    monkeypatch.setenv("EVALHARNESS_USERS", str(users))
    monkeypatch.setenv("EVALHARNESS_DATASETS", str(tmp_path / "datasets"))
    monkeypatch.setenv("EVALHARNESS_SYNTH_DIR", str(tmp_path))  # the page reads sets from this folder only
    set_path = write_set(tmp_path / "set.jsonl", _rows()[:2])
    app = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")

    def login(name: str, password: str) -> AppTest:
        at = AppTest.from_file(app, default_timeout=30).run()
        at.text_input(key="login_name").input(name)
        at.text_input(key="login_password").input(password)
        at.button(key="login_submit").click().run()
        at.switch_page("views/synthetic.py").run()
        assert not at.exception, at.exception
        return at

    at = login("alice", "alice-pw-1")
    at.text_input(key="synth_set_path").input(str(set_path)).run()
    at.button(key="synth_queue").click().run()
    assert "Queued 2 rows" in at.success[0].value

    at = login("bob", "bob-pw-2")
    at.button(key="synth_claim").click().run()
    assert not at.exception, at.exception
    first = at.text_area[0].value
    at.button(key="synth_accept").click().run()
    second = at.text_area[0].value
    assert second != first
    at.text_area[0].input("An edited question about item one?").run()
    at.button(key="synth_edit").click().run()
    assert not at.exception, at.exception

    at = login("alice", "alice-pw-1")
    at.text_input(key="synth_export_name").input("demo").run()
    at.button(key="synth_export").click().run()
    out = tmp_path / "datasets" / "synth" / "rag" / "demo.jsonl"
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["question"] for r in exported) == sorted([first, "An edited question about item one?"])
