"""The one annotation writer: the naming rule, batches, retry to a deadline (a fake Phoenix: httpx.MockTransport)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

import tracing
from experiments.record import Score
from tracing.annotations import verdict_annotation

SPAN = "0123456789abcdef"


class FakePhoenix:
    """A fake of Phoenix's ``POST /v1/span_annotations``: answers ``fail`` first (status codes, or 0 for a refused
    connection), then 200 with one id per annotation; records each request's items."""

    def __init__(self, fail: list[int] | None = None) -> None:
        self.fail = list(fail or [])
        self.requests: list[list[dict[str, Any]]] = []
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/span_annotations"
        if self.fail:
            status = self.fail.pop(0)
            if status == 0:
                raise httpx.ConnectError("connection refused", request=request)
            return httpx.Response(status, text="not yet", request=request)
        data = json.loads(request.content)["data"]
        self.requests.append(data)
        return httpx.Response(200, json={"data": [{"id": f"a{len(self.requests)}-{i}"} for i in range(len(data))]})


def test_the_naming_rule_name_is_the_criterion_identifier_the_source_kind_who_decided() -> None:
    judge = Score(scorer="pointwise:faithfulness", criterion="faithfulness", kind="judge", score=4.2, passed=True,
                  threshold=3.0, label="4", judge_model="m", prob_source="exact")
    scorer = Score(scorer="token_f1", criterion="token_f1", kind="scorer", score=0.5)
    failed = Score(scorer="pointwise:faithfulness", criterion="faithfulness", kind="judge", failure="no label",
                   flags=["not_evaluable"])
    a, b, c = (s.annotation(SPAN, source=src) for s, src in ((judge, "ci"), (scorer, "monitor"), (failed, "span_eval")))
    assert (a.name, a.identifier, a.annotator_kind, a.score) == ("faithfulness", "ci", "LLM", 4.2)
    assert a.metadata is not None and a.metadata["source"] == "ci" and a.metadata["passed"] is True
    assert (b.name, b.identifier, b.annotator_kind) == ("token_f1", "monitor", "CODE")
    # a failure is never a score: its label says what happened and the reason is the explanation
    assert (c.score, c.label, c.explanation) == (None, "not_evaluable", "no label")
    human = verdict_annotation(SPAN, criterion="faithfulness", source="human", kind="HUMAN", score=5)
    assert (human.name, human.identifier, human.annotator_kind) == ("faithfulness", "human", "HUMAN")
    with pytest.raises(tracing.AnnotationError, match="source 'cron' is not one of"):
        verdict_annotation(SPAN, criterion="x", source="cron", kind="LLM")


def test_batches_and_a_phoenix_that_comes_back_within_the_deadline() -> None:
    fake = FakePhoenix(fail=[0, 404, 503])  # refused, span not stored yet, overloaded: then fine
    anns = [verdict_annotation(SPAN, criterion=f"c{i}", source="ci", kind="CODE", score=i) for i in range(5)]
    waits: list[float] = []
    ids = tracing.annotate_spans(anns, endpoint="http://phoenix.test", batch=2, retry_for_s=60,
                                 transport=fake.transport, sleep=waits.append)
    assert [len(r) for r in fake.requests] == [2, 2, 1] and len(ids) == 5
    assert [item["name"] for r in fake.requests for item in r] == [f"c{i}" for i in range(5)]
    assert len(waits) == 3 and waits == sorted(waits)  # backoff grows


def test_a_phoenix_still_down_at_the_deadline_is_an_error_that_says_what_was_written() -> None:
    anns = [verdict_annotation(SPAN, criterion="c", source="ci", kind="CODE", score=1)] * 3
    first = FakePhoenix()
    # the first batch goes through, then Phoenix refuses every attempt until the (zero) budget is spent
    calls = {"n": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            return first.handle(request)
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(tracing.AnnotationError, match="cannot reach Phoenix.*1 of 3 written before it"):
        tracing.annotate_spans(anns, endpoint="http://phoenix.test", batch=1, retry_for_s=0,
                               transport=httpx.MockTransport(handle), sleep=lambda s: None)


def test_a_refusal_that_cannot_pass_is_not_retried() -> None:
    fake = FakePhoenix(fail=[422, 422, 422])
    waits: list[float] = []
    with pytest.raises(tracing.AnnotationError, match="HTTP 422"):
        tracing.annotate_spans([verdict_annotation(SPAN, criterion="c", source="ci", kind="CODE", score=1)],
                               endpoint="http://phoenix.test", retry_for_s=60, transport=fake.transport,
                               sleep=waits.append)
    assert waits == [] and len(fake.fail) == 2


def test_a_reply_that_is_not_phoenixs_json_is_an_annotation_error_not_retried() -> None:
    waits: list[float] = []
    html = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(tracing.AnnotationError, match="not Phoenix's JSON"):
        tracing.annotate_spans([verdict_annotation(SPAN, criterion="c", source="ci", kind="CODE", score=1)],
                               endpoint="http://phoenix.test", retry_for_s=60, transport=html, sleep=waits.append)
    assert waits == []
