"""Choosing spans of stored traces: span kinds, attribute filters and where a span sits in its trace.

A selector is a list of terms that must all hold. It is written as a short spec (terms separated by spaces,
quoted as in a shell) or built in Python; ``str(selector)`` gives the spec back::

    kind=RETRIEVER has=retrieval.documents           RETRIEVER spans that recorded documents
    kind=LLM after=RETRIEVER                         LLM spans preceded by a retrieval in the same trace
    kind=LLM llm.model_name~gpt-4* !status=ERROR     LLM calls of gpt-4 models that did not fail
    'kind=LLM metadata.topic="space travel"'         quote values with spaces

=========================  ==============================================================================
``kind=LLM[,TOOL...]``     the span kind is one of these (OpenInference kinds, any case)
``ATTR=VALUE``             the attribute equals VALUE (numbers compare as numbers: ``x=1`` matches 1.0)
``has=ATTR``               the attribute is present and not empty (``has=retrieval.documents`` too)
``ATTR~GLOB``              the attribute, as text, matches a shell glob (``*``, ``?``, ``[abc]``)
``ATTR~/REGEX/``           a regular expression is found in the attribute (``/REGEX/i``: any case)
``after=KIND``             a span of KIND started earlier in the same trace (an ancestor, or a span before
                           it; not one of its own descendants)
``under=KIND``             an ancestor (parent, its parent, ...) is of KIND
``!TERM``                  negates a term: ``!has=exception.message``, ``!after=RETRIEVER``
=========================  ==============================================================================

ATTR is a dotted OpenInference attribute name, stored flat or nested (``llm.model_name``,
``metadata.topic``: the JSON ``metadata`` is looked into), or ``name`` / ``status`` for the span's own name
and status (OK, ERROR, UNSET). A bad term is a :class:`SpanSelectorError` naming it and the valid forms.
"""

from __future__ import annotations

import fnmatch
import math
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from openinference.semconv.trace import OpenInferenceSpanKindValues

from tracing.errors import TracingConfigError
from tracing.span_tree import SpanNode, SpanTree

__all__ = ["SPAN_KINDS", "SpanSelector", "SpanSelectorError", "Term", "parse_selector"]

#: The span kinds a selector accepts (OpenInference's, upper case).
SPAN_KINDS: tuple[str, ...] = tuple(k.value for k in OpenInferenceSpanKindValues)

FORMS = ("kind=LLM[,RETRIEVER,...]  ATTR=VALUE  has=ATTR  ATTR~GLOB  ATTR~/REGEX/[i]  after=KIND  under=KIND  "
         "!TERM (negation); e.g. 'kind=LLM after=RETRIEVER' or 'kind=RETRIEVER has=retrieval.documents'")
_ATTR = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_STATUSES = ("OK", "ERROR", "UNSET")

Op = Literal["kind", "eq", "has", "glob", "regex", "after", "under"]


class SpanSelectorError(TracingConfigError):
    """A selector spec or term that cannot be used (names the term and lists the valid forms)."""


def _fail(term: str, why: str) -> SpanSelectorError:
    return SpanSelectorError(f"span selector term {term!r}: {why}. Valid forms: {FORMS}")


def _kinds(term: str, text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip().upper() for k in text.split(",") if k.strip())
    if not kinds:
        raise _fail(term, "names no span kind")
    unknown = [k for k in kinds if k not in SPAN_KINDS]
    if unknown:
        raise _fail(term, f"unknown span kind {', '.join(unknown)} (span kinds: {', '.join(SPAN_KINDS)})")
    return kinds


def _attr(term: str, name: str) -> str:
    if not _ATTR.fullmatch(name):
        raise _fail(term, f"{name!r} is not an attribute name (dotted, e.g. llm.model_name or metadata.topic)")
    return name


@dataclass(frozen=True)
class Term:
    """One condition on a span. Build with the class methods; ``negated()`` flips it."""

    op: Op
    key: str = ""  # the attribute ("name", "status" or a dotted name); for kind terms the kinds joined by ","
    value: str = ""
    negate: bool = False
    ignore_case: bool = False

    def __post_init__(self) -> None:
        text = str(self)
        if self.op in ("kind", "after", "under"):
            object.__setattr__(self, "key", ",".join(_kinds(text, self.key)))
        elif self.op in ("eq", "has", "glob", "regex"):
            _attr(text, self.key)
        else:
            raise _fail(text, f"unknown operation {self.op!r}")
        if self.key == "status" and self.op == "eq" and self.value.upper() not in _STATUSES:
            raise _fail(text, f"status is one of {', '.join(_STATUSES)}")
        if self.op == "regex":
            try:
                re.compile(self.value)
            except re.error as exc:
                raise _fail(text, f"the regular expression does not compile ({exc})") from exc

    @classmethod
    def kind(cls, *kinds: str) -> Term:
        return cls("kind", ",".join(kinds))

    @classmethod
    def equals(cls, attribute: str, value: Any) -> Term:
        return cls("eq", attribute, str(value))

    @classmethod
    def exists(cls, attribute: str) -> Term:
        return cls("has", attribute)

    @classmethod
    def glob(cls, attribute: str, pattern: str) -> Term:
        return cls("glob", attribute, pattern)

    @classmethod
    def regex(cls, attribute: str, pattern: str, *, ignore_case: bool = False) -> Term:
        return cls("regex", attribute, pattern, ignore_case=ignore_case)

    @classmethod
    def after(cls, kind: str) -> Term:
        return cls("after", kind)

    @classmethod
    def under(cls, kind: str) -> Term:
        return cls("under", kind)

    def negated(self) -> Term:
        return Term(self.op, self.key, self.value, not self.negate, self.ignore_case)

    def __str__(self) -> str:
        body = {
            "kind": f"kind={self.key}", "after": f"after={self.key}", "under": f"under={self.key}",
            "has": f"has={self.key}", "eq": f"{self.key}={self.value}", "glob": f"{self.key}~{self.value}",
            "regex": f"{self.key}~/{self.value}/" + ("i" if self.ignore_case else ""),
        }.get(self.op, f"{self.op}:{self.key}")
        return ("!" if self.negate else "") + body

    # --- evaluation --------------------------------------------------------------------------------

    def holds(self, tree: SpanTree, node: SpanNode) -> bool:
        return self._holds(tree, node) != self.negate

    def _holds(self, tree: SpanTree, node: SpanNode) -> bool:
        if self.op == "kind":
            return node.kind in self.key.split(",")
        if self.op == "after":
            kinds = self.key.split(",")
            return any(tree.preceding(node.span_id, k) for k in kinds)
        if self.op == "under":
            kinds = self.key.split(",")
            return any(a.kind in kinds for a in tree.ancestors(node.span_id))
        got = _lookup(node, self.key)
        if self.op == "has":
            return not _empty(got) or (self.key == "retrieval.documents" and bool(node.documents))
        if got is None:
            return False
        if self.op == "eq":
            return _equal(got, self.value, status=self.key == "status")
        text = _text(got)
        if self.op == "glob":
            return fnmatch.fnmatchcase(text, self.value)
        return re.search(self.value, text, re.IGNORECASE if self.ignore_case else 0) is not None


def _lookup(node: SpanNode, key: str) -> Any:
    if key == "name":
        return node.name
    if key == "status":
        return node.status
    return node.value(key)


def _empty(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, (list, tuple, dict)) and not value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _equal(got: Any, wanted: str, *, status: bool = False) -> bool:
    if status:
        return str(got).upper() == wanted.upper()
    if isinstance(got, bool):
        return wanted.lower() == ("true" if got else "false")
    if isinstance(got, (int, float)):
        try:
            return float(got) == float(wanted)
        except ValueError:
            return False
    return _text(got) == wanted


def _term(raw: str) -> Term:
    text = raw
    negate = text.startswith("!")
    if negate:
        text = text[1:]
    term: Term
    if "~" in text and ("=" not in text or text.index("~") < text.index("=")):
        key, _, pattern = text.partition("~")
        _attr(raw, key)
        if not pattern:
            raise _fail(raw, "the pattern after '~' is empty")
        m = re.fullmatch(r"/(.*)/(i?)", pattern, re.DOTALL)
        if m:
            term = Term("regex", key, m.group(1), ignore_case=bool(m.group(2)))
        elif pattern.startswith("/"):
            raise _fail(raw, "a regular expression is written ATTR~/REGEX/ (or /REGEX/i), with the closing '/'")
        else:
            term = Term("glob", key, pattern)
    elif "=" in text:
        key, _, value = text.partition("=")
        if not key:
            raise _fail(raw, "nothing before '='")
        if key in ("kind", "after", "under"):
            term = Term(key, value)  # type: ignore[arg-type]
        elif key == "has":
            term = Term("has", _attr(raw, value))
        else:
            term = Term("eq", _attr(raw, key), value)
    else:
        raise _fail(raw, "a term is KEY=VALUE, ATTR~PATTERN or one of these negated with '!'")
    return term.negated() if negate else term


@dataclass(frozen=True)
class SpanSelector:
    """Terms that must all hold for a span to be selected. ``SpanSelector.parse(spec)`` reads a spec."""

    terms: tuple[Term, ...]

    def __post_init__(self) -> None:
        if not self.terms:
            raise SpanSelectorError(f"the span selector is empty; give at least one term, e.g. kind=LLM. "
                                    f"Valid forms: {FORMS}")

    @classmethod
    def of(cls, *terms: Term) -> SpanSelector:
        return cls(tuple(terms))

    @classmethod
    def parse(cls, spec: str) -> SpanSelector:
        """The selector a spec string describes (see the module docstring)."""
        if not isinstance(spec, str):
            raise SpanSelectorError(f"a span selector spec is a string, got {type(spec).__name__}. Valid forms: {FORMS}")
        try:
            parts = shlex.split(spec)
        except ValueError as exc:
            raise SpanSelectorError(f"span selector {spec!r} cannot be split into terms ({exc}); close the "
                                    f"quotes. Valid forms: {FORMS}") from exc
        return cls(tuple(_term(p) for p in parts))

    def __str__(self) -> str:
        return " ".join(shlex.quote(str(t)) for t in self.terms)

    @property
    def kinds(self) -> tuple[str, ...] | None:
        """The span kinds the selector is limited to (None: any kind)."""
        found: set[str] | None = None
        for t in self.terms:
            if t.op == "kind" and not t.negate:
                kinds = set(t.key.split(","))
                found = kinds if found is None else found & kinds
        return None if found is None else tuple(k for k in SPAN_KINDS if k in found)

    def matches(self, tree: SpanTree, node: SpanNode) -> bool:
        return all(t.holds(tree, node) for t in self.terms)

    def select(self, tree: SpanTree, nodes: Iterable[SpanNode] | None = None) -> list[SpanNode]:
        """The spans of ``tree`` (or of ``nodes``) the selector matches, in start order."""
        return [n for n in (tree.nodes if nodes is None else nodes) if self.matches(tree, n)]


def parse_selector(spec: str | SpanSelector | Sequence[Term]) -> SpanSelector:
    """A :class:`SpanSelector` from a spec string, a selector, or a sequence of terms."""
    if isinstance(spec, SpanSelector):
        return spec
    if isinstance(spec, str):
        return SpanSelector.parse(spec)
    return SpanSelector(tuple(spec))
