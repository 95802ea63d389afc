"""Redaction corpus: every secret and personal datum is masked, ordinary text is kept."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider

import tracing
from tracing.redaction import luhn_valid

# (text, the substrings that must not survive)
LEAKS: list[tuple[str, list[str]]] = [
    ("contact me at john.smith+news@mail.example.co.uk please", ["john.smith", "example.co.uk"]),
    ("UPPER.Case_99@Sub-Domain.ORG", ["UPPER.Case_99", "Sub-Domain.ORG"]),
    ("visa 4111 1111 1111 1111 exp 12/29", ["4111 1111 1111 1111", "1111 1111"]),
    ("mc 5555-5555-5555-4444", ["5555-5555-5555-4444", "5555-4444"]),
    ("amex 378282246310005 thanks", ["378282246310005"]),
    ("card:4012888888881881.", ["4012888888881881"]),
    ("discover 6011 1111 1111 1117", ["6011 1111 1111 1117"]),
    ("call +1 (415) 555-2671 today", ["555-2671", "415"]),
    ("UK office +44 20 7946 0958", ["7946 0958", "+44"]),
    ("fr: +33 1 42 68 53 00", ["42 68 53 00"]),
    ("de: 030 12345678", ["12345678"]),
    ("us: (212) 555-0199", ["555-0199"]),
    ("us: 212-555-0199", ["212-555-0199"]),
    ("mobile 07700 900123", ["900123"]),
    ("OPENAI_API_KEY=sk-proj-Abc123Def456Ghi789Jkl012Mno345", ["Abc123Def456", "sk-proj"]),
    ("old key sk-1234567890abcdefghijklmnopqrstuvwxyzABCD", ["1234567890abcdef"]),
    ("anthropic sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv", ["AbCdEfGhIjKl"]),
    (
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcDEF123_-x",
        ["eyJhbGciOiJIUzI1NiJ9", "abcDEF123"],
    ),
    ("header bearer abcdef0123456789abcdef", ["abcdef0123456789"]),
    ("aws AKIAIOSFODNN7EXAMPLE in config", ["AKIAIOSFODNN7EXAMPLE"]),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ["wJalrXUtnFEMI", "EXAMPLEKEY"]),
    ("gh token ghp_abcdefghijklmnopqrstuvwxyz0123456789", ["ghp_abcdefghij"]),
    ("google AIzaSyA-1234567890abcdefghijklmnopqrstu", ["AIzaSyA-123"]),
    ("slack xoxb-1234567890-abcdefghij", ["xoxb-1234567890"]),
    ("password: hunter2hunter2", ["hunter2hunter2"]),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
        ["MIIEowIBAAKCAQEA"],
    ),
    ("two: a@b.io and c@d.io", ["a@b.io", "c@d.io"]),
]

KEPT = [
    "The meeting is on 2024-05-17 at 10:30.",
    "Invoice 1234 5678 9012 3456 was paid.",  # 16 digits but fails the Luhn check
    "pi is 3.14159265 and e is 2.71828",
    "We sold 12,500 units in 2023.",
    "Order #98765 ships in 3 days.",
    "Use version 20.26.1 of the server.",
]


@pytest.mark.parametrize(("text", "secrets"), LEAKS, ids=[t[:24] for t, _ in LEAKS])
def test_every_secret_in_the_corpus_is_masked(text: str, secrets: list[str]) -> None:
    masked = tracing.Redactor().redact(text)
    for secret in secrets:
        assert secret not in masked, f"{secret!r} leaked from {text!r}: {masked!r}"
    assert "[" in masked


@pytest.mark.parametrize("text", KEPT)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert tracing.Redactor().redact(text) == text


def test_luhn_reference_values() -> None:
    assert luhn_valid("79927398713")  # the textbook example
    assert not luhn_valid("79927398710")
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_processor_masks_attributes_events_and_status() -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider.add_span_processor(tracing.RedactingSpanProcessor(SimpleSpanProcessor(exporter)))
    tracer = provider.get_tracer("t")
    with pytest.raises(ValueError):  # noqa: SIM117 - the nesting is the span tree under test
        with tracing.chain_span(
            "chain", input="from bob@corp.com", user_id="bob@corp.com", tracer=tracer
        ) as ch:
            ch.set_attributes({"tags": ("ok", "AKIAIOSFODNN7EXAMPLE"), "n": 5})
            raise ValueError("card 4111111111111111 declined")
    [span] = exporter.get_finished_spans()
    text = repr(dict(span.attributes or {})) + repr([dict(e.attributes or {}) for e in span.events])
    text += span.status.description or ""
    for leak in ("bob@corp.com", "AKIAIOSFODNN7EXAMPLE", "4111111111111111"):
        assert leak not in text
    assert span.attributes["user.id"] == "[EMAIL]"
    assert span.attributes["tags"] == ("ok", "[AWS_KEY]") and span.attributes["n"] == 5
    assert span.status.description == "ValueError: card [CARD] declined"
    provider.shutdown()


def test_skip_keys_and_clean_spans_pass_through_unchanged() -> None:
    from opentelemetry.sdk.trace import ReadableSpan

    from tracing.redaction import redact_span

    clean = ReadableSpan("s", attributes={"a": "nothing to hide"})
    assert redact_span(clean, tracing.Redactor()) is clean
    keep = ReadableSpan("s", attributes={"eval.case_id": "x@y.com", "other": "x@y.com"})
    out = redact_span(keep, tracing.Redactor(skip_keys=frozenset({"eval.case_id"})))
    assert out.attributes == {"eval.case_id": "x@y.com", "other": "[EMAIL]"}


def test_redaction_can_be_turned_off_and_customised() -> None:
    import re

    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    rule = tracing.RedactionRule("ticket", re.compile(r"TICKET-\d+"), "[TICKET]")
    for redact, expected in (
        (False, "a@b.io TICKET-42"),
        (tracing.Redactor(rules=(rule,)), "a@b.io [TICKET]"),
    ):
        provider, exporter = TracerProvider(), InMemorySpanExporter()
        handle = tracing.setup(
            "http://127.0.0.1:9", "p", tracer_provider=provider, redact=redact, exporter=exporter
        )
        with tracing.chain_span("c", input="a@b.io TICKET-42", tracer=handle.tracer):
            pass
        assert handle.force_flush(5)
        assert exporter.get_finished_spans()[-1].attributes["input.value"] == expected
        handle.shutdown()
        provider.shutdown()


def test_the_example_apps_production_log_is_redacted_by_default(tmp_path) -> None:
    """Every secret of the corpus, asked as a question and echoed in the reply, stays out of the JSONL log."""
    import asyncio
    import importlib.util
    import json
    import sys
    from pathlib import Path

    from judges import ModelClient
    from judges.providers.fakes import FakeFunctionProvider

    app_path = Path(__file__).resolve().parents[2] / "examples" / "qa_app.py"
    spec = importlib.util.spec_from_file_location("qa_app_redaction", app_path)
    assert spec is not None and spec.loader is not None
    qa = importlib.util.module_from_spec(spec)
    sys.modules["qa_app_redaction"] = qa
    spec.loader.exec_module(qa)
    echo = ModelClient(FakeFunctionProvider(lambda req: "You said: " + req.messages[-1].content.rsplit("Q: ", 1)[-1],
                                            model="fake-echo"), trace=False)

    def logged(redact: bool) -> str:
        log = tmp_path / f"prod-{redact}.jsonl"
        app = qa.QAApp(echo, qa.TfidfRetriever(qa.load_corpus()), log, redact_log=redact)

        async def ask() -> None:
            for i, (text, _) in enumerate(LEAKS):
                await app.answer(text, topic="t", session_id=f"s{i}", user_id="u")

        asyncio.run(ask())
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        assert len(rows) == len(LEAKS)
        # the free-text fields only: a timestamp, a latency or a trace id may contain "415" by chance
        return "\n".join(f"{row['prompt']}\n{row['response']}" for row in rows)

    redacted = logged(True)
    leaks = [s for _, secrets in LEAKS for s in secrets if s in redacted]
    assert leaks == []
    verbatim = logged(False)  # the explicit opt-out keeps them, so the check above can fail
    assert all(any(s in verbatim for s in secrets) for _, secrets in LEAKS)


def test_the_harness_run_id_is_not_taken_for_a_phone_number() -> None:
    red = tracing.Redactor()
    assert red.redact("20261130-041034-2b0cec") != "20261130-041034-2b0cec"  # the pattern would mask it...
    out, changed = red.redact_attributes([("eval.run_id", "20261130-041034-2b0cec"), ("input.value", "+1 (415) 555-2671")])
    assert out["eval.run_id"] == "20261130-041034-2b0cec" and "555-2671" not in out["input.value"] and changed
