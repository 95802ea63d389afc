"""pytest integration: eval suites as test items, suite gates, a summary table and a results JSON.

Wire it from ``evals/conftest.py`` with ``from judges.pytest_plugin import *``. Tests use two fixtures:

    @pytest.mark.parametrize("case", SUITE.cases(), ids=lambda c: c.id)
    def test_case(case, evaluate):
        evaluate(SUITE, case)          # judges, records, fails below the suite's threshold

    def test_gate(evaluate_suite):
        evaluate_suite(SUITE)          # judges every case (cached), fails when the gate fails

Works with ``--junitxml`` (scores become properties) and ``pytest -n`` (records travel to the controller
in the reports; the call cache is shared by the workers through SQLite).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from judges.client import ModelClient
from judges.config import get_model
from judges.errors import ConfigError
from judges.report import format_table
from judges.results import Case, Judgement, Result
from judges.suite import EvalSuite, SuiteMeta, SuiteSummary, case_record, summarize

T = TypeVar("T")
_RECORD = "eval_record"
_SUITE = "eval_suite"


class _LoopThread:
    """One event loop in a daemon thread, so sync tests can await the async judges and share one client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="evalharness-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class EvalRuntime:
    """Per-process state: the judge client, the loop, prefetched judgements and the collected records."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self._loop: _LoopThread | None = None
        self._futures: dict[tuple[str, str], Any] = {}
        self.selected: set[int] = set()  # ids of Case objects whose test items are selected
        self.records: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.metas: dict[str, SuiteMeta] = {}
        self.suite_summaries: dict[str, dict[str, Any]] = {}
        self.tracing: Any = None
        self.xdist_worker = os.environ.get("PYTEST_XDIST_WORKER")

    @property
    def loop(self) -> _LoopThread:
        if self._loop is None:
            self._loop = _LoopThread()
        return self._loop

    def make_client(self) -> ModelClient:
        """The configured judge client, checked: an unknown or unreachable model fails here, before any case."""
        spec = self.config.getoption("judge_model") or None
        client = get_model(spec)
        self.loop.run(client.check())
        return client

    async def _judge_traced(self, suite: EvalSuite, case: Case, client: ModelClient) -> tuple[Result, str | None, str | None]:
        try:
            import tracing
        except ImportError:
            return await suite.judge.judge(client, case), None, None
        with tracing.evaluator_span(name=suite.judge.judge_name, suite=suite.name, case_id=case.id) as ev:
            result = await suite.judge.judge(client, case)
            if isinstance(result, Judgement):
                ev.set_result(score=result.score, label=result.label, explanation=result.reasoning)
            else:
                ev.set_result(score=None, label="judge_failure", explanation=result.reason)
            trace_id, span_id = tracing.span_ids(ev.span)
        return result, trace_id, span_id

    def judge_case(self, suite: EvalSuite, case: Case, client: ModelClient) -> tuple[Result, str | None, str | None]:
        key = (suite.name, case.id)
        if key not in self._futures and not self.xdist_worker:
            # warm every selected case of this suite at once: the client bounds concurrency
            for c in suite.cases():
                if (suite.name, c.id) not in self._futures and (not self.selected or id(c) in self.selected or c.id == case.id):
                    self._futures[(suite.name, c.id)] = asyncio.run_coroutine_threadsafe(
                        self._judge_traced(suite, c, client), self.loop.loop)
        fut = self._futures.pop(key, None)
        if fut is None:
            return self.loop.run(self._judge_traced(suite, case, client))
        return fut.result()

    def close(self) -> None:
        for fut in self._futures.values():
            fut.cancel()
        if self._loop is not None:
            self._loop.close()
        if self.tracing is not None:
            self.tracing.shutdown()


_KEY = pytest.StashKey[EvalRuntime]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("evalharness", "LLM eval suites")
    group.addoption("--judge-model", default=None, help="judge model spec (overrides EVALHARNESS_JUDGE_MODEL): "
                    "'local', 'local:/path.gguf' or 'openai:MODEL'")
    group.addoption("--eval-results", default="results", help="folder for the run's results JSON (default: results/)")


def pytest_configure(config: pytest.Config) -> None:
    rt = EvalRuntime(config)
    config.stash[_KEY] = rt
    if os.environ.get("EVALHARNESS_TRACING", "").lower() in ("1", "true", "yes"):
        import tracing

        project = os.environ.get("PHOENIX_PROJECT_NAME") or f"evals-{rt.run_id}"
        rt.tracing = tracing.setup(project=project)


def pytest_unconfigure(config: pytest.Config) -> None:
    rt = config.stash.get(_KEY, None)
    if rt is not None:
        rt.close()


def pytest_collection_finish(session: pytest.Session) -> None:
    rt = session.config.stash[_KEY]
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        for v in params.values():
            if isinstance(v, Case):
                rt.selected.add(id(v))


def _runtime(request: pytest.FixtureRequest) -> EvalRuntime:
    return request.config.stash[_KEY]


@pytest.fixture(scope="session")
def judge_client(request: pytest.FixtureRequest) -> ModelClient:
    """The configured judge ModelClient (checked once: an unknown or unreachable model errors here).

    Override this fixture in a conftest to judge with another client (a panel member, a fake in tests).
    """
    try:
        return _runtime(request).make_client()
    except ConfigError as exc:
        pytest.exit(f"judge model unavailable: {exc}", returncode=4)


def _fail_message(suite: EvalSuite, case: Case, rec: dict[str, Any]) -> str:
    probs = rec["label_probs"] or {}
    dist = ", ".join(f"{k}: {v:.2f}" for k, v in probs.items())
    lines = [f"{suite.name}/{case.id}: score {rec['score']:.2f} < threshold {suite.threshold} ({rec['judge_model']})"]
    if dist:
        lines.append(f"  label probabilities ({rec['prob_source']}): {dist}")
    if rec["reasoning"]:
        lines.append(f"  judge's reasoning: {rec['reasoning'][:300]}")
    return "\n".join(lines)


@pytest.fixture
def evaluate(request: pytest.FixtureRequest, judge_client: ModelClient) -> Callable[[EvalSuite, Case], dict[str, Any]]:
    """``evaluate(suite, case)``: judge one case, record it, fail when it is below the suite's threshold.

    A judge failure (unparseable reply after retries) fails the test with the raw reply: never a silent score.
    """
    rt = _runtime(request)

    def _evaluate(suite: EvalSuite, case: Case) -> dict[str, Any]:
        result, trace_id, span_id = rt.judge_case(suite, case, judge_client)
        rec = case_record(suite, case, result, trace_id=trace_id, span_id=span_id)
        request.node.user_properties.append((_RECORD, {"suite": suite.meta.to_dict(), "record": rec}))
        if rec["score"] is not None:
            request.node.user_properties.append(("score", round(rec["score"], 4)))
        if rec["failure"] is not None:
            pytest.fail(f"{suite.name}/{case.id}: judge failure: {rec['failure']}\n  raw reply: {rec['raw'][:500]!r}")
        if rec["passed"] is False:
            pytest.fail(_fail_message(suite, case, rec))
        return rec

    return _evaluate


@pytest.fixture
def evaluate_suite(request: pytest.FixtureRequest, judge_client: ModelClient) -> Callable[[EvalSuite], SuiteSummary]:
    """``evaluate_suite(suite)``: judge every case (cache hits after the per-case tests), fail when the gate fails."""
    rt = _runtime(request)

    def _evaluate_suite(suite: EvalSuite) -> SuiteSummary:
        cases = suite.cases()
        results = rt.loop.run(_gather(rt, suite, cases, judge_client))
        records = [case_record(suite, c, r) for c, r in zip(cases, results)]
        summary = summarize(suite.meta, records)
        request.node.user_properties.append((_SUITE, {"suite": suite.meta.to_dict(), "summary": summary.to_dict()}))
        if summary.gate_passed is False:
            pytest.fail(f"suite {suite.name} failed its gate: {summary.gate_reason}\n" + format_table([summary]))
        return summary

    return _evaluate_suite


async def _gather(rt: EvalRuntime, suite: EvalSuite, cases: list[Case], client: ModelClient) -> list[Result]:
    out = await asyncio.gather(*(rt._judge_traced(suite, c, client) for c in cases))
    return [r for r, _, _ in out]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    rt = _CURRENT.get("rt")
    if rt is None:
        return
    for name, raw in report.user_properties:
        value: dict[str, Any] = raw  # type: ignore[assignment]
        if name == _RECORD:
            meta = SuiteMeta.from_dict(value["suite"])
            rt.metas[meta.name] = meta
            rt.records[meta.name].append(value["record"])
        elif name == _SUITE:
            meta = SuiteMeta.from_dict(value["suite"])
            rt.metas.setdefault(meta.name, meta)
            rt.suite_summaries[meta.name] = value["summary"]


_CURRENT: dict[str, EvalRuntime] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _CURRENT["rt"] = session.config.stash[_KEY]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    rt = config.stash.get(_KEY, None)
    if rt is None or rt.xdist_worker or not (rt.records or rt.suite_summaries):
        return
    summaries = [summarize(rt.metas[name], recs) for name, recs in rt.records.items()]
    tr = terminalreporter
    tr.write_sep("=", "eval summary (95% bootstrap CIs)")
    if summaries:
        tr.write_line(format_table(summaries))
    for name, s in rt.suite_summaries.items():
        gate = s.get("gate") or {}
        if gate and name not in rt.records:  # suites run only through their gate test have no table row
            tr.write_line(f"gate {name}: {'PASS' if gate['passed'] else 'FAIL'} ({gate['reason']})")
    out_dir = Path(config.getoption("eval_results"))
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "run_id": rt.run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "suites": [
            {"suite": s.suite, "judge": s.judge, "criterion": s.judge.split(":", 1)[-1], "kind": rt.metas[s.suite].kind,
             "scale": rt.metas[s.suite].scale, "summary": s.to_dict(),
             "gate": rt.suite_summaries.get(s.suite, {}).get("gate"), "cases": rt.records[s.suite]}
            for s in summaries
        ],
    }
    path = out_dir / f"{rt.run_id}.json"
    path.write_text(json.dumps(payload, indent=1, default=str))
    (out_dir / "latest.json").write_text(path.read_text())
    tr.write_line(f"results: {path}")
