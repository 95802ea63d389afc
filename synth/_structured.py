"""Structured replies: JSON that parses and validates, every time on llama.cpp, retried elsewhere.

On the local llama.cpp provider the request carries the reply's JSON schema and decoding is
constrained by the grammar made from it, so every reply parses (string fields have a ``maxLength``
and ``max_tokens`` covers the longest reply, so the grammar always closes the object). Other providers
get the same schema on the request (an OpenAI-compatible provider may map it to ``response_format``)
plus the instruction in the prompt; a reply that does not parse is retried a bounded number of times
with another seed, and each failure is recorded with its raw text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from judges import ModelClient, ModelRequest, ProviderError
from judges.types import Message

T = TypeVar("T", bound=BaseModel)

#: Providers that constrain decoding to ``ModelRequest.json_schema``.
CONSTRAINED_PROVIDERS = frozenset({"llama.cpp", "llama.cpp-server"})


@dataclass(frozen=True)
class ParseFailure:
    """One reply that did not give a valid object: why, and the raw text."""

    reason: str
    raw: str


@dataclass
class Structured(Generic[T]):
    """The parsed object (None when every attempt failed), the attempts and each failure."""

    value: T | None
    attempts: int
    failures: list[ParseFailure] = field(default_factory=list)
    model_calls: int = 0
    cache_hits: int = 0


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of a reply model, without titles (they only lengthen the grammar)."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(model.model_json_schema())  # type: ignore[no-any-return]


def max_reply_tokens(schema: dict[str, Any]) -> int:
    """A token budget the longest valid reply fits in (a token is at least one character)."""
    props = schema.get("properties", {})
    return 16 + sum(int(p.get("maxLength", 256)) + len(name) + 8 for name, p in props.items())


async def ask_json(
    client: ModelClient,
    prompt: str,
    model: type[T],
    *,
    seed: int,
    temperature: float = 0.0,
    max_parse_retries: int = 2,
) -> Structured[T]:
    """Ask for one ``model`` object as JSON; constrained on llama.cpp, parsed and retried elsewhere."""
    schema = schema_of(model)
    fields = ", ".join(f'"{k}"' for k in schema.get("properties", {}))
    text = f"{prompt}\n\nReply with one JSON object with the keys {fields} and nothing else."
    out: Structured[T] = Structured(None, 0)
    for attempt in range(max_parse_retries + 1):
        req = ModelRequest([Message("user", text)], max_tokens=max_reply_tokens(schema), seed=seed + attempt,
                           temperature=temperature if attempt == 0 else max(temperature, 0.7),
                           json_schema=schema)
        out.attempts += 1
        try:
            completion = await client.complete(req)
        except ProviderError as exc:
            out.failures.append(ParseFailure(f"provider error: {exc}", ""))
            return out  # a context too long for the window stays too long: retrying cannot help
        if completion.cached:
            out.cache_hits += 1
        else:
            out.model_calls += 1
        try:
            # strict=False: the grammar allows raw control characters (tabs, newlines) inside strings
            out.value = model.model_validate(json.loads(_json_part(completion.text), strict=False))
            return out
        except json.JSONDecodeError as exc:
            out.failures.append(ParseFailure(f"not JSON: {exc.msg} at column {exc.colno}", completion.text))
        except ValidationError as exc:
            err = exc.errors()[0]
            out.failures.append(ParseFailure(f"field {'.'.join(map(str, err['loc']))}: {err['msg']}", completion.text))
    return out


def _json_part(text: str) -> str:
    """The outermost ``{...}`` of a reply (API models like to wrap JSON in prose or code fences)."""
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text
