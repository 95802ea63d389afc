"""Queue filling: escalation rules, the calibration sample, the audit sample, idempotent refills, the CLI."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from dashboard.cli import main
from experiments.record import RunRecord, Score
from review import EscalationRules, ReviewStore, audit_items, calibration_items, escalation_items
from review.errors import ConfigError
from review.escalation import review_reasons
from review.fill import rows_from_phoenix
from review.sampling import hash_sample, stratified_hash_sample, unit_hash


def _score(**kw: object) -> dict:
    """One judge verdict in the results record's shape (``experiments.record.Score``)."""
    return {"scorer": "geval:correctness", "criterion": "correctness", "kind": "judge", "scale": [1, 5],
            "score": 4.0, "judge_model": "m", **kw}


def _case(case_id: str, **kw: object) -> dict:
    return {"case_id": case_id, "input": f"q {case_id}", "output": f"a {case_id}", "scores": [_score(**kw)]}


def _results(cases: list[dict]) -> dict:
    return {
        "schema_version": 2,
        "run_id": "run-1",
        "started": "2026-11-29T06:00:00Z",
        "finished": "2026-11-29T06:10:00Z",
        "suites": [
            {
                "suite": "qa",
                "kind": "summarization",
                "dataset": "qa.jsonl",
                "dataset_hash": "h",
                "scorers": [{"scorer": "geval:correctness", "criterion": "correctness", "kind": "judge"}],
                "summary": {"n": len(cases)},
                "cases": cases,
            }
        ],
    }


def _run(cases: list[dict]) -> RunRecord:
    return RunRecord.model_validate(_results(cases))


def test_review_reasons_each_rule() -> None:
    rules = EscalationRules(max_entropy=1.0, min_top_mass=0.5, max_panel_range=0.25)
    sure = Score.model_validate(_score(label_probs={"4": 0.9, "5": 0.1}))
    assert review_reasons(sure, rules) == []
    flagged = Score.model_validate(_score(flags=["order_inconsistent"]))
    assert review_reasons(flagged, rules) == ["order_inconsistent"]
    # Uniform over 5 labels: entropy log2(5) = 2.32 bits and top mass 0.2 both trip.
    spread = Score.model_validate(_score(label_probs={str(i): 0.2 for i in range(1, 6)}))
    reasons = review_reasons(spread, rules)
    assert any(r.startswith("entropy 2.32") for r in reasons) and any(
        "top label mass 0.20" in r for r in reasons
    )
    # A panel spanning 2 of the 4 scale points (0.5 > 0.25) disagrees.
    panel = Score.model_validate(_score(members=[{"judge_model": "x", "score": 2}, {"judge_model": "y", "score": 4}]))
    assert review_reasons(panel, rules) == ["panel range 0.50 of scale > 0.25"]
    failed = Score.model_validate(_score(score=None, failure="unparseable reply"))
    assert review_reasons(failed, rules) == ["judge_failure"]
    given = Score.model_validate(_score(entropy=1.5))
    assert review_reasons(given, rules) == ["entropy 1.50 > 1"]


def test_escalation_rules_validate() -> None:
    with pytest.raises(ConfigError, match="min_top_mass=1.5"):
        EscalationRules(min_top_mass=1.5)
    with pytest.raises(ConfigError, match="unknown review reasons"):
        EscalationRules.from_reasons(["judge_failure", "unsure"])
    with pytest.raises(ConfigError, match="pass mark"):
        EscalationRules.from_reasons(["below_pass"])


def test_reason_names_turn_on_their_rules_only() -> None:
    # The monitor's per-evaluator ``review`` list: no distribution thresholds, a pass mark, chosen flags.
    rules = EscalationRules.from_reasons(["judge_failure", "below_pass", "low_confidence"], pass_at=3)
    doubtful = Score.model_validate(_score(score=2.0, flags=["low_confidence", "order_inconsistent"],
                                           label_probs={str(i): 0.2 for i in range(1, 6)}))
    assert review_reasons(doubtful, rules) == ["low_confidence", "score 2.00 < 3"]
    assert review_reasons(doubtful, EscalationRules.from_reasons(["flagged"])) == ["order_inconsistent"]
    failed = Score.model_validate(_score(score=None, failure="model unavailable"))
    assert review_reasons(failed, rules) == ["judge_failure"]
    assert review_reasons(failed, EscalationRules.from_reasons([])) == []
    # the eval fillers' defaults never escalate on the score alone
    assert review_reasons(Score.model_validate(_score(score=1.0)), EscalationRules()) == []


def test_escalation_items_carry_judges_and_priority() -> None:
    res = _run(
        [
            _case("calm"),
            _case("one", flags=["low_confidence"], label_probs={"A": 0.4, "B": 0.35, "tie": 0.25}),
            _case(
                "two",
                flags=["judges_disagree", "order_inconsistent"],
                members=[{"judge_model": "p1", "score": 1, "reasoning": "bad"}],
            ),
        ]
    )
    items = escalation_items(res)
    # "one": its flag plus entropy 1.56 bits and top mass 0.40 (3 reasons) ranks above "two" (2 flags).
    assert [it.meta["case_id"] for it in items] == ["one", "two"]
    by_case = {it.meta["case_id"]: it for it in items}
    assert set(by_case) == {"one", "two"}
    assert by_case["one"].categories == ("A", "B", "tie")  # non-numeric labels become categories
    assert [j.judge_model for j in by_case["two"].judges] == ["m", "p1"]
    assert by_case["two"].queue == "escalation" and by_case["two"].scale == (1, 5)
    assert by_case["two"].criterion == "correctness"  # the score's criterion, not parsed from a name


def test_deterministic_scores_are_not_escalated() -> None:
    raw = _results([_case("x", flags=["low_confidence"])])
    raw["suites"][0]["cases"][0]["scores"][0]["kind"] = "scorer"
    assert escalation_items(RunRecord.model_validate(raw)) == []


def test_calibration_sample_is_stable_about_rate_and_overlapping() -> None:
    cases = [_case(f"c{i}") for i in range(4000)]
    res = _run(cases)
    items = calibration_items(res, rate=0.05, reviewers=2)
    assert 0.04 * 4000 < len(items) < 0.06 * 4000
    assert all(it.overlap == 2 and it.queue == "calibration" for it in items)
    again = calibration_items(_run(list(reversed(cases))), rate=0.05)
    assert {it.source_id for it in items} == {it.source_id for it in again}
    with pytest.raises(ConfigError, match="reviewers"):
        calibration_items(res, reviewers=0)


def test_hash_sampling_rate_and_determinism() -> None:
    keys = [f"span-{i}" for i in range(20_000)]
    picked = hash_sample(keys, str, 0.02)
    assert 0.017 * 20_000 < len(picked) < 0.023 * 20_000
    assert picked == hash_sample(keys, str, 0.02)
    assert set(hash_sample(keys, str, 0.01)) <= set(picked)  # a lower rate is a subset: raising it only adds
    assert 0 <= unit_hash("x") < 1
    with pytest.raises(ConfigError, match="between 0 and 1"):
        hash_sample(keys, str, 2)


def test_stratified_sample_covers_rare_strata() -> None:
    rows = [{"id": f"r{i}", "topic": "common"} for i in range(2000)] + [{"id": "rare-1", "topic": "rare"}]
    plain = hash_sample(rows, lambda r: r["id"], 0.01)
    strat = stratified_hash_sample(rows, lambda r: r["id"], lambda r: r["topic"], 0.01, min_per_stratum=1)
    assert Counter(r["topic"] for r in strat)["rare"] == 1
    assert [r for r in strat if r["topic"] == "common"] == [r for r in plain if r["topic"] == "common"]


def _prod_rows(n: int) -> list[dict]:
    topics = ["billing", "shipping", "returns", "legal"]
    return [
        {
            "timestamp": "2026-11-29T00:00:00Z",
            "prompt": f"prompt {i}",
            "response": f"response {i}",
            "model": "gemma",
            "topic": topics[i % 4] if i < n - 3 else "rare",
            "language": "en",
            "latency_ms": 100 + i,
            "judge_score": 3.0,
            "session_id": f"s{i // 10}",
            "user_id": f"u{i % 7}",
            "trace_id": f"{i:032x}",
            "span_id": f"{i:016x}",
        }
        for i in range(n)
    ]


def test_audit_items_and_stratification() -> None:
    rows = _prod_rows(5000)
    items = audit_items(rows, rate=0.02)
    assert 70 < len(items) < 130
    first = items[0]
    assert first.queue == "audit" and first.source_id == f"prod:{first.trace_id}"
    assert first.judge_score == 3.0 and first.meta["judge_score"] == 3.0  # the logged online judge score
    assert first.meta["topic"] and "prompt" not in first.meta
    strat = audit_items(rows, rate=0.02, stratify_by="topic")
    assert "rare" in {it.meta["topic"] for it in strat}
    with pytest.raises(ConfigError, match="trace_id or span_id"):
        audit_items([{"prompt": "p", "response": "r"}])
    with pytest.raises(ConfigError, match="'response'"):
        audit_items([{"prompt": "p", "span_id": "1"}])


def test_fill_cli_names_the_bad_log_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "prod.jsonl"
    log.write_text('{"prompt": "p", "response": "r", "trace_id": "%s"}\n\nnot json\n' % ("t" * 32))
    db = str(tmp_path / "r.sqlite")
    assert main(["fill", "--db", db, "--prod-log", str(log)]) == 0  # a corrupt line is skipped and named
    assert "1 corrupt line skipped" in (err := capsys.readouterr().err) and "line 3 (not valid JSON" in err
    assert main(["fill", "--db", db, "--prod-log", str(log), "--strict"]) == 2  # bad input, not a traceback
    assert "prod.jsonl:3" in capsys.readouterr().err
    assert main(["fill", "--db", db, "--prod-log", str(tmp_path / "missing.jsonl")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_fill_reads_results_through_the_one_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "r.json"
    bad.write_text(json.dumps({"schema_version": 2, "run_id": "x", "suites": [{"suite": "s"}]}))
    assert main(["fill", "--db", str(tmp_path / "r.sqlite"), "--results", str(bad)]) == 2
    assert "does not match its schema" in capsys.readouterr().err
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"run_id": "x", "suites": []}))
    assert main(["fill", "--db", str(tmp_path / "r.sqlite"), "--results", str(old)]) == 2
    assert "schema version 1" in capsys.readouterr().err


class FakeSpans:
    """A fake of ``phoenix.client.Client().spans`` returning canned v1 span dicts and recording the call."""

    def __init__(self, spans: list[dict]) -> None:
        self._spans = spans
        self.calls: list[dict] = []

    def get_spans(self, **kw: object) -> list[dict]:
        self.calls.append(kw)
        return self._spans


class FakePhoenixClient:
    def __init__(self, spans: list[dict]) -> None:
        self.spans = FakeSpans(spans)


def test_rows_from_phoenix_keeps_spans_with_text() -> None:
    # The span-to-row mapping is tracing.production_log's (tests/tracing/test_tracing_prodlog.py);
    # the audit queue only drops spans a reviewer could not read.
    spans = [
        {
            "name": "llm",
            "context": {"trace_id": "t" * 32, "span_id": "a" * 16},
            "span_kind": "LLM",
            "start_time": "2026-11-29T00:00:00+00:00",
            "attributes": {
                "input.value": "hi",
                "output.value": "hello",
                "llm.model_name": "gemma",
                "metadata": json.dumps({"topic": "greeting"}),
            },
        },
        {  # nested attributes form, and a span with no output (a failed call): skipped
            "name": "llm",
            "context": {"trace_id": "u" * 32, "span_id": "b" * 16}, "span_kind": "LLM",
            "attributes": {"input": {"value": "x"}},
        },
    ]
    client = FakePhoenixClient(spans)
    [row] = rows_from_phoenix("prod", client=client, limit=50)
    assert (row["prompt"], row["response"], row["model"], row["topic"]) == ("hi", "hello", "gemma", "greeting")
    assert (row["trace_id"], row["span_id"], row["timestamp"]) == ("t" * 32, "a" * 16, "2026-11-29T00:00:00+00:00")
    [call] = client.spans.calls
    assert (call["project_identifier"], call["parent_id"], call["limit"]) == ("prod", "null", 50)
    [item] = audit_items([row], rate=1.0)
    assert item.source_id == f"prod:{'t' * 32}" and item.meta["topic"] == "greeting"


def test_one_trace_is_one_audit_item_whichever_span_names_it(tmp_path: Path) -> None:
    # The app's log names the call by its CHAIN span, Phoenix by its LLM span: same trace, one item.
    trace = "c" * 32
    chain = {"prompt": "p", "response": "r", "trace_id": trace, "span_id": "1" * 16, "topic": "greeting"}
    llm = {**chain, "span_id": "2" * 16}
    store = ReviewStore(tmp_path / "review.sqlite")
    try:
        assert store.add_items(audit_items([chain], rate=1.0)) == (1, 0)
        assert store.add_items(audit_items([llm], rate=1.0)) == (0, 1)
        # an item of the same trace under another source id (the monitor's) is the same production item too
        [item] = audit_items([llm], rate=1.0)
        assert store.add_items([replace(item, source_id=f"online:judge:v1:{llm['span_id']}")]) == (0, 1)
        # ... while another criterion or another queue of that trace is a new item
        assert store.add_items([replace(item, criterion="safety", source_id="online:safety:v1:x")]) == (1, 0)
        assert store.add_items([replace(item, queue="escalation")]) == (1, 0)
        assert store.count_items() == 3
    finally:
        store.close()
    # sampled in or out alike, whichever span a row names
    for rate in (0.1, 0.5):
        rows = [{**chain, "trace_id": f"{i:032x}", "span_id": f"{i:016x}"} for i in range(200)]
        other = [{**r, "span_id": r["span_id"][::-1]} for r in rows]
        assert [it.trace_id for it in audit_items(rows, rate=rate)] == [it.trace_id for it in audit_items(other, rate=rate)]


def test_a_store_of_before_trace_keys_is_upgraded_keeping_its_duplicates(tmp_path: Path) -> None:
    import sqlalchemy as sa

    from review._rows import item_row
    from review._schema import items

    db = tmp_path / "old.sqlite"
    trace = "d" * 32
    chain = {"prompt": "p", "response": "r", "trace_id": trace, "span_id": "1" * 16}
    store = ReviewStore(db)
    [a] = audit_items([chain], rate=1.0)
    with store.engine.begin() as conn:  # as a store of before trace keys held them: the trace queued twice
        conn.execute(sa.text("DROP INDEX uq_items_queue_trace"))
        conn.execute(sa.text("ALTER TABLE review_items DROP COLUMN trace_key"))
        for span in ("1" * 16, "2" * 16):
            row = item_row(replace(a, source_id=f"prod:{span}", span_id=span), 0.0)
            conn.execute(items.insert().values({k: v for k, v in row.items() if k != "trace_key"}))
    store.close()
    store = ReviewStore(db)
    try:
        with store.engine.connect() as conn:
            keys = conn.execute(sa.select(items.c.source_id, items.c.trace_key).order_by(items.c.id)).all()
        assert keys[0].trace_key is not None and keys[1].trace_key is None  # the oldest keeps the key
        assert store.add_items(audit_items([chain], rate=1.0)) == (0, 1)
        assert store.count_items() == 2
    finally:
        store.close()


def test_fill_cli_is_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = tmp_path / "results.json"
    cases = [_case(f"c{i}", flags=["low_confidence"] if i % 10 == 0 else []) for i in range(400)]
    results.write_text(json.dumps(_results(cases)))
    log = tmp_path / "prod.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in _prod_rows(3000)))
    db = tmp_path / "review.sqlite"
    argv = [
        "fill",
        "--db",
        str(db),
        "--results",
        str(results),
        "--prod-log",
        str(log),
        "--audit-rate",
        "0.02",
        "--stratify-by",
        "topic",
    ]
    assert main(argv) == 0
    first = ReviewStore(db)
    stats = {s.queue: s.items for s in first.queue_stats()}
    assert stats["escalation"] == 40
    assert 5 < stats["calibration"] < 40
    assert 30 < stats["audit"] < 100
    assert main(argv) == 0
    assert {s.queue: s.items for s in first.queue_stats()} == stats
    out = capsys.readouterr().out
    assert "escalation: +0 (40 already queued)" in out
    first.close()
    assert main(["fill", "--db", str(db)]) == 2
    assert "nothing to fill from" in capsys.readouterr().err
    assert main(["fill", "--db", str(db), "--results", str(tmp_path / "nope.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_pairwise_suites_become_preference_items() -> None:
    raw = _results([_case("p1", score=0.5, label_probs={"A": 0.5, "B": 0.5}, flags=["order_inconsistent"])])
    raw["suites"][0]["kind"] = "pairwise"
    raw["suites"][0]["cases"][0]["scores"][0]["scale"] = [0, 1]
    [item] = escalation_items(RunRecord.model_validate(raw))
    assert item.categories == ("A", "B", "tie") and item.scale is None and item.meta["kind"] == "pairwise"
