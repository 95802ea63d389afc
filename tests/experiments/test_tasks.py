"""Running the task under test: outputs, errors as records, timeouts, wrong types, and the cache opt-in."""

from __future__ import annotations

import asyncio
import json

import pytest

from experiments import EvalSuite, PromptTask, Task, TaskError, TaskOutput, TokenF1
from experiments.suite import run_case
from experiments.task import execute
from judges import Case, Completion, ModelClient
from judges.providers import FakeFunctionProvider


def suite(tmp_path, task, **kw) -> EvalSuite:
    data = tmp_path / "qa.jsonl"
    data.write_text("\n".join(json.dumps({"id": f"q{i}", "question": f"what is {i}?", "reference": f"it is {i}"})
                              for i in range(3)) + "\n")
    return EvalSuite("qa", str(data), "rag", task=task, scorers=(TokenF1(),), threshold=0.5, **kw)


def run(s: EvalSuite, case: Case):
    return asyncio.run(run_case(s, case, None))  # deterministic scorers need no judge client


def test_sync_and_async_tasks_are_scored_on_what_they_return(tmp_path):
    def sync_app(case):
        return f"it is {case.input.split()[-1].rstrip('?')}"

    async def async_app(case):
        return TaskOutput("no idea", contexts=("a passage",), prompt_tokens=3, completion_tokens=2)

    s = suite(tmp_path, sync_app)
    rec = run(s, s.cases()[1])
    assert rec.output == "it is 1" and rec.task.output == "it is 1" and rec.task.error is None
    assert rec.scores[0].score == 1.0 and rec.scores[0].passed is True
    s2 = suite(tmp_path, async_app)
    rec2 = run(s2, s2.cases()[0])
    assert rec2.scores[0].score == 0.0 and rec2.scores[0].passed is False
    assert rec2.task.contexts == ["a passage"] and rec2.context == "[1] a passage"
    assert rec2.task.completion_tokens == 2 and rec2.task.latency_s >= 0


def test_a_task_exception_is_a_task_error_and_nothing_is_scored(tmp_path):
    def broken(case):
        raise RuntimeError("the vector store is down")

    s = suite(tmp_path, broken)
    rec = run(s, s.cases()[0])
    assert rec.task.error == "RuntimeError: the vector store is down"
    assert rec.scores == [] and rec.output is None


def test_a_task_that_returns_the_wrong_type_names_the_case_and_the_type(tmp_path):
    s = suite(tmp_path, lambda case: {"answer": "x"})
    rec = run(s, s.cases()[2])
    assert rec.task.error == "task returned dict for case 'q2'; return a str or a TaskOutput"


def test_a_slow_task_times_out(tmp_path):
    async def slow(case):
        await asyncio.sleep(5)
        return "late"

    s = suite(tmp_path, slow, task_timeout_s=0.05)
    rec = run(s, s.cases()[0])
    assert rec.task.error == "timed out after 0.05 s" and rec.scores == []


def test_execute_runs_a_blocking_task_off_the_event_loop():
    import time

    def blocking(case):
        time.sleep(0.2)
        return "done"

    async def both():
        t0 = time.perf_counter()
        results = await asyncio.gather(*(execute(Task(blocking), Case(str(i), "x"), timeout_s=5) for i in range(4)))
        return results, time.perf_counter() - t0

    results, took = asyncio.run(both())
    assert [r.output.text for r in results] == ["done"] * 4
    assert took < 0.6  # four 0.2 s tasks overlapped in threads instead of running one after another


def test_task_fingerprints_change_with_the_definition():
    a = PromptTask("Summarise: {input}", model="local", version="1")
    assert a.fingerprint == PromptTask("Summarise: {input}", model="local", version="1").fingerprint
    assert a.fingerprint != PromptTask("Summarise briefly: {input}", model="local", version="1").fingerprint
    assert a.fingerprint != PromptTask("Summarise: {input}", model="openai:gpt-4o-mini", version="1").fingerprint
    assert Task(len, version="1").fingerprint != Task(len, version="2").fingerprint


def test_prompt_task_template_errors_are_clear():
    with pytest.raises(TaskError, match="not a valid format string"):
        PromptTask("Summarise {input")
    with pytest.raises(TaskError, match="case '1' has no field 'topic'"):
        PromptTask("About {topic}: {input}").render(Case("1", "x"))


def _counting_client(calls: list[str]):
    def reply(req):
        calls.append(req.messages[-1].content)
        return Completion(text=" answer", provider="fake", model="fake-app", texts=(" answer",))
    return FakeFunctionProvider(reply, model="fake-app")


def test_task_model_calls_bypass_the_cache_unless_the_suite_opts_in(tmp_path, monkeypatch):
    from experiments import task as task_mod
    from judges.cache import CallCache

    calls: list[str] = []
    provider = _counting_client(calls)
    cache = CallCache(str(tmp_path / "cache.sqlite"))
    monkeypatch.setattr(task_mod, "_CLIENTS", {
        ("fake", False): ModelClient(provider, trace=False),
        ("fake", True): ModelClient(provider, cache=cache, trace=False)})
    for cache_task, expected_calls in ((False, 2), (True, 1)):
        calls.clear()
        s = suite(tmp_path, PromptTask("Q: {input}", model="fake"), cache_task=cache_task)
        for _ in range(2):
            rec = run(s, s.cases()[0])
            assert rec.output == "answer"
        assert len(calls) == expected_calls, f"cache_task={cache_task}"


def test_a_suite_without_a_task_needs_outputs_in_every_row(tmp_path):
    data = tmp_path / "qa.jsonl"
    data.write_text(json.dumps({"id": "q1", "question": "x?", "reference": "y"}) + "\n")
    s = EvalSuite("fixed", str(data), "rag", scorers=(TokenF1(),))
    with pytest.raises(TaskError, match=r"no task, so every row must carry an output .* \['q1'\]"):
        s.cases()
