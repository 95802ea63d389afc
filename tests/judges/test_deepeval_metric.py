"""Our judges as deepeval metrics: ``deepeval.assert_test`` passes and fails on fake providers, no network.

deepeval is real here (its assert_test, its executor, its metric copying); only the judge model is a fake.
"""

from __future__ import annotations

import asyncio
import math
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

deepeval = pytest.importorskip(
    "deepeval", reason="deepeval is an optional extra: pip install 'evalharness[deepeval]'"
)

from deepeval.metrics.utils import copy_metrics
from deepeval.test_case import LLMTestCase

from judges import Completion, GEval, JudgeError, ModelClient, ModelRequest, PairwiseJudge, PointwiseJudge
from judges.deepeval_metric import TELEMETRY_ENV, JudgeMetric, to_case
from judges.providers import FakeFunctionProvider

LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(scope="module", autouse=True)
def close_deepeval_event_loop() -> Iterator[None]:
    """deepeval's assert_test leaves its own event loop set as the thread's loop; close it when done here,
    or a later ``asyncio.run`` elsewhere orphans it and pytest reports an unclosed loop in another test."""
    yield
    loop = asyncio.get_event_loop_policy().get_event_loop()
    if not loop.is_running() and not loop.is_closed():
        loop.close()
    asyncio.set_event_loop(None)


@pytest.fixture(autouse=True)
def no_outside_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every test here fails if anything tries to connect beyond loopback (telemetry, update checks)."""
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_create = socket.create_connection

    def is_local(address: object) -> bool:
        return isinstance(address, tuple) and str(address[0]) in LOOPBACK or isinstance(address, (str, bytes))

    def guarded_connect(self: socket.socket, address: object) -> object:
        if not is_local(address):
            attempts.append(address)
            raise OSError(f"test forbids network access to {address!r}")
        return real_connect(self, address)

    def guarded_create(address: object, *args: object, **kwargs: object) -> socket.socket:
        if not is_local(address):
            attempts.append(address)
            raise OSError(f"test forbids network access to {address!r}")
        return real_create(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", guarded_create)
    yield attempts
    assert attempts == [], f"network access attempted: {attempts}"


def exact_client(
    weights: Callable[[ModelRequest], dict[str, float]], reason: str = "Because."
) -> ModelClient:
    """A fake judge model with exact label probabilities: ``weights`` maps the request to label weights."""

    def reply(req: ModelRequest) -> Completion:
        if req.labels is None:  # the follow-up call that asks for a reason
            return Completion(text=reason, provider="fake", model="fake-judge", texts=(reason,))
        w = weights(req)
        z = sum(w.values())
        probs = {lab: w.get(lab.strip(), 0.0) / z for lab in req.labels}
        return Completion(
            text=max(probs, key=probs.__getitem__), provider="fake", model="fake-judge", label_probs=probs
        )

    return ModelClient(FakeFunctionProvider(reply, model="fake-judge", exact_label_probs=True), trace=False)


def prompt_of(req: ModelRequest) -> str:
    return "\n".join(m.content for m in req.messages)


RUBRIC = "5: faithful and complete. 1: contradicts the source."


def test_pointwise_metric_passes_and_reports_normalised_score() -> None:
    client = exact_client(lambda req: {"4": 1.0, "5": 3.0})
    metric = JudgeMetric(PointwiseJudge("faithfulness", RUBRIC), client, threshold=0.8)
    case = LLMTestCase(input="Summarise.", actual_output="A summary.")
    deepeval.assert_test(case, [metric])
    # assert_test measures a copy of the metric (deepeval's copy_metrics), so read the numbers from measure()
    # E[score] = 0.25*4 + 0.75*5 = 4.75 on 1..5, i.e. (4.75-1)/4 on deepeval's 0..1 scale
    assert math.isclose(metric.measure(case), 0.9375) and math.isclose(metric.score, 0.9375)
    assert metric.success is True
    assert metric.score_breakdown == pytest.approx({"1": 0, "2": 0, "3": 0, "4": 0.25, "5": 0.75})
    assert "Because." in metric.reason and "exact" in metric.reason
    assert metric.evaluation_model == "fake-judge"


def test_pointwise_metric_fails_assert_test_below_threshold() -> None:
    client = exact_client(lambda req: {"1": 1.0, "2": 1.0})
    metric = JudgeMetric(PointwiseJudge("faithfulness", RUBRIC), client, threshold=0.5)
    # E[score] = 1.5 on 1..5, i.e. 0.125 on 0..1
    with pytest.raises(AssertionError, match=r"pointwise:faithfulness \(score: 0\.125, threshold: 0\.5"):
        deepeval.assert_test(LLMTestCase(input="Summarise.", actual_output="Wrong."), [metric])


def test_geval_metric_sees_every_test_case_field() -> None:
    seen: list[str] = []

    def weights(req: ModelRequest) -> dict[str, float]:
        seen.append(prompt_of(req))
        return {"3": 1.0, "4": 1.0}

    judge = GEval(
        "correctness", "Agrees with the reference.", evaluation_steps=("Compare with the reference.",)
    )
    metric = JudgeMetric(judge, exact_client(weights), threshold=0.6)
    case = LLMTestCase(
        input="Capital of France?",
        actual_output="Paris.",
        expected_output="Paris is the capital.",
        retrieval_context=["France's capital is Paris."],
    )
    deepeval.assert_test(case, [metric])
    assert math.isclose(metric.measure(case), (3.5 - 1) / 4)
    prompt = seen[0]
    for text in (
        "Capital of France?",
        "Paris.",
        "Paris is the capital.",
        "France's capital is Paris.",
        "Compare with",
    ):
        assert text in prompt


def test_pairwise_metric_reads_baseline_from_metadata_and_runs_both_orders() -> None:
    prompts: list[str] = []

    def prefers_detailed(req: ModelRequest) -> dict[str, float]:
        text = prompt_of(req)
        prompts.append(text)
        a_slot = text.split("Response A:")[1].split("Response B:")[0]
        return {"A": 9.0, "B": 1.0} if "detailed" in a_slot else {"A": 1.0, "B": 9.0}

    judge = PairwiseJudge("helpfulness")
    candidate = LLMTestCase(
        input="Explain DNS.", actual_output="A detailed answer.", metadata={"output_b": "Short."}
    )
    metric = JudgeMetric(judge, exact_client(prefers_detailed, reason=""), threshold=0.75)
    deepeval.assert_test(candidate, [metric])
    assert len(prompts) == 2 and prompts[0] != prompts[1]  # (A, B) and (B, A)
    assert (
        metric.measure(candidate) == 1.0 and metric.result is not None and metric.result.details["consistent"]
    )

    worse = LLMTestCase(
        input="Explain DNS.", actual_output="Short.", metadata={"output_b": "A detailed answer."}
    )
    with pytest.raises(AssertionError, match=r"score: 0\.0, threshold: 0\.75"):
        deepeval.assert_test(
            worse, [JudgeMetric(judge, exact_client(prefers_detailed, reason=""), threshold=0.75)]
        )


def test_pairwise_without_baseline_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="metadata=.*'output_b'"):
        to_case(LLMTestCase(input="q", actual_output="a"), pairwise=True)


def test_judge_failure_raises_instead_of_scoring_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    # a provider without logprobs whose replies never contain a label: the judge retries, then fails
    client = ModelClient(FakeFunctionProvider(lambda req: "I cannot grade this."), trace=False)
    metric = JudgeMetric(PointwiseJudge("faithfulness", RUBRIC), client, threshold=0.5)
    case = LLMTestCase(input="q", actual_output="a")
    with pytest.raises(JudgeError, match="no verdict.*I cannot grade this"):
        deepeval.assert_test(case, [metric])
    with pytest.raises(JudgeError, match="no verdict"):
        metric.measure(case)
    assert metric.score is None and metric.error is not None and metric.is_successful() is False

    # with deepeval's ignore-errors switch the failure is recorded on the metric and still fails the test
    from deepeval.utils import set_should_ignore_errors

    set_should_ignore_errors(True)
    try:
        metric = JudgeMetric(PointwiseJudge("faithfulness", RUBRIC), client, threshold=0.5)
        with pytest.raises(AssertionError, match="error: pointwise:faithfulness gave no verdict"):
            deepeval.assert_test(case, [metric])
    finally:
        set_should_ignore_errors(False)


def test_metric_survives_deepeval_copying_and_sync_measure() -> None:
    client = exact_client(lambda req: {"5": 1.0})
    metric = JudgeMetric(PointwiseJudge("faithfulness", RUBRIC), client, threshold=0.9, name="faithful")
    (copy,) = copy_metrics([metric])
    assert copy.client is client and copy.threshold == 0.9 and copy.__name__ == "faithful"
    assert copy.measure(LLMTestCase(input="q", actual_output="a")) == 1.0

    async def inside_a_running_loop() -> float:  # measure() must not try to nest the running loop
        return JudgeMetric(PointwiseJudge("faithfulness", RUBRIC), client).measure(
            LLMTestCase(input="q", actual_output="a")
        )

    # not asyncio.run: that would unset deepeval's loop (see the fixture above)
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(inside_a_running_loop()) == 1.0
    finally:
        loop.close()


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="0..1 scale, got 4"):
        JudgeMetric(PointwiseJudge("x", "y"), threshold=4)
    with pytest.raises(TypeError, match="needs a judge"):
        JudgeMetric("not a judge")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no actual_output"):
        to_case(LLMTestCase(input="q"))


def test_telemetry_is_opted_out() -> None:
    import os

    from deepeval.telemetry import telemetry_opt_out

    for var, value in TELEMETRY_ENV.items():
        assert os.environ[var] == value
    assert telemetry_opt_out() is True


def test_import_judges_does_not_import_deepeval() -> None:
    code = "import sys, judges; assert 'deepeval' not in sys.modules, 'judges imported deepeval'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
