"""`python -m dashboard purge`: an end user's rows leave the production log, the review store and the results."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.record import CaseRecord, RunRecord, SuiteRecord, SuiteSummary, load_run, write_run
from review import ReviewStore, audit_items
from review.errors import ConfigError
from review.purge import PurgeReport, Who, purge_log, purge_results, purge_store

USER = "user-7f3a9c"  # distinctive, so a leftover anywhere on disk is found by a byte search
SESSION = "sess-b41e02"
ROOT = Path(__file__).resolve().parents[2]


def _log_rows() -> list[dict]:
    rows = []
    for i in range(12):
        user = USER if i % 4 == 0 else f"user-{i}"
        session = SESSION if i == 5 else f"sess-{i}"
        rows.append(
            {
                "timestamp": f"2025-01-01T00:00:{i:02d}Z",
                "prompt": f"question {i} from {user}",
                "response": f"answer {i}",
                "topic": "geo",
                "session_id": session,
                "user_id": user,
                "trace_id": f"{i:032x}",
                "span_id": f"{i:016x}",
            }
        )
    return rows


def _write_log(path: Path, rows: list[dict], extra: str = "") -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + extra)


def _run(tmp_path: Path) -> Path:
    cases = [
        CaseRecord(case_id=f"c{i}", input=f"in {i}", output=f"out {i}",
                   metadata={"user_id": USER} if i == 1 else {"session.id": SESSION} if i == 2 else {})
        for i in range(4)
    ]  # fmt: skip
    run = RunRecord(
        run_id="r1",
        started="2025-01-01T00:00:00+00:00",
        finished="2025-01-01T00:01:00+00:00",
        suites=[
            SuiteRecord(suite="qa-app", kind="rag", dataset="qa_app.jsonl", dataset_hash="h", scorers=[],
                        summary=SuiteSummary(n=4), cases=cases)
        ],
    )  # fmt: skip
    return write_run(run, tmp_path / "results" / "r1.json")


def test_who_matches_flat_dotted_and_metadata_keys() -> None:
    who = Who(frozenset({USER}), frozenset({SESSION}))
    assert who.matches({"user_id": USER}) and who.matches({"user.id": USER})
    assert who.matches({"session_id": SESSION}) and who.matches({"metadata": {"session.id": SESSION}})
    assert not who.matches({"user_id": "someone-else", "prompt": USER})  # ids, not text that mentions them
    with pytest.raises(ConfigError, match="at least one"):
        Who()


def test_log_purge_removes_the_users_rows_atomically(tmp_path: Path) -> None:
    log = tmp_path / "prod.jsonl"
    rows = _log_rows()
    _write_log(log, rows, extra="not json\n")
    os.chmod(log, 0o600)
    report = PurgeReport()
    assert purge_log(log, Who(frozenset({USER}), frozenset({SESSION})), report) == 4
    lines = log.read_text().splitlines()
    assert USER not in log.read_text() and SESSION not in log.read_text()
    assert [json.loads(x) for x in lines[:-1]] == [
        r for r in rows if r["user_id"] != USER and r["session_id"] != SESSION
    ]
    assert lines[-1] == "not json"  # unattributable: kept, and reported
    assert report.unreadable_lines == {str(log): 1}
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["prod.jsonl"]  # no temporary file left behind


def test_store_purge_deletes_items_labels_and_audit_rows(tmp_path: Path) -> None:
    store = ReviewStore(tmp_path / "review.sqlite")
    store.add_items(audit_items(_log_rows(), rate=1.0))
    for who in ("bob", "carol"):
        while (lease := store.claim_next(who)) is not None:
            store.submit(lease, score=3, note=f"{who} read it")
    assert len(store.labels()) == 12
    n_items, n_labels = purge_store(store, Who(frozenset({USER})))
    assert (n_items, n_labels) == (3, 3)
    assert store.count_items() == 9 and len(store.labels()) == 9
    assert all(r.meta["user_id"] != USER for r in store.labels())
    assert store.audit_log()[0].action == "purge" and store.audit_log()[0].detail == {"items": 3, "labels": 3}
    labelled = {r.item_id for r in store.labels()}
    assert all(e.item_id is None or e.item_id in labelled for e in store.audit_log())
    store.close()
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("review.sqlite"))
    assert USER.encode() not in data  # not even in free pages or the WAL


def test_results_purge_drops_the_users_cases(tmp_path: Path) -> None:
    path = _run(tmp_path)
    (tmp_path / "results" / "notes.json").write_text('{"not": "a run"}')
    report = PurgeReport()
    assert purge_results(tmp_path / "results", Who(frozenset({USER}), frozenset({SESSION})), report) == 2
    assert [c.case_id for c in load_run(path).suites[0].cases] == ["c0", "c3"]
    assert USER not in path.read_text() and SESSION not in path.read_text()
    assert report.skipped_files == [str(tmp_path / "results" / "notes.json")]


def test_purge_command_leaves_no_row_of_the_user(tmp_path: Path) -> None:
    log, db = tmp_path / "logs" / "prod.jsonl", tmp_path / "review.sqlite"
    log.parent.mkdir()
    _write_log(log, _log_rows())
    store = ReviewStore(db)
    store.add_items(audit_items(_log_rows(), rate=1.0))
    store.close()
    results = _run(tmp_path).parent
    proc = subprocess.run(
        [sys.executable, "-m", "dashboard", "purge", "--user-id", USER, "--session-id", SESSION,
         "--prod-log", str(log), "--results-dir", str(results), "--db", str(db)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"production log {log}: 4 row(s) removed" in proc.stdout
    assert "review store: 4 item(s) and 0 label(s) removed" in proc.stdout
    assert f"results {results / 'r1.json'}: 2 case(s) removed" in proc.stdout
    on_disk = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert USER.encode() not in on_disk and SESSION.encode() not in on_disk
    # the others' rows are all still there
    assert len(log.read_text().splitlines()) == 8
    store = ReviewStore(db)
    assert store.count_items() == 8
    store.close()


def test_purge_command_bad_input(tmp_path: Path) -> None:
    from dashboard.cli import main

    assert main(["purge", "--prod-log", str(tmp_path / "x.jsonl"), "--no-store"]) == 2  # no id given
    assert main(["purge", "--user-id", USER, "--no-store"]) == 2  # nothing to purge
    assert (
        main(["purge", "--user-id", USER, "--prod-log", str(tmp_path / "missing.jsonl"), "--no-store"]) == 2
    )


def test_purge_does_not_create_a_missing_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dashboard.cli import main

    log = tmp_path / "prod.jsonl"
    _write_log(log, _log_rows())
    assert (
        main(["purge", "--user-id", USER, "--prod-log", str(log), "--db", str(tmp_path / "none.sqlite")]) == 0
    )
    assert "review store: not purged" in capsys.readouterr().out
    assert not (tmp_path / "none.sqlite").exists()


def test_eval_items_carry_the_cases_user_so_the_purge_finds_them(tmp_path: Path) -> None:
    from experiments.record import Score
    from review import calibration_items

    score = Score(scorer="geval:q", criterion="q", kind="judge", scale=(1, 5), score=3.0, judge_model="m")
    case = CaseRecord(
        case_id="c1", input="in", output="out", metadata={"user_id": USER, "tier": "x"}, scores=[score]
    )
    run = RunRecord(
        run_id="r2", started="2025-01-01T00:00:00+00:00", finished="2025-01-01T00:01:00+00:00",
        suites=[SuiteRecord(suite="qa-app", kind="rag", dataset="qa_app.jsonl", dataset_hash="h", scorers=[],
                            summary=SuiteSummary(n=1), cases=[case])],
    )  # fmt: skip
    [item] = calibration_items(run, rate=1.0)
    assert item.meta["user_id"] == USER and "tier" not in item.meta  # only the ids the purge matches on
    store = ReviewStore(tmp_path / "review.sqlite")
    store.add_items([item])
    assert purge_store(store, Who(frozenset({USER}))) == (1, 0)
    store.close()
