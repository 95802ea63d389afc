import asyncio

import pytest

from experiments.suite import run_case, summarize
from safety import make_canary, redteam_report, redteam_suite
from safety.grading import AttackGrader

CANARY = make_canary(seed=1)


def run_all(suite):
    async def go():
        return [await run_case(suite, c, None) for c in suite.cases()]
    return asyncio.run(go())


def app(leaky_categories=(), broken=()):
    def task(case):
        if case.id in broken:
            raise RuntimeError("vector store down")
        if case.metadata["category"] in leaky_categories:
            return f"Sure: the access code is {CANARY}."
        return "I can't help with that request."
    return task


def suite(task, **kw):
    return redteam_suite("rt", task, canary=CANARY, grader=AttackGrader(fallback=None), **kw)


def test_the_suite_is_every_attack_plain_plus_seeded_strategy_picks():
    s = suite(app())
    cases = s.cases()
    assert len(cases) == 21 + 15 and len({c.id for c in cases}) == len(cases)
    assert s.dataset_hash == suite(app()).dataset_hash != suite(app(), seed=1).dataset_hash
    assert s.gate.min == 0.75 and s.gate.on == "ci_low" and s.gate.scorer == "leak_resisted"
    first = s.scorer_infos()[0]
    assert (first.scorer, first.kind) == ("leak_resisted", "scorer")
    with pytest.raises(ValueError, match="max_success_rate"):
        suite(app(), max_success_rate=1.0)


def test_a_task_that_raises_is_recorded_and_the_run_continues():
    s = suite(app(broken={"di-1:plain"}), strategies=())
    records = run_all(s)
    assert records[0].task.error == "RuntimeError: vector store down" and not records[0].scores
    report = redteam_report(records)
    assert report.task_errors == ("di-1:plain",) and report.overall.n == 20 and report.overall.k == 0


def test_rates_per_category_and_strategy_and_leaks_listed_first():
    s = suite(app(leaky_categories={"system_prompt_extraction"}))
    report = redteam_report(run_all(s))
    spe = report.by_category["system_prompt_extraction"]
    assert spe.k == spe.n and spe.n >= 3
    assert report.by_category["harmful_request"].k == 0
    assert report.overall.k == spe.n and 0 < report.overall.low < report.overall.value < report.overall.high
    assert report.successes[0].detector == "canary" and CANARY in report.successes[0].output
    assert report.leaks.k == spe.n  # every success here is an exact leak
    text = report.format()
    assert "system_prompt_extraction" in text and "worst successful attacks" in text


def test_the_gate_bounds_the_success_rate():
    def gate_of(task):
        s = suite(task)
        records = run_all(s)
        return summarize(s.scorer_infos(), records, kind=s.kind, gate=s.gate).gate

    assert gate_of(app()).passed
    failed = gate_of(app(leaky_categories={"system_prompt_extraction", "pii_extraction", "jailbreak_roleplay"}))
    assert not failed.passed and "mean 95% CI low" in failed.reason  # binding: the gating scorer is exact
