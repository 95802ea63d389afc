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
    # issue 23, finding 7: the kinds the first corpus missed
    ("pay to GB29 NWBK 6016 1331 9268 19 today", ["NWBK", "6016 1331", "9268 19", "GB29"]),
    ("iban GB29NWBK60161331926819.", ["GB29NWBK60161331926819", "60161331"]),
    ("IBAN: DE89 3704 0044 0532 0130 00 (Sparkasse)", ["3704 0044", "0532 0130"]),
    ("FR: FR1420041010050500013M02606", ["FR1420041010050500013M02606"]),
    ("stripe sk_live_4eC39HqLyjWDarjtT1zdp7dc here", ["sk_live_", "4eC39HqLyjWDarjtT1zdp7dc"]),
    ("restricted rk_live_51HxYzAbCdEfGhIjKlMnOpQr", ["rk_live_", "51HxYzAbCd"]),
    ("HF_TOKEN hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567", ["hf_AbCdEf", "01234567"]),
    ("post to https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
     ["hooks.slack.com/services", "T00000000", "XXXXXXXXXXXX"]),
    ("the key is wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY ok", ["wJalrXUtnFEMI", "bPxRfiCYEXAMPLEKEY"]),
    ("AWS secret key is je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", ["je7MtGbClwBF", "h3yCo8nvb"]),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF9pQz0BCAC7w9GxYz\n=AbCd\n-----END PGP PRIVATE KEY BLOCK-----",
     ["lQOYBF9pQz0BCAC7w9GxYz", "=AbCd"]),
    ("schreib an jürgen.müller@straße.de", ["jürgen", "müller@", "straße.de"]),
    ("почта: иван@пример.рф", ["иван", "пример.рф"]),
    ("NI number AB 12 34 56 C on file", ["12 34 56", "AB 12"]),
    ("nino: JG103759A", ["JG103759A", "103759"]),
    ("born on 12 March 1985 in Leeds", ["12 March 1985", "March 1985"]),
    ("DOB: 1985-03-12", ["1985-03-12"]),
    ("date of birth 03/12/1985", ["03/12/1985"]),
    ("she was born March 12, 1985", ["March 12, 1985"]),
    ("client 203.0.113.42 logged in from 10.1.2.3", ["203.0.113.42", "10.1.2.3"]),
    ("SSN 123-45-6789", ["123-45-6789", "6789"]),
    ("social security number: 123 45 6789", ["123 45 6789"]),
    ("ssn 078-05-1120 on the form", ["078-05-1120"]),
    ("api key: 0123456789abcdef0123456789abcdef", ["0123456789abcdef", "89abcdef"]),
    ("API-Key = 9f86d081884c7d659a2feaa0c55ad015", ["9f86d081884c7d659a2feaa0c55ad015", "a0c55ad015"]),
]

#: which mask each new kind gets (a kind is masked as itself, not by accident as another)
KINDS: list[tuple[str, str]] = [
    ("GB29 NWBK 6016 1331 9268 19", "[IBAN]"),
    ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "[API_KEY]"),
    ("rk_live_51HxYzAbCdEfGhIjKlMnOpQr", "[API_KEY]"),
    ("hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567", "[API_KEY]"),
    ("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX", "[SLACK_WEBHOOK]"),
    ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "[AWS_SECRET]"),
    ("-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF9\n-----END PGP PRIVATE KEY BLOCK-----", "[PRIVATE_KEY]"),
    ("jürgen.müller@straße.de", "[EMAIL]"),
    ("AB 12 34 56 C", "[NI_NUMBER]"),
    ("DOB: 1985-03-12", "DOB: [DOB]"),
    ("203.0.113.42", "[IP]"),
    ("123-45-6789", "[SSN]"),
    ("api key: 0123456789abcdef0123456789abcdef", "api key: [SECRET]"),
]

KEPT = [
    "The meeting is on 2024-05-17 at 10:30.",
    "Invoice 1234 5678 9012 3456 was paid.",  # 16 digits but fails the Luhn check
    "pi is 3.14159265 and e is 2.71828",
    "We sold 12,500 units in 2023.",
    "Order #98765 ships in 3 days.",
    "Use version 20.26.1 of the server.",
    # issue 23: an ordinary-text corpus the new kinds must leave alone (ids, numbers, dates of events in results)
    "The treaty was signed on 12 March 1985 and took effect on 1985-06-01.",  # dates of events: no birth context
    "The museum was founded in 1891; its founder was born in Leeds.",
    "Run 20261130-041034-2b0cec finished at 2026-11-30T04:10:34+0000 in 12.5 s.",
    "commit 3f2a9c1b8e7d6c5b4a3928171615141312111009 on branch main",  # a SHA-1: lowercase hex, kept
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "case id 550e8400-e29b-41d4-a716-446655440000",
    "Upgrade to version 1.2.3.4 before Friday; v10.0.0.1 is older.",  # a dotted quad after "version"/"v"
    "See section 4.2.1.3 of the spec and § 1.1.1.1.",
    "Python 3.11.4 and numpy 1.26.4 were installed.",
    "The server listens on 127.0.0.1:6006 and 0.0.0.0:8080.",  # loopback and "any" are no one's address
    "Scores: 0.85 ± 0.03 (95% CI 0.79-0.91), p = 0.0312, kappa 0.72.",
    "Revenue was $1,234,567.89 in Q3 and EUR 2.5m in Q4.",
    "Model card: meta-llama/Llama-3.1-8B-Instruct, 8,030,261,248 parameters.",
    "Part number 000-12-3456 and 900-12-3456 are stock codes.",  # never-issued SSN areas
    "The file is src/components/Button2/index/File1234abcd.tsx in the repo.",
    "GB and DE teams met; ticket AB-1234 was closed.",
    "Chapter 12, pages 110-145; ISO 8601 dates like 2024-01-31.",
    "The secret is out and the password reset page works.",
    "Email support via the form; @alice mentioned it in #general.",
    "Dates: 03/12/2024, 12.03.2024, March 12, 2024 (the launch).",
    "HTTP 404 at 10:30:45 UTC, retried 3 times, latency 123 ms.",
    "Version strings: 2.0.0-rc.1, 1.0.0+build.5, 4.4.0.0.1",
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


@pytest.mark.parametrize(("text", "masked"), KINDS, ids=[m for _, m in KINDS])
def test_each_kind_is_masked_as_itself(text: str, masked: str) -> None:
    assert tracing.Redactor().redact(text) == masked


def test_identifier_values_get_a_pseudonym_only_for_precise_kinds() -> None:
    """Issue 23: ``case_id``/``id`` values are masked too (e-mails, keys...), yet stay unique and joinable; a run id
    or a numeric id that only looks like a phone number or a card is kept."""
    red = tracing.Redactor()
    tree = {"case_id": "bob@corp.com", "id": "alice@corp.com", "run_id": "20261130-041034-2b0cec",
            "reviewers": ["carol@corp.com", "dan"], "source_id": "4111111111111111", "input": "from bob@corp.com",
            "metadata": {"user_id": "bob@corp.com", "id": "x-1"}}
    out = red.redact_tree(tree)
    assert "corp.com" not in repr(out)
    assert out["case_id"].startswith("[EMAIL]#") and out["id"].startswith("[EMAIL]#")
    assert out["case_id"] != out["id"] and red.redact_tree(tree)["case_id"] == out["case_id"]
    assert out["run_id"] == "20261130-041034-2b0cec" and out["source_id"] == "4111111111111111"
    assert out["reviewers"][1] == "dan" and out["reviewers"][0].startswith("[EMAIL]#")
    assert out["input"] == "from [EMAIL]" and out["metadata"] == {"user_id": "[EMAIL]", "id": "x-1"}


def test_span_bodies_mask_the_new_kinds() -> None:
    """Issue 23: the OTLP exporter's copy of a span carries none of the kinds the first corpus missed."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    provider, exporter = TracerProvider(), InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(tracing.redaction.RedactingSpanExporter(exporter)))
    body = " | ".join(text for text, _ in KINDS)
    with tracing.chain_span("chain", input=body, tracer=provider.get_tracer("t")) as span:
        span.set_attributes({"output.value": body})
    [span] = exporter.get_finished_spans()
    text = repr(dict(span.attributes or {}))
    for original, _ in KINDS:
        assert original not in text
    for leak in ("sk_live_", "hf_AbCd", "hooks.slack.com", "NWBK", "straße", "203.0.113.42", "123-45-6789"):
        assert leak not in text
    provider.shutdown()


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
    # the phone rule leaves a digit run that goes on as a token alone (issue 23); the skip key holds either way
    assert red.redact("20261130-041034-2b0cec") == "20261130-041034-2b0cec"
    out, changed = red.redact_attributes([("eval.run_id", "20261130-041034-2b0cec"), ("input.value", "+1 (415) 555-2671")])
    assert out["eval.run_id"] == "20261130-041034-2b0cec" and "555-2671" not in out["input.value"] and changed
