"""What an OpenAI-compatible server can do for a label call, probed once per base URL and model.

A judge's label call is best answered as a distribution over the closed label set. Servers offer
different ways to get one, and this module finds out which a server has, with a handful of tiny
requests, and remembers the answer for the process:

- **logprobs** on ``/chat/completions`` and ``/completions``, and how many alternatives per token;
- a **constraint** that keeps the reply on the labels: llama.cpp's GBNF ``grammar``, vLLM/SGLang's
  ``guided_choice``, or a ``response_format`` JSON schema with an ``enum`` (OpenAI, vLLM, SGLang, llama.cpp);
- the **completions endpoint** (base models: the prompt ends at the label slot) and whether it echoes
  the prompt's own logprobs (``echo``: vLLM, OpenAI's legacy models), which scores multi-token labels;
- whether a trailing assistant message is continued in place (a prefill: llama.cpp).

The label position's logprobs are the server's full distribution before the constraint (llama.cpp,
vLLM and OpenAI all report them so), so renormalising the labels' share gives the label distribution.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from judges.scoring import _Alternatives, _spell, renormalise
from judges.types import TokenLogprob, TopLogprob

log = logging.getLogger(__name__)

Constraint = Literal["grammar", "guided_choice", "json_schema"]
# a POST to a path under the server's base URL: (status, decoded JSON or None)
Post = Callable[[str, dict[str, Any]], Awaitable[tuple[int, Any]]]

_SENTINEL = "Qx7"  # a reply no model gives by itself: seeing it means the constraint was honoured
_ASK = [{"role": "user", "content": "Say hello."}]
_WIDE = 100  # alternatives asked of a server that gives more than OpenAI's 20


@dataclass(frozen=True)
class ServerCapabilities:
    """The label-relevant abilities of one server and model (0 alternatives: no logprobs there)."""

    chat_alternatives: int = 0
    completion_alternatives: int = 0
    grammar: bool = False
    guided_choice: bool = False
    json_schema: bool = False
    echo: bool = False
    prefill: bool = False  # a trailing assistant message is continued (llama.cpp)

    @property
    def constraint(self) -> Constraint | None:
        """The constraint a label call uses: the most precise one the server honours."""
        if self.grammar:
            return "grammar"
        if self.guided_choice:
            return "guided_choice"
        if self.json_schema:
            return "json_schema"
        return None

    @property
    def llama_cpp(self) -> bool:
        """llama.cpp's server: the only one that takes a GBNF ``grammar`` field, and it takes ``cache_prompt``."""
        return self.grammar

    def describe(self) -> str:
        parts = [f"chat logprobs: {self.chat_alternatives or 'no'} alternatives" + (", prefill" if self.prefill else ""),
                 f"completions: {self.completion_alternatives or 'no'} alternatives" + (", echo" if self.echo else ""),
                 f"constraint: {self.constraint or 'none'}"]
        return "; ".join(parts)


_KNOWN: dict[tuple[str, str], ServerCapabilities] = {}
_LOCKS: dict[tuple[str, str], asyncio.Lock] = {}


def known(base_url: str, model: str) -> ServerCapabilities | None:
    """The capabilities probed earlier in this process for ``base_url`` and ``model``, if any."""
    return _KNOWN.get((base_url, model))


def remember(base_url: str, model: str, caps: ServerCapabilities) -> None:
    """Record capabilities without probing (tests, or a server whose abilities are declared by configuration)."""
    _KNOWN[(base_url, model)] = caps


async def capabilities(base_url: str, model: str, post: Post) -> ServerCapabilities:
    """The server's capabilities, probed on first use and remembered per (base URL, model)."""
    key = (base_url, model)
    caps = _KNOWN.get(key)
    if caps is not None:
        return caps
    lock = _LOCKS.setdefault(key, asyncio.Lock())
    async with lock:
        caps = _KNOWN.get(key)
        if caps is None:
            caps = await probe(model, post)
            _KNOWN[key] = caps
            log.info("judge server %s (%s): %s", base_url, model, caps.describe())
    return caps


def _content(data: Any) -> str | None:
    try:
        return str(data["choices"][0]["message"]["content"] or "")
    except (KeyError, IndexError, TypeError):
        return None


def _alternatives(data: Any, asked: int) -> int:
    """``asked`` when the reply carries alternatives (a server that accepted the number gives that many), else 0."""
    return asked if any(t.top for t in token_logprobs(data)) else 0


async def probe(model: str, post: Post) -> ServerCapabilities:
    """Ask the server a few tiny questions (a few tokens each) and record what it honoured."""
    base = {"model": model, "messages": _ASK, "max_tokens": 4, "temperature": 0.0}
    # llama.cpp gives as many alternatives as asked (more cover more labels); OpenAI and vLLM refuse over 20
    # a trailing assistant message continued in place (llama.cpp returns it with the continuation) is a prefill:
    # the label is then scored right after the prompt's own "Score:", tokenised as the model would
    head, tail = _SENTINEL[:2], _SENTINEL[2:]
    status, data = await post("/chat/completions", {
        **base, "messages": [*_ASK, {"role": "assistant", "content": head}], "logprobs": True,
        "top_logprobs": _WIDE, "grammar": f'root ::= "{tail}"'})
    grammar = status == 200 and _content(data) in (tail, _SENTINEL)
    prefill = grammar and _content(data) == _SENTINEL
    chat_alts = _alternatives(data, _WIDE) if status == 200 else 0
    if status != 200:  # a server that refuses unknown fields or wide logprobs: ask again the standard way
        status, data = await post("/chat/completions", {**base, "logprobs": True, "top_logprobs": 20})
        chat_alts = _alternatives(data, 20) if status == 200 else 0
    guided = False
    if not grammar:
        status, data = await post("/chat/completions", {**base, "guided_choice": [_SENTINEL, _SENTINEL + "b"]})
        guided = status == 200 and _content(data) in (_SENTINEL, _SENTINEL + "b")
    json_schema = False
    if not (grammar or guided):  # needed only where nothing more precise is honoured (it costs a slow request)
        schema = {"type": "object", "properties": {"a": {"type": "string", "enum": [_SENTINEL]}},
                  "required": ["a"], "additionalProperties": False}
        status, data = await post("/chat/completions", {**base, "max_tokens": 32, "response_format": {
            "type": "json_schema", "json_schema": {"name": "probe", "schema": schema, "strict": True}}})
        try:
            json_schema = status == 200 and json.loads(_content(data) or "") == {"a": _SENTINEL}
        except ValueError:
            json_schema = False
    wide = _WIDE if chat_alts > 20 else 20
    comp = {"model": model, "prompt": "Hello there", "max_tokens": 1, "temperature": 0.0, "logprobs": wide}
    status, data = await post("/completions", {**comp, "echo": True})
    echo = status == 200 and len(token_logprobs(data)) > 1
    if status != 200:
        wide = 20
        status, data = await post("/completions", {**comp, "logprobs": wide})
    completion_alts = _alternatives(data, wide) if status == 200 else 0
    return ServerCapabilities(chat_alternatives=chat_alts, completion_alternatives=completion_alts,
                              grammar=grammar, guided_choice=guided, json_schema=json_schema, echo=echo,
                              prefill=prefill)


def token_logprobs(data: Any) -> list[TokenLogprob]:
    """Per-token logprobs of the first choice, in the chat shape (``logprobs.content``, also llama.cpp's
    completions) or the legacy completions shape (``tokens`` / ``token_logprobs`` / ``top_logprobs`` dicts)."""
    try:
        lp = data["choices"][0].get("logprobs") or {}
    except (KeyError, IndexError, TypeError, AttributeError):
        return []
    out: list[TokenLogprob] = []
    if lp.get("content"):
        for t in lp["content"]:
            top = tuple(TopLogprob(a["token"], float(a["logprob"])) for a in t.get("top_logprobs") or ())
            out.append(TokenLogprob(t["token"], float(t["logprob"]), top))
        return out
    tops = lp.get("top_logprobs") or []
    for k, (tok, val) in enumerate(zip(lp.get("tokens") or [], lp.get("token_logprobs") or [], strict=False)):
        alts = tops[k] if k < len(tops) and isinstance(tops[k], dict) else {}
        value = float(val) if val is not None else math.nan  # the first prompt token has no logprob
        out.append(TokenLogprob(tok, value, tuple(TopLogprob(a, float(b)) for a, b in alts.items())))
    return out


# -- constraints ---------------------------------------------------------------------------------------------

def _gbnf_literal(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def constraint_fields(constraint: Constraint, prefix: str, labels: Sequence[str], key: str) -> dict[str, Any]:
    """Request fields that keep the reply to ``prefix`` + one of ``labels`` (for JSON: ``{key: label}``)."""
    if constraint == "grammar":
        alts = " | ".join(_gbnf_literal(lab) for lab in labels)
        return {"grammar": f"root ::= {_gbnf_literal(prefix)} ({alts})" if prefix else f"root ::= {alts}"}
    if constraint == "guided_choice":
        return {"guided_choice": [prefix + lab for lab in labels]}
    schema = {"type": "object", "properties": {key: {"type": "string", "enum": [lab.strip() for lab in labels]}},
              "required": [key], "additionalProperties": False}
    return {"response_format": {"type": "json_schema", "json_schema": {"name": "label", "schema": schema,
                                                                       "strict": True}}}


def label_offset(constraint: Constraint | None, text: str, prefix: str, key: str) -> int | None:
    """Character offset where the label starts in a constrained reply (None: the reply is off the constraint)."""
    if constraint == "json_schema":
        m = re.search(r'"' + re.escape(key) + r'"\s*:\s*"', text)
        return m.end() if m else None
    return len(prefix) if prefix and text.startswith(prefix) else 0 if not prefix else None


# -- reading the distribution -------------------------------------------------------------------------------

def label_distribution(
    lps: Sequence[TokenLogprob], offset: int, labels: Sequence[str]
) -> tuple[dict[str, float] | None, float]:
    """(renormalised distribution over ``labels``, raw mass on them) from the alternatives where the label starts.

    ``offset`` is a character offset in the concatenated tokens; a token that starts before it (``":"3``)
    counts only alternatives that share its text up to the offset. Whitespace-only tokens at the slot are
    skipped, and multi-token labels follow the generated path (:func:`judges.scoring.probs_from_top_logprobs`).
    """
    pos, i = 0, 0
    while i < len(lps) and pos + len(lps[i].token) <= offset:
        pos += len(lps[i].token)
        i += 1
    if i >= len(lps):
        return None, 0.0
    seq = list(lps)
    cut = offset - pos
    if cut:
        head, tok = seq[i].token[:cut], seq[i]
        top = tuple(TopLogprob(a.token[cut:], a.logprob) for a in tok.top
                    if a.token.startswith(head) and len(a.token) > cut)
        seq[i] = TokenLogprob(tok.token[cut:], tok.logprob, top)
    while i < len(seq) and not seq[i].token.strip():
        i += 1
    stripped = [lab.strip() for lab in labels]
    memo = _Alternatives(seq)
    raw = {lab: _spell(s, seq, i, True, stripped, memo) for lab, s in zip(labels, stripped, strict=True)}
    return renormalise(raw), float(sum(raw.values()))
