"""Masking of personal data and secrets in span attributes before they leave the process (GDPR).

:class:`Redactor` applies an ordered list of :class:`RedactionRule` to strings.
:class:`RedactingSpanExporter` (used by :func:`tracing.setup`) masks spans on the export thread
just before they are serialised; :class:`RedactingSpanProcessor` masks them when they end, for
processors you attach yourself. Either way, only the masked copy leaves the process.
All patterns are anchored by look-behinds so a long run of text is scanned in linear time.

Default rules, in order (the order matters: a card number must be masked before the phone rule
could eat part of it): private keys, bearer tokens, JWTs, vendor API keys (``sk-...``, AWS
``AKIA...``/``ASIA...`` and ``aws_secret_access_key=...``, GitHub, Google, Slack), e-mail addresses,
payment card numbers (13–19 digits that pass the Luhn check, so invoice numbers survive), and
phone numbers (international ``+..`` forms and North-American/European national forms).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum used by payment cards."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else match.group(0)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}[./-]\d{2}[./-]\d{4}")


def _mask_phone(match: re.Match[str]) -> str:
    # Phone numbers have 9-15 digits (E.164 caps at 15); shorter runs are amounts, years, counts,
    # and dates have their own shape, so both are kept readable.
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    if text.startswith("+"):
        return "[PHONE]" if 8 <= digits <= 15 else text
    return "[PHONE]" if 9 <= digits <= 15 and not _DATE.fullmatch(text) else text


@dataclass(frozen=True)
class RedactionRule:
    """A named pattern and its replacement (a string, or a function of the match)."""

    name: str
    pattern: re.Pattern[str]
    replacement: str | Callable[[re.Match[str]], str]
    trigger: re.Pattern[str] | None = None  # a cheap pre-check; the rule is skipped when it finds nothing


def _rule(
    name: str,
    regex: str,
    replacement: str | Callable[[re.Match[str]], str],
    flags: int = 0,
    trigger: str | None = None,
) -> RedactionRule:
    return RedactionRule(
        name, re.compile(regex, flags), replacement, re.compile(trigger) if trigger else None
    )


DEFAULT_RULES: tuple[RedactionRule, ...] = (
    _rule(
        "private_key",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
        "[PRIVATE_KEY]",
        re.DOTALL,
        "PRIVATE KEY",
    ),
    _rule(
        "bearer",
        r"\b(Bearer|Token)\s+[A-Za-z0-9._~+/=-]{8,}",
        r"\1 [TOKEN]",
        re.IGNORECASE,
        "(?i)bearer|token",
    ),
    _rule("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}", "[JWT]", 0, "eyJ"),
    _rule("api_key", r"\b(?:sk|pk|rk)-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_-]{16,}", "[API_KEY]", 0, "[spr]k-"),
    _rule(
        "aws_access_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b", "[AWS_KEY]", 0, "A[KSGIR][IPDO]A"
    ),
    _rule(
        "aws_secret",
        r"(aws_secret_access_key|aws_secret|secret_access_key)(\s*[:=]\s*[\"']?)[A-Za-z0-9/+=]{30,}",
        r"\1\2[AWS_SECRET]",
        re.IGNORECASE,
        "(?i)secret",
    ),
    _rule(
        "github_token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})",
        "[API_KEY]",
        0,
        "gh[pousr]_|github_pat_",
    ),
    _rule("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}", "[API_KEY]", 0, "AIza"),
    _rule("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", "[API_KEY]", 0, "xox"),
    _rule(
        "generic_secret",
        r"\b(api[_-]?key|secret|password|passwd|token)(\s*[:=]\s*[\"']?)[^\s\"',;]{8,}",
        r"\1\2[SECRET]",
        re.IGNORECASE,
        "(?i)api[_-]?key|secret|passw|token",
    ),
    _rule(
        "email",
        r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
        "[EMAIL]",
        0,
        "@",
    ),
    _rule("card", r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])", _mask_card, 0, r"\d"),
    _rule(
        "phone",
        r"(?<![\w+.,])(?:\+\d{1,3}[ .-]?(?:\d[ .-])?)?(?:\(\d{1,5}\)[ .-]?)?\d{2,5}(?:[ .-]?\d{2,5}){1,4}(?![\d])",
        _mask_phone,
        0,
        r"\d",
    ),
)


_MEMO_MAX_CHARS = 4096
_MEMO_ENTRIES = 1024


def _apply(rules: tuple[RedactionRule, ...], text: str) -> str:
    for rule in rules:
        if rule.trigger is None or rule.trigger.search(text):
            text = rule.pattern.sub(rule.replacement, text)
    return text


#: Keys whose values are identifiers, not free text: ``Redactor.redact_tree`` leaves them alone.
IDENTIFIER_KEYS = frozenset({
    "id", "case_id", "run_id", "baseline_run_id", "trace_id", "span_id", "parent_id", "baseline_trace_id",
    "source_id", "attack_id", "suite", "scorer", "criterion", "kind", "judge_model", "model", "provider",
    "prob_source", "label", "flags", "span_kind", "status_code", "start_time", "end_time", "role", "stop_reason",
    "index", "turn", "queue", "queues", "reviewer", "reviewers", "sources", "labelled_at", "dataset", "dataset_hash",
    "fingerprint", "version", "eval.run_id",
})


@dataclass(frozen=True)
class Redactor:
    """Applies ``rules`` in order to every string; ``skip_keys`` are attribute keys left untouched."""

    rules: tuple[RedactionRule, ...] = DEFAULT_RULES
    # identifiers the harness writes itself: a run id such as "20261130-041034-2b0cec" looks like a phone number
    skip_keys: frozenset[str] = frozenset({"eval.run_id"})

    def __post_init__(self) -> None:
        # Prompts repeat (system prompts, rubrics): remember recent results, keyed by the text only.
        object.__setattr__(self, "_memo", {})

    def redact(self, text: str) -> str:
        """Return ``text`` with every rule's matches replaced."""
        if len(text) > _MEMO_MAX_CHARS:
            return _apply(self.rules, text)
        memo: dict[str, str] = self._memo  # type: ignore[attr-defined]
        out = memo.get(text)
        if out is None:
            out = _apply(self.rules, text)
            if len(memo) >= _MEMO_ENTRIES:
                memo.clear()  # bounded memory; refills from the current traffic
            memo[text] = out
        return out

    def redact_value(self, value: Any) -> Any:
        """Redact a span attribute value: strings and sequences of strings; numbers pass through."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, (tuple, list)) and value and isinstance(value[0], str):
            return tuple(self.redact(v) if isinstance(v, str) else v for v in value)
        return value

    def redact_tree(self, value: Any, skip_keys: frozenset[str] = IDENTIFIER_KEYS) -> Any:
        """Every string in a nested structure of dicts and lists (a results record, an exported row) redacted,
        except the values of ``skip_keys``: identifiers the harness or the dataset wrote, which a rule could
        take for a phone number (a run id) and which must stay joinable. Numbers and keys pass through."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, (list, tuple)):
            return [self.redact_tree(v, skip_keys) for v in value]
        if isinstance(value, dict):
            return {k: v if k in skip_keys else self.redact_tree(v, skip_keys) for k, v in value.items()}
        return value

    def redact_attributes(self, attributes: Iterable[tuple[str, Any]]) -> tuple[dict[str, Any], bool]:
        """Return the redacted attributes and whether anything changed."""
        out: dict[str, Any] = {}
        changed = False
        for key, value in attributes:
            new = value if key in self.skip_keys else self.redact_value(value)
            changed = changed or new != value
            out[key] = new
        return out, changed


class RedactingSpanProcessor(SpanProcessor):
    """Forwards each ended span to ``inner`` as a copy whose strings went through ``redactor``.

    Masked: attribute values, event attributes (exception messages and stack traces) and the
    status description. Span names are left alone: they are code identifiers chosen by the
    developer, and masking them would break grouping in Phoenix.
    """

    def __init__(self, inner: SpanProcessor, redactor: Redactor | None = None) -> None:
        self._inner = inner
        self._redactor = redactor or Redactor()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context=parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self._inner.on_end(redact_span(span, self._redactor))

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def redact_span(span: ReadableSpan, redactor: Redactor) -> ReadableSpan:
    """Return ``span`` itself when nothing needs masking, else a masked copy."""
    r = redactor
    attributes, changed = r.redact_attributes((span.attributes or {}).items())
    events: Sequence[Event] = span.events
    new_events = []
    for event in span.events:
        ev_attrs, ev_changed = r.redact_attributes((event.attributes or {}).items())
        new_events.append(Event(event.name, ev_attrs, event.timestamp) if ev_changed else event)
        changed = changed or ev_changed
    status = span.status
    if status.description:
        description = r.redact(status.description)
        if description != status.description:
            status = Status(status.status_code, description)
            changed = True
    if not changed:
        return span
    events = new_events
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class RedactingSpanExporter(SpanExporter):
    """Masks each span just before ``inner`` exports it, on the export thread.

    This is what :func:`tracing.setup` uses: the masking cost (about a microsecond per kilobyte of
    text per rule) is paid by the background exporter instead of the application's request path,
    and nothing unmasked leaves the process. Use :class:`RedactingSpanProcessor` instead to mask
    for other processors (e.g. a console exporter) you attach yourself.
    """

    def __init__(self, inner: SpanExporter, redactor: Redactor | None = None) -> None:
        self._inner = inner
        self._redactor = redactor or Redactor()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._inner.export([redact_span(span, self._redactor) for span in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)
