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

import hashlib
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


def iban_valid(text: str) -> bool:
    """True when ``text`` (spaces allowed) is an IBAN by its shape and the ISO 13616 mod-97 check digits."""
    s = text.replace(" ", "").upper()
    if not (15 <= len(s) <= 34 and s[:2].isalpha() and s[2:4].isdigit() and s.isalnum() and s.isascii()):
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


def _mask_iban(match: re.Match[str]) -> str:
    # the pattern may have taken a trailing group of the next word: try the longest prefix that checks out
    text = match.group(0)
    parts = text.split(" ")
    for n in range(len(parts), 0, -1):
        head = " ".join(parts[:n])
        if iban_valid(head):
            return "[IBAN]" + text[len(head):]
    return text


def _mask_ssn(match: re.Match[str]) -> str:
    area, group, serial = match.group(1), match.group(2), match.group(3)
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return match.group(0)  # never issued: a part number, not an SSN
    return "[SSN]"


#: Words before a dotted quad that make it a number of something, not an address ("version 1.2.3.4").
_NOT_AN_ADDRESS = re.compile(
    r"(?:\b(?:versions?|ver\.?|v|release|build|section|sections|chapter|clause|rule|step|item|figure|table|"
    r"article|paragraph|no\.?|number|oid)\s*[:#]?\s*|§\s*)$",
    re.IGNORECASE,
)


def _mask_ipv4(match: re.Match[str]) -> str:
    text = match.group(0)
    if text.startswith("127.") or text == "0.0.0.0":
        return text  # loopback and "any": no one's address
    if _NOT_AN_ADDRESS.search(match.string, max(0, match.start() - 24), match.start()):
        return text
    return "[IP]"


def _mask_aws_secret(match: re.Match[str]) -> str:
    # A bare 40-character run is an AWS secret key only when it looks random: upper, lower and digits, and no
    # "/"-separated part that is a plain lowercase word (a path such as src/components/Button2/...). A git
    # commit (40 lowercase hex) has no upper case.
    text = match.group(0)
    if not (any(c.isupper() for c in text) and any(c.islower() for c in text) and any(c.isdigit() for c in text)):
        return text
    parts = text.split("/")
    if any(not p or (p.isalpha() and p.islower()) for p in parts):
        return text
    return "[AWS_SECRET]"


_SSN_SHAPE = re.compile(r"\d{3}-\d{2}-\d{4}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}|\d{2}[./-]\d{2}[./-]\d{4}")


def _mask_phone(match: re.Match[str]) -> str:
    # Phone numbers have 9-15 digits (E.164 caps at 15); shorter runs are amounts, years, counts,
    # and dates have their own shape, so both are kept readable.
    text = match.group(0)
    if _SSN_SHAPE.fullmatch(text):
        return text  # the SSN rule's to decide (a never-issued one is a part number)
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


_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
          r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?")
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_A_DATE = (rf"(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}|\d{{1,2}}[./-]\d{{1,2}}[./-]\d{{2,4}}|{_DAY}\s+(?:of\s+)?{_MONTH},?\s+\d{{4}}"
           rf"|{_MONTH}\s+{_DAY},?\s+\d{{4}})")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"

DEFAULT_RULES: tuple[RedactionRule, ...] = (
    _rule(
        "private_key",
        r"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z ]*PRIVATE KEY(?: BLOCK)?-----|$)",
        "[PRIVATE_KEY]",
        re.DOTALL,
        "PRIVATE KEY",
    ),
    _rule(
        "slack_webhook",
        r"https?://hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/[A-Za-z0-9/_-]+",
        "[SLACK_WEBHOOK]",
        re.IGNORECASE,
        "(?i)hooks\\.slack",
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
    _rule("stripe_key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}", "[API_KEY]", 0, "k_(?:live|test)_"),
    _rule("huggingface_token", r"\bhf_[A-Za-z0-9]{30,}", "[API_KEY]", 0, "hf_"),
    _rule(
        "aws_access_key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b", "[AWS_KEY]", 0, "A[KSGIR][IPDO]A"
    ),
    _rule(
        "aws_secret",
        r"(aws_secret_access_key|aws_secret|secret_access_key|aws[ _]secret(?:[ _]access)?[ _]key)"
        r"(\s*(?:[:=]|\bis\b)\s*[\"']?)[A-Za-z0-9/+=]{30,}",
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
        r"\b(api[_ -]?key|secret|password|passwd|token)(\s*[:=]\s*[\"']?)[^\s\"',;]{8,}",
        r"\1\2[SECRET]",
        re.IGNORECASE,
        "(?i)api[_ -]?key|secret|passw|token",
    ),
    _rule(
        # any script: the local part and the domain may hold non-ASCII letters (RFC 6531), the TLD letters only
        "email",
        r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}",
        "[EMAIL]",
        0,
        "@",
    ),
    _rule(
        "iban",
        r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])",
        _mask_iban,
        0,
        r"[A-Z]{2}\d{2}",
    ),
    _rule(
        # UK National Insurance number: two prefix letters (not D, F, I, Q, U, V; not O second; not BG, GB, KN,
        # NK, NT, TN, ZZ), six digits (grouped in pairs or not), suffix A-D
        "uk_ni_number",
        r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b",
        "[NI_NUMBER]",
        0,
        r"[A-Z]{2} ?\d\d",
    ),
    _rule(
        "ssn_in_context",
        r"\b(SSN|social security(?: number)?|social security no\.?)(\s*[:#]?\s*(?:is\s+)?)\d{3}[ -]?\d{2}[ -]?\d{4}\b",
        r"\1\2[SSN]",
        re.IGNORECASE,
        "(?i)ssn|social security",
    ),
    _rule("ssn", r"(?<![\d-])(\d{3})-(\d{2})-(\d{4})(?![\d-])", _mask_ssn, 0, r"\d{3}-\d{2}-\d{4}"),
    _rule(
        # a date of birth needs its context ("born", "DOB", "date of birth"): other dates are events, kept
        "date_of_birth",
        rf"\b(born(?:\s+on)?|d\.?o\.?b\.?|date\s+of\s+birth|birth\s?date|birthday)(\s*[:=-]?\s*(?:is\s+|on\s+)?)"
        rf"{_A_DATE}",
        r"\1\2[DOB]",
        re.IGNORECASE,
        "(?i)born|d\\.?o\\.?b|birth",
    ),
    _rule(
        # a dotted quad, unless a word before it makes it a number ("version 1.2.3.4", "section 1.2.3.4"),
        # or it is loopback/0.0.0.0; a fifth part or a letter after it makes it something else
        "ipv4",
        rf"(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)",
        _mask_ipv4,
        0,
        r"\d\.\d+\.\d+\.\d",
    ),
    _rule(
        # a bare AWS secret access key: exactly 40 base64 characters that look random (see _mask_aws_secret)
        "aws_secret_bare",
        r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])",
        _mask_aws_secret,
        0,
        r"[A-Za-z0-9/+]{40}",
    ),
    _rule("card", r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])", _mask_card, 0, r"\d"),
    _rule(
        "phone",
        # not a part of a longer token: a run id (20261130-041034-2b0cec), a UUID's last group
        r"(?<![\w+.,])(?<!\w-)(?:\+\d{1,3}[ .-]?(?:\d[ .-])?)?(?:\(\d{1,5}\)[ .-]?)?\d{2,5}(?:[ .-]?\d{2,5}){1,4}(?![\d]|-\w)",
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


#: Rules that read digits by their shape only (a run id looks like a phone number, a 16-digit id may pass Luhn,
#: a fingerprint may be 40 random characters): not applied to identifiers, which only the precise kinds mask.
SHAPE_RULES = frozenset({"phone", "card", "ipv4", "aws_secret_bare", "uk_ni_number", "date_of_birth"})

#: Keys whose values are identifiers, not free text: ``Redactor.redact_tree`` masks them with
#: ``Redactor.redact_identifier`` (the precise kinds only, and a pseudonym that keeps them unique and joinable).
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
        object.__setattr__(self, "_id_rules", tuple(r for r in self.rules if r.name not in SHAPE_RULES))

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

    def redact_identifier(self, value: str) -> str:
        """An identifier (a case id, a reviewer) masked by the precise rules only (e-mails, keys, IBANs, SSNs...;
        not the ones that read digits by shape, see ``SHAPE_RULES``), so a run id or a numeric id is kept. A
        masked one gets a pseudonym, ``[EMAIL]#`` and 10 hex digits of its SHA-256, so two ids stay two and the
        same id is the same pseudonym in every file written."""
        masked = _apply(self._id_rules, value)  # type: ignore[attr-defined]
        if masked == value:
            return value
        return f"{masked}#{hashlib.sha256(value.encode('utf-8')).hexdigest()[:10]}"

    def redact_tree(self, value: Any, skip_keys: frozenset[str] = IDENTIFIER_KEYS) -> Any:
        """Every string in a nested structure of dicts and lists (a results record, an exported row) redacted;
        the values of ``skip_keys`` (identifiers the harness or the dataset wrote, which must stay joinable and
        which a rule could take for a phone number) with ``redact_identifier``. Numbers and keys pass through."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, (list, tuple)):
            return [self.redact_tree(v, skip_keys) for v in value]
        if isinstance(value, dict):
            return {k: self._identifier_value(v) if k in skip_keys else self.redact_tree(v, skip_keys)
                    for k, v in value.items()}
        return value

    def _identifier_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact_identifier(value)
        if isinstance(value, (list, tuple)):
            return [self.redact_identifier(v) if isinstance(v, str) else v for v in value]
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
