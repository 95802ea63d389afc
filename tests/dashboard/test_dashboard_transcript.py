"""Conversations and agent trajectories in the review dashboard: filled into items, shown turn by turn and
step by step (Review and Runs pages, through AppTest), single turns labelled, stored, exported and counted."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from dashboard_helpers import PASSWORDS, FakeClock, conversation_run, sample_items
from streamlit.testing.v1 import AppTest

from dashboard.logins import logins
from experiments.record import write_run
from review import DuplicateLabel, InvalidLabel, LeaseLost, NewItem, ReviewStore
from review._rows import item_row
from review._schema import audit, items, passes, slots
from review.agreement import criteria, criterion_agreement, disagreements
from review.export import golden_rows, span_annotations, turn_rows, write_golden
from review.fill import calibration_items, escalation_items

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


def _items_of(criterion: str) -> list[NewItem]:
    return [it for it in escalation_items(conversation_run()) if it.criterion == criterion]


@pytest.fixture
def review_env(tmp_path: Path, users_file: Path, monkeypatch: pytest.MonkeyPatch):
    """A store for the app (filled by each test) and the environment pointing the app at it."""
    db = tmp_path / "transcript.sqlite"
    monkeypatch.setenv("EVALHARNESS_REVIEW_DB", str(db))
    monkeypatch.setenv("EVALHARNESS_USERS", str(users_file))
    monkeypatch.setenv("EVALHARNESS_DATASETS", str(tmp_path / "datasets"))
    monkeypatch.setenv("EVALHARNESS_RESULTS", str(tmp_path / "results"))

    def fill(new_items: list[NewItem]) -> Path:
        s = ReviewStore(db)
        s.add_items(new_items)
        s.close()
        return db

    return fill


def _claim(name: str = "bob") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.text_input(key="login_name").input(name)
    at.text_input(key="login_password").input(PASSWORDS[name])
    at.button(key="login_submit").click().run()
    at.button(key="claim").click().run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest, *kinds: str) -> str:
    """The elements' text; Markdown ones (captions, alerts) read without _ui.md's escaping backslashes."""
    text = "\n".join(str(e.value) for kind in kinds for e in getattr(at, kind))
    return text if kinds == ("text",) else text.replace("\\", "")


# ---------------------------------------------------------------- filling


def test_fill_carries_the_transcript_with_per_turn_scores_and_the_trajectory(store: ReviewStore) -> None:
    run = conversation_run()
    added, _ = store.add_items(escalation_items(run))
    assert added == 3
    by_criterion = {store.get_item(i).criterion: store.get_item(i) for i in range(1, 4)}
    conv = by_criterion["turn relevancy"].meta
    assert [t["role"] for t in conv["turns"]] == ["user", "assistant", "user", "assistant"]
    assert conv["failing_turns"] == [3]  # the item's own judge failed turn 3
    assert {(p["turn"], p["criterion"], p["score"], p["failed"]) for p in conv["turn_scores"]} == {
        (1, "turn relevancy", 4.2, False),
        (3, "turn relevancy", 1.6, True),
        (1, "knowledge retention", 4.0, False),
        (3, "knowledge retention", 3.5, False),
    }
    assert by_criterion["knowledge retention"].meta["failing_turns"] == []
    steps = by_criterion["trajectory quality"].meta["trajectory"]
    assert [(s["tool"], s["ok"], s["output"], s["error"]) for s in steps] == [
        ("lookup", True, "8849 m", None),
        ("convert", False, None, "unknown unit 'parsecs'"),
        ("convert", True, "29032 ft", None),
    ]
    assert steps[0]["arguments"] == {"thing": "mount everest"}
    assert "turns" not in by_criterion["trajectory quality"].meta
    # calibration items of the same verdicts carry the same payload (one fill function, one shape)
    cal = calibration_items(run, rate=1.0)
    assert {it.criterion: it.meta.get("failing_turns") for it in cal}["turn relevancy"] == [3]


# ---------------------------------------------------------------- the review page


def test_review_page_shows_the_conversation_turn_by_turn(review_env) -> None:
    review_env(_items_of("turn relevancy"))
    at = _claim()
    messages = at.chat_message
    assert [m.name for m in messages] == ["user", "assistant", "user", "assistant"]
    text = _texts(at, "text")
    assert "Sure, I renewed it for two weeks." in text and "Our opening hours are 9 to 5." in text
    # the failing turn is highlighted, the others are not
    assert [e.value for e in at.error] == ["Turn 3 · assistant · failing turn"]
    captions = _texts(at, "caption")
    assert "Turn 1 · assistant" in captions and "Failing turns" in captions
    assert "1.60 ✗" in captions and "4.20" in captions and "knowledge retention 3.50" in captions
    # the flattened transcript is not shown twice
    assert "Assistant: Sure" not in text
    assert [r.options for r in at.radio if r.key.startswith("turn_pick_")] == [
        ["Turn 0 · user", "Turn 1 · assistant", "Turn 2 · user", "Turn 3 · assistant"]
    ]


def test_review_page_shows_the_trajectory_as_numbered_steps(review_env) -> None:
    review_env(_items_of("trajectory quality"))
    at = _claim()
    [code] = [c.value for c in at.code]
    assert code.splitlines() == [
        '1. lookup({"thing": "mount everest"})',
        "   -> 8849 m",
        '2. convert({"unit": "parsecs", "value": 8849})',
        "   !! error: unknown unit 'parsecs'",
        '3. convert({"from": "m", "to": "ft", "value": 8849})',
        "   -> 29032 ft",
    ]
    assert "Trajectory** (3 steps, 1 failed)" in _texts(at, "markdown")
    assert "29032 ft" in _texts(at, "text")  # the final output, above its trajectory
    assert not [r for r in at.radio if r.key.startswith("turn_pick_")]  # no turns to label


def test_per_turn_label_round_trip_stored_exported_and_counted(review_env, tmp_path: Path) -> None:
    db = review_env(_items_of("turn relevancy"))
    at = _claim()
    next(r for r in at.radio if r.key.startswith("turn_pick_")).set_value(3)
    next(r for r in at.radio if r.key.startswith("turn_score_")).set_value(1)
    next(t for t in at.text_area if t.key.startswith("turn_note_")).input("answers about opening hours")
    at.button(key="turn_submit").click().run()
    assert not at.exception, at.exception
    assert _texts(at, "success") == "Saved your label of turn 3 of item 1."
    # turn 3 is no longer offered; the item is still held
    assert [r.options for r in at.radio if r.key.startswith("turn_pick_")] == [
        ["Turn 0 · user", "Turn 1 · assistant", "Turn 2 · user"]
    ]
    assert "turn 3: 1 (answers about opening hours)" in _texts(at, "caption")
    # then the whole conversation
    next(r for r in at.radio if r.key.startswith("score_")).set_value(2)
    at.button(key="submit").click().run()
    assert _texts(at, "success") == "Saved item 1."

    store = ReviewStore(db)
    labels = store.labels()
    assert sorted((r.turn is None, r.turn, r.score) for r in labels) == [(False, 3, 1.0), (True, None, 2.0)]
    assert [e.action for e in store.audit_log()][:2] == ["label", "label_turn"]

    written = write_golden(labels, tmp_path / "ds")
    path = written[("turns", "turn relevancy")]
    assert path == tmp_path / "ds" / "human" / "turns" / "turn_relevancy.jsonl"
    [row] = [json.loads(line) for line in path.read_text().splitlines()]
    assert (row["id"], row["turn"], row["role"], row["human_score"], row["judge_score"]) == (
        "conv-renew#turn3",
        3,
        "assistant",
        1,
        1.6,
    )
    assert row["content"] == "Our opening hours are 9 to 5."
    assert [t["index"] for t in row["conversation"]] == [0, 1, 2, 3]
    assert row["provenance"]["reviewers"] == ["bob"] and row["provenance"]["notes"] == [
        "answers about opening hours"
    ]
    # a turn label is never mixed into the case's verdict or its span annotation
    # (read as a qa case here: a conversation row of datasets/ holds a scenario, not a scored transcript)
    as_qa = [replace(r, meta={**r.meta, "kind": "qa"}) for r in labels]
    assert [g.row["provenance"]["scores"] for g in golden_rows(as_qa)] == [{"bob": 2.0}]
    assert sorted((a.name, a.identifier) for a in span_annotations(labels)) == [
        ("turn relevancy", "human"),
        ("turn relevancy (turn 3)", "human"),
    ]

    # agreement: per-turn labels are their own criterion, compared with the per-turn judge's score
    assert criteria(labels) == ["turn relevancy", "turn relevancy (per turn)"]
    per_turn = criterion_agreement(labels, "turn relevancy (per turn)", scale=(1, 5), n_resamples=50)
    assert per_turn.n_items == 1 and per_turn.confusion[0][1] == 1  # human 1, judge 1.6 -> 2
    [gap] = disagreements(labels, "turn relevancy (per turn)", min_gap=0.5)
    assert (gap.turn, gap.judge_score, gap.human_scores) == (3, 1.6, {"bob": 1.0})
    whole = criterion_agreement(labels, "turn relevancy", scale=(1, 5), n_resamples=50)
    assert whole.n_items == 1
    store.close()


def test_done_with_turn_labels_only_finishes_the_item(review_env) -> None:
    db = review_env(_items_of("turn relevancy"))
    at = _claim("carol")
    assert not [b for b in at.button if b.key == "turn_done"]  # nothing labelled yet
    next(r for r in at.radio if r.key.startswith("turn_pick_")).set_value(1)
    next(r for r in at.radio if r.key.startswith("turn_score_")).set_value(5)
    at.button(key="turn_submit").click().run()
    at.button(key="turn_done").click().run()
    assert not at.exception, at.exception
    assert _texts(at, "success").startswith("Finished item 1 with 1 turn label(s).")
    store = ReviewStore(db)
    assert [(r.turn, r.score) for r in store.labels()] == [(1, 5.0)]
    assert store.active_lease("carol") is None and store.claim_next("carol") is None
    assert store.audit_log()[0].action == "done_turns"
    store.close()


@pytest.mark.parametrize(
    ("turns", "message"),
    [
        ([], "no turns recorded"),
        ("User: hi", "is a str, not a list of turns"),
        ([{"role": "user", "content": "hi"}, {"content": "no role"}], "turn 2 has role None"),
        ([{"role": "assistant", "content": None}], "turn 1 has no text content"),
        ([{"role": "user", "content": "hi", "index": "first"}], "turn 1 has index 'first'"),
    ],
)
def test_an_empty_or_malformed_transcript_is_a_message_not_a_crash(review_env, turns, message) -> None:
    item = NewItem(
        queue="escalation",
        source_id="bad",
        input="scenario",
        output="User: hi\nAssistant: hello",
        criterion="turn relevancy",
        scale=(1, 5),
        meta={
            "case_id": "bad",
            "kind": "conversation",
            "turns": turns,
            "turn_scores": "not a list",
            "trajectory": [{"arguments": {}}],
        },
    )
    review_env([item])
    at = _claim()
    warnings = [w.value for w in at.warning]
    assert any(message.replace("'", "\\'") in w or message in w.replace("\\", "") for w in warnings), warnings
    assert any("step 1 names no tool" in w.replace("\\", "") for w in warnings), warnings
    assert "User: hi\nAssistant: hello" in _texts(at, "text")  # the plain output instead
    assert not at.chat_message and not [r for r in at.radio if r.key.startswith("turn_pick_")]
    assert at.button(key="submit")  # the item can still be labelled as a whole


# ---------------------------------------------------------------- the Runs page


def test_runs_page_shows_a_conversation_and_a_trajectory(review_env, tmp_path: Path) -> None:
    review_env(sample_items(1))
    new = conversation_run()
    base = new.model_copy(update={"run_id": "run-conv-base", "started": "2025-12-31T00:00:00+00:00"})
    write_run(base, tmp_path / "results" / "base.json")
    write_run(new, tmp_path / "results" / "new.json")
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input(key="login_name").input("bob")
    at.text_input(key="login_password").input(PASSWORDS["bob"])
    at.button(key="login_submit").click().run()
    at.switch_page("views/runs.py").run()
    at.selectbox(key="runs_suite").select("chat").run()
    at.selectbox(key="runs_scorer").select("turn_relevancy").run()
    assert not at.exception, at.exception
    assert [e.label for e in at.expander] == ["Conversation, turn by turn"] * 2  # baseline and new
    assert len(at.chat_message) == 8
    assert [e.value for e in at.error] == ["Turn 3 · assistant · failing turn"] * 2
    at.selectbox(key="runs_suite").select("tools").run()
    assert [e.label for e in at.expander] == ["Trajectory"] * 2
    assert all("!! error: unknown unit 'parsecs'" in c.value for c in at.code) and len(at.code) == 2


# ---------------------------------------------------------------- the store


def _conv_store(tmp_path: Path, clock: FakeClock, overlap: int = 2) -> ReviewStore:
    s = ReviewStore(tmp_path / "turns.sqlite", lease_seconds=60, clock=clock)
    [it] = _items_of("turn relevancy")
    s.add_items([NewItem(**{**it.__dict__, "overlap": overlap})])
    return s


def test_one_label_per_turn_and_reviewer_and_one_for_the_whole_item(tmp_path: Path, clock: FakeClock) -> None:
    s = _conv_store(tmp_path, clock)
    bob, carol = s.claim_next("bob"), s.claim_next("carol")
    assert bob.item_id == carol.item_id  # two slots of one item
    with pytest.raises(InvalidLabel, match="label at least one turn"):
        s.finish_turns(carol)  # "done" needs a turn label (or Submit for the whole conversation)
    s.label_turn(bob, 1, score=4)
    s.label_turn(bob, 3, score=2, note="off topic")
    s.label_turn(carol, 3, score=1)  # another reviewer, the same turn: their own label
    with pytest.raises(DuplicateLabel, match="already labelled turn 3 of item 1"):
        s.label_turn(bob, 3, score=5)
    with pytest.raises(InvalidLabel, match=r"has no turn 7; its turns are \[0, 1, 2, 3\]"):
        s.label_turn(bob, 7, score=3)
    with pytest.raises(InvalidLabel, match="outside its scale"):
        s.label_turn(bob, 2, score=9)
    with pytest.raises(InvalidLabel, match="is empty"):
        s.label_turn(bob, 2)
    s.submit(bob, score=3)  # the whole conversation: the old one-label-per-item rule still holds
    with pytest.raises(LeaseLost):
        s.label_turn(bob, 2, score=3)  # the item is finished
    got = sorted((r.reviewer, -1 if r.turn is None else r.turn, r.score) for r in s.labels())
    assert got == [("bob", -1, 3.0), ("bob", 1, 4.0), ("bob", 3, 2.0), ("carol", 3, 1.0)]
    s.finish_turns(carol)
    assert s.claim_next("carol") is None  # the case is done for carol too
    s.close()


def test_an_expired_lease_labels_no_turn(tmp_path: Path, clock: FakeClock) -> None:
    s = _conv_store(tmp_path, clock, overlap=1)
    bob = s.claim_next("bob")
    clock.advance(120)
    carol = s.claim_next("carol")  # took the expired slot over
    assert carol.slot_id == bob.slot_id
    with pytest.raises(LeaseLost):
        s.label_turn(bob, 1, score=4)
    s.label_turn(carol, 1, score=4)
    assert [(r.reviewer, r.turn) for r in s.labels()] == [("carol", 1)]
    s.close()


def test_an_item_without_a_conversation_takes_no_turn_label(store: ReviewStore) -> None:
    store.add_items(sample_items(1))
    lease = store.claim_next("bob")
    with pytest.raises(InvalidLabel, match="holds no conversation turns"):
        store.label_turn(lease, 0, score=3)


def _upgrade_check(url: str) -> None:
    """A store with the labels table of before turn labels (and one label) is upgraded on open."""
    old = sa.MetaData()
    for table in (items, slots, passes, audit, logins):
        table.to_metadata(old)
    sa.Table(  # review_labels as the harness created it before single turns could be labelled
        "review_labels",
        old,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.Integer, sa.ForeignKey("review_items.id"), nullable=False),
        sa.Column("slot_id", sa.Integer, sa.ForeignKey("review_slots.id"), nullable=False),
        sa.Column("reviewer", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("category", sa.String(256)),
        sa.Column("note", sa.Text, nullable=False, default=""),
        sa.Column("lease_version", sa.Integer, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.UniqueConstraint("item_id", "reviewer", name="uq_labels_item_reviewer"),
    )
    engine = sa.create_engine(url)
    old.create_all(engine)
    [it] = _items_of("turn relevancy")
    row = item_row(it, 1.0)
    with engine.begin() as conn:
        conn.execute(old.tables["review_items"].insert(), row)
        conn.execute(
            old.tables["review_slots"].insert(),
            {
                "item_id": 1,
                "queue": it.queue,
                "priority": 3.0,
                "state": "done",
                "reviewer": "bob",
                "version": 1,
                "case_key": row["case_key"],
            },
        )
        conn.execute(
            old.tables["review_labels"].insert(),
            {
                "item_id": 1,
                "slot_id": 1,
                "reviewer": "bob",
                "kind": "label",
                "score": 4.0,
                "note": "old label",
                "lease_version": 1,
                "created": 5.0,
            },
        )
    engine.dispose()

    s = ReviewStore(url)  # upgrades: the column added, the old label kept as a whole-item label
    [kept] = s.labels()
    assert (kept.reviewer, kept.score, kept.note, kept.turn) == ("bob", 4.0, "old label", None)
    with (
        pytest.raises(sa.exc.IntegrityError),
        s.engine.begin() as conn,
    ):  # still one whole-item label per reviewer
        conn.execute(
            sa.text(
                "INSERT INTO review_labels (item_id, slot_id, reviewer, kind, score, note, "
                "lease_version, created) VALUES (1, 1, 'bob', 'label', 2, '', 1, 6.0)"
            )
        )
    with s.engine.begin() as conn:  # and now one per turn besides
        conn.execute(
            sa.text(
                "INSERT INTO review_labels (item_id, slot_id, reviewer, kind, score, note, "
                "lease_version, created, turn) VALUES (1, 1, 'bob', 'label', 2, '', 1, 6.0, 3)"
            )
        )
    assert sorted(-1 if r.turn is None else r.turn for r in s.labels()) == [-1, 3]
    s.close()
    again = ReviewStore(url)  # reopening changes nothing
    assert [r.turn for r in again.labels()] == [None, 3]
    again.close()


def test_a_store_from_before_turn_labels_is_upgraded_in_place(tmp_path: Path) -> None:
    _upgrade_check(f"sqlite:///{tmp_path / 'old.sqlite'}")


@pytest.mark.slow
def test_a_postgres_store_from_before_turn_labels_is_upgraded_in_place() -> None:
    pytest.importorskip("psycopg", reason='needs the psycopg driver: pip install "psycopg[binary]"')
    from tracing.pg_cluster import PostgresCluster, PostgresClusterError, find_pg_bin

    try:
        find_pg_bin()
    except PostgresClusterError as exc:
        pytest.skip(str(exc))
    with PostgresCluster() as pg:
        _upgrade_check(pg.database_url("postgres", driver="psycopg"))


def test_turn_rows_skip_notes_only_turns() -> None:
    from review.models import LabelRecord

    [it] = _items_of("turn relevancy")
    rec = LabelRecord(
        item_id=1,
        queue="escalation",
        source_id=it.source_id,
        criterion=it.criterion,
        reviewer="bob",
        kind="label",
        score=None,
        category=None,
        note="just a note",
        created=1.0,
        judge_score=it.judge_score,
        input=it.input,
        output=it.output,
        context=None,
        expected=it.expected,
        trace_id=None,
        span_id=None,
        suite=it.suite,
        scale=(1, 5),
        meta=it.meta,
        turn=1,
    )
    assert turn_rows([rec]) == []
    assert [g.row["turn"] for g in turn_rows([LabelRecord(**{**rec.__dict__, "score": 5.0})])] == [1]


def test_a_regressed_conversation_sent_from_the_runs_page_carries_its_transcript() -> None:
    from review.run_diff import case_diffs, diff_runs, regression_item
    from review.transcript import conversation

    new = conversation_run()
    chat_suite = new.suites[0]
    case = chat_suite.cases[0]
    better = case.model_copy(update={"scores": [s.model_copy(update={"score": 4.5}) for s in case.scores]})
    # the baseline scored the conversation higher: the new run regressed
    base = new.model_copy(update={"run_id": "run-base",
                                  "suites": [chat_suite.model_copy(update={"cases": [better]}), *new.suites[1:]]})
    chat = next(d for d in diff_runs(base, new) if d.suite == "chat")
    regressed = next(c for c in case_diffs(chat, "turn_relevancy") if c.case_id == "conv-renew")
    item = regression_item(chat, regressed, "turn_relevancy", base_run_id="run-base", new_run_id=new.run_id)
    turns = conversation(item.meta)
    assert turns is not None and [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
    assert item.meta["failing_turns"] == [3] and item.meta["diff"] < 0
