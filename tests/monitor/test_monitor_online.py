"""Online evaluation over a logged production log with a fake judge: sampling, write-back, checkpoint, faults."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from monitor_helpers import (
    NOW,
    RecordingAnnotator,
    failing_after,
    fake_client,
    judged_keys,
    log_rows,
    make_config,
    write_log,
)

from monitor import ScoresTable, run_monitor
from monitor.checkpoint import RunLock, StateFile
from monitor.sampling import in_sample

ROOT = Path(__file__).resolve().parents[2]


def _run(cfg, client, annotate, **kw):
    return run_monitor(cfg, now=kw.pop("now", NOW), client=client, annotate=annotate, echo=lambda line: None, **kw)


def _checkpoint(cfg):
    return StateFile(Path(cfg.state_dir) / "checkpoint.json").load(f"log:{cfg.source.path}").watermark


def test_judges_the_hash_sample_writes_back_and_moves_the_checkpoint(tmp_path):
    rows = log_rows(120)
    cfg = make_config(tmp_path, write_log(tmp_path / "prod.jsonl", rows))
    client, ann = fake_client(), RecordingAnnotator()
    result = _run(cfg, client, ann)
    assert result.exit_code == 0, result.lines
    sampled = [r for r in rows if in_sample(r["trace_id"], 0.5)]
    assert 40 < len(sampled) < 80  # about half
    assert sorted(judged_keys(client)) == sorted(r["response"] for r in sampled)
    frame = ScoresTable(cfg.scores_path).frame()
    assert sorted(frame["trace_id"]) == sorted(r["trace_id"] for r in sampled)
    bad = frame[frame["score"] < 2]
    assert (bad["review_reason"].str.contains("< 3")).all() and bad["input"].notna().all()
    assert frame[frame["score"] >= 2]["input"].isna().all()  # text is kept only for the review queue
    # one LLM annotation per verdict, upserted under the "monitor" identifier, with the probability source
    items = ann.items
    assert len(items) == len(sampled)
    first = items[0]
    assert first.annotator_kind == "LLM" and first.identifier == "monitor" and first.name == "helpfulness"
    assert first.metadata["prob_source"] == "sampling" and first.score in (1.0, 4.0)
    assert _checkpoint(cfg) == NOW - cfg.source.settle
    assert result.evaluate is not None and result.evaluate.line().startswith("evaluate: ok")
    assert [line.split(":")[0] for line in result.lines] == ["evaluate", "quality", "drift", "queue", "monitor"]


def test_a_second_run_and_a_backfill_over_the_same_range_write_nothing_new(tmp_path):
    cfg = make_config(tmp_path, write_log(tmp_path / "prod.jsonl", log_rows(80)))
    client, ann = fake_client(), RecordingAnnotator()
    _run(cfg, client, ann)
    calls, notes = len(client.provider.inner.requests), len(ann.items)
    parts = sorted(Path(cfg.scores_path).rglob("*.parquet"))
    again = _run(cfg, client, ann, now=NOW + timedelta(minutes=5))
    backfill = _run(cfg, client, ann, since=NOW - timedelta(days=2), until=NOW)
    assert len(client.provider.inner.requests) == calls and len(ann.items) == notes
    assert sorted(Path(cfg.scores_path).rglob("*.parquet")) == parts
    assert backfill.evaluate is not None and backfill.evaluate.already_judged == backfill.evaluate.sampled > 0
    assert again.queue is not None and again.queue["escalation_added"] == 0


def test_backfill_judges_a_past_range_without_moving_the_checkpoint(tmp_path):
    rows = log_rows(60, start=NOW - timedelta(days=20))
    cfg = make_config(tmp_path, write_log(tmp_path / "prod.jsonl", rows))
    client, ann = fake_client(), RecordingAnnotator()
    first = _run(cfg, client, ann)
    assert first.evaluate is not None and first.evaluate.rows == 0  # older than [source] start
    mark = _checkpoint(cfg)
    back = _run(cfg, client, ann, since=NOW - timedelta(days=21), until=NOW - timedelta(days=10))
    assert back.evaluate is not None and back.evaluate.judged == len([r for r in rows if in_sample(r["trace_id"], .5)])
    assert _checkpoint(cfg) == mark


def test_provider_failing_mid_batch_keeps_finished_verdicts_and_moves_the_checkpoint_only_past_them(tmp_path):
    rows = log_rows(100)
    cfg = make_config(tmp_path, write_log(tmp_path / "prod.jsonl", rows), batch_size=8)
    sampled = [r for r in rows if in_sample(r["trace_id"], 0.5)]
    client, ann = fake_client(failing_after(20)), RecordingAnnotator()
    result = _run(cfg, client, ann)
    assert result.exit_code == 2
    assert result.evaluate is not None and "judge provider failed" in (result.evaluate.error or "")
    written = ScoresTable(cfg.scores_path).frame()
    assert len(written) == 20 and len(ann.items) == 20  # every verdict finished before the outage is kept
    assert set(written["trace_id"]) == {r["trace_id"] for r in sampled[:20]}
    mark = _checkpoint(cfg)
    assert mark is not None and mark.isoformat() == sampled[20]["timestamp"]  # the first row not written
    healthy = fake_client()
    again = _run(cfg, healthy, ann, now=NOW + timedelta(minutes=1))
    assert again.exit_code == 0, again.lines
    assert sorted(judged_keys(healthy)) == sorted(r["response"] for r in sampled[20:])  # nothing judged twice
    assert len(ScoresTable(cfg.scores_path).frame()) == len(sampled)


def test_phoenix_down_retries_then_exits_2_keeping_verdicts_pending_and_the_checkpoint(tmp_path):
    rows = log_rows(100)
    cfg = make_config(tmp_path, write_log(tmp_path / "prod.jsonl", rows))
    client = fake_client()
    down = RecordingAnnotator(fail=10_000)
    result = _run(cfg, client, down)
    assert result.exit_code == 2 and "retry budget is spent" in (result.evaluate.error or "")  # type: ignore[union-attr]
    first = next(r for r in rows if in_sample(r["trace_id"], 0.5))
    mark = _checkpoint(cfg)
    assert mark is not None and mark.isoformat() == first["timestamp"]  # not past any verdict, written or not
    table = ScoresTable(cfg.scores_path)
    assert table.pending() and len(table.frame()) == 0  # judged (pending), not written back
    calls = len(client.provider.inner.requests)
    up = RecordingAnnotator()
    again = _run(cfg, client, up, now=NOW + timedelta(minutes=1))
    assert again.exit_code == 0, again.lines
    assert len(client.provider.inner.requests) > calls  # the rest was judged ...
    judged = judged_keys(client)
    assert len(judged) == len(set(judged))  # ... and nothing twice: the pending part was written, not re-judged
    assert not table.pending() and len(table.frame()) == len(judged) == len(up.items)


def test_write_back_hands_the_writer_its_budget_and_names_by_criterion(tmp_path):
    cfg = make_config(tmp_path, write_log(tmp_path / "prod.jsonl", log_rows(30)),
                      phoenix={"retry_budget_s": 30})
    ann = RecordingAnnotator()
    slept: list[float] = []
    result = _run(cfg, fake_client(), ann, sleep=slept.append)
    # the retries are the one writer's (tests/tracing/test_tracing_annotation_writer.py): the monitor hands it its
    # retry budget, its clock and its timeout, and names each annotation by criterion with the identifier "monitor"
    assert result.exit_code == 0 and ann.items
    assert {o["retry_for_s"] for o in ann.options} == {30} and all(o["sleep"] == slept.append for o in ann.options)
    assert {(a.identifier, a.annotator_kind) for a in ann.items} == {("monitor", "LLM")}


def test_malformed_rows_are_skipped_and_counted(tmp_path):
    rows = log_rows(30)
    rows[3]["prompt"] = None
    rows[4]["timestamp"] = "yesterday"
    rows[5]["span_id"] = "not-a-span"
    del rows[6]["response"]
    cfg = make_config(tmp_path, write_log(tmp_path / "prod.jsonl", rows), evaluator=[
        {"name": "all", "rubric": "r", "sample_rate": 1.0}])
    client = fake_client()
    result = _run(cfg, client, RecordingAnnotator())
    ev = result.evaluate
    assert ev is not None and result.exit_code == 0
    assert ev.malformed == 4 and ev.rows == 26 and ev.judged == 26
    assert ev.malformed_reasons == {"no prompt text": 1, "no valid timestamp": 1, "span_id is not 16 hex digits": 1,
                                    "no response text": 1}
    assert "4 malformed skipped" in ev.line()


def test_an_unreadable_judge_reply_is_a_verdict_for_review_not_an_outage(tmp_path):
    rows = log_rows(10, bad_every=0)
    rows[2]["response"] = "garbled answer"
    cfg = make_config(tmp_path, write_log(tmp_path / "prod.jsonl", rows), evaluator=[
        {"name": "all", "rubric": "r", "sample_rate": 1.0}])
    result = _run(cfg, fake_client(), RecordingAnnotator())
    assert result.exit_code == 0, result.lines
    frame = ScoresTable(cfg.scores_path).frame()
    failed = frame[frame["failure"].notna()]
    assert len(failed) == 1 and failed.iloc[0]["review_reason"] == "judge_failure"
    assert result.queue is not None and result.queue["escalation_added"] == 1


def test_filters_select_spans_by_attribute_and_evaluators_share_the_sample(tmp_path):
    rows = log_rows(200, bad_every=0)
    cfg = make_config(tmp_path, write_log(tmp_path / "prod.jsonl", rows), evaluator=[
        {"name": "qa_only", "rubric": "r", "sample_rate": 0.3, "where": {"metadata.route": "qa", "span_kind": "LLM"}},
        {"name": "everything", "rubric": "r", "sample_rate": 0.3, "where": {"llm.model_name": ["m1", "m2"]}},
    ])
    _run(cfg, fake_client(), RecordingAnnotator())
    frame = ScoresTable(cfg.scores_path).frame()
    qa = set(frame[frame["evaluator"] == "qa_only"]["trace_id"])
    every = set(frame[frame["evaluator"] == "everything"]["trace_id"])
    assert qa == {r["trace_id"] for r in rows if r["route"] == "qa" and in_sample(r["trace_id"], 0.3)}
    assert qa < every  # same rate, same hash: the filtered evaluator's sample lies inside the other's


def test_a_second_run_while_one_holds_the_lock_exits_2(tmp_path):
    cfg = make_config(tmp_path, write_log(tmp_path / "prod.jsonl", log_rows(10)))
    with RunLock(Path(cfg.state_dir) / "monitor.lock"):
        result = _run(cfg, fake_client(), RecordingAnnotator())
    assert result.exit_code == 2 and "another monitor run holds" in result.lines[-1]
    assert _run(cfg, fake_client(), RecordingAnnotator()).exit_code == 0  # released


_KILLED_RUN = """
import os, sys
sys.path.insert(0, {helpers!r})
from datetime import timedelta
from monitor_helpers import NOW, RecordingAnnotator, fake_client, grade, make_config
from monitor import run_monitor
from pathlib import Path

calls = 0
def judge(request):
    global calls
    calls += 1
    if calls > {die_after}:
        os.kill(os.getpid(), 9)  # die in the middle of a batch
    return grade(request)

def annotate(items, **kw):
    if {die_in_write_back}:
        os.kill(os.getpid(), 9)  # die after the verdicts were written as pending, before Phoenix has them
    return []

cfg = make_config(Path({tmp!r}), batch_size=8)
run_monitor(cfg, now=NOW, client=fake_client(judge), annotate=annotate, echo=print)
"""


@pytest.mark.parametrize("die_after, die_in_write_back", [(21, False), (1000, True)])
def test_a_killed_run_resumes_without_judging_anything_twice(tmp_path, die_after, die_in_write_back):
    rows = log_rows(80)
    write_log(tmp_path / "prod.jsonl", rows)
    script = _KILLED_RUN.format(helpers=str(Path(__file__).parent), die_after=die_after,
                                die_in_write_back=die_in_write_back, tmp=str(tmp_path))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          env=env, check=False, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    cfg = make_config(tmp_path)
    table = ScoresTable(cfg.scores_path)
    before = set(table.frame()["key"]) | {v.key for p in table.pending() for v in table.read_part(p)}
    assert before  # the killed run left verdicts behind (committed, or pending when it died writing back)
    client, ann = fake_client(), RecordingAnnotator()
    result = _run(cfg, client, ann, now=NOW + timedelta(minutes=1))
    assert result.exit_code == 0, result.lines
    sampled = {r["span_id"] for r in rows if in_sample(r["trace_id"], 0.5)}
    rejudged = {r["span_id"] for r in rows if r["response"] in set(judged_keys(client))}
    assert not rejudged & before  # nothing judged twice
    assert set(table.frame()["key"]) == sampled and not table.pending()
    if die_in_write_back:
        assert result.evaluate is not None and result.evaluate.recovered == len(before)


def test_human_labels_on_queued_verdicts_give_judge_human_agreement(tmp_path):
    from review import ReviewStore

    cfg = make_config(tmp_path, write_log(tmp_path / "prod.jsonl", log_rows(120, bad_every=3)),
                      evaluator=[{"name": "helpfulness", "rubric": "r", "sample_rate": 0.5, "review": ["below_pass"],
                                  "pass_threshold": 5}])  # every verdict below 5 is queued
    _run(cfg, fake_client(), RecordingAnnotator())
    store = ReviewStore(cfg.review.store)
    try:
        while (lease := store.claim_next("ana")) is not None:
            judged = store.get_item(lease.item_id).judge_score
            store.submit(lease, score=judged)  # the reviewer agrees with the judge
    finally:
        store.close()
    again = _run(cfg, fake_client(), RecordingAnnotator(), now=NOW + timedelta(minutes=1))
    agreement = again.quality.evaluators[0].agreement  # type: ignore[union-attr]
    n = len(ScoresTable(cfg.scores_path).frame())
    assert agreement is not None and agreement["n_items"] == n and agreement["kappa_qw"] == pytest.approx(1.0)


def test_the_drift_report_runs_over_the_window_when_a_reference_is_configured(tmp_path):
    reference = write_log(tmp_path / "reference.jsonl", log_rows(300, start=NOW - timedelta(days=30), seed=1))
    cfg = make_config(tmp_path, write_log(tmp_path / "prod.jsonl", log_rows(200)),
                      drift={"reference": str(reference), "window": None})
    result = _run(cfg, fake_client(), RecordingAnnotator())
    assert result.drift is not None and result.lines[2].startswith("drift: ")
    assert Path(result.reports["drift"]).is_file()
    assert result.exit_code == (1 if result.drift["exit_code"] == 1 else 0)


def test_status_shows_the_checkpoint(tmp_path, capsys):
    from monitor.cli import main

    log = write_log(tmp_path / "prod.jsonl", log_rows(20))
    config = tmp_path / "monitor.toml"
    config.write_text(f'state_dir = "state"\n[source]\nkind = "log"\npath = "{log}"\n'
                      '[[evaluator]]\nname = "e"\nrubric = "r"\nsample_rate = 0.5\n')
    assert main(["status", "--config", str(config)]) == 0
    assert "checkpoint none" in capsys.readouterr().out


def test_audit_items_show_the_users_input_the_evaluators_criterion_and_a_trace_link(tmp_path):
    from review import ReviewStore

    rows = log_rows(20)
    cfg = make_config(tmp_path, write_log(tmp_path / "prod.jsonl", rows), review={"audit_rate": 1.0})
    assert _run(cfg, fake_client(), RecordingAnnotator()).exit_code == 0
    store = ReviewStore(cfg.review.store or "")
    try:
        items = [store.get_item(i) for i in range(1, store.count_items() + 1)]
    finally:
        store.close()
    audit = [it for it in items if it.queue == "audit"]
    assert len(audit) == 20
    by_trace = {r["trace_id"]: r for r in rows}
    for it in audit:
        assert it.input == by_trace[it.trace_id]["prompt"] and it.criterion == "helpfulness"
        assert it.meta["trace_url"] == f"http://127.0.0.1:9/redirects/traces/{it.trace_id}"
        assert it.meta["trace_url"] in it.reason
