"""Cost estimates for LLM calls from a documented, overridable price table.

Prices are US dollars per one million tokens, split into prompt (input) and completion (output).
The built-in table holds the public list prices of a few common hosted models (as published by
their vendors in 2025; check them before relying on a figure) and zero for local models, which
cost electricity, not tokens. Override it three ways:

* pass ``prices=PriceTable({...})`` to :func:`estimate_cost` or :func:`tracing.llm_span`;
* extend the default: ``DEFAULT_PRICES.with_prices({"my-model": ModelPrice(1.0, 2.0)})``;
* point ``EVALHARNESS_PRICE_TABLE`` at a JSON file ``{"model": {"prompt": 1.0, "completion": 2.0}}``,
  which is merged over the built-in table for every call that does not pass its own table.

A model is matched exactly first, then by the longest table key that prefixes it, so dated
snapshots such as ``gpt-4o-mini-2024-07-18`` use the ``gpt-4o-mini`` price. Unknown models
give ``None`` (no estimate), never a made-up number.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType

from tracing.errors import TracingConfigError

PRICE_TABLE_ENV = "EVALHARNESS_PRICE_TABLE"


@dataclass(frozen=True)
class ModelPrice:
    """USD per one million prompt tokens and per one million completion tokens."""

    prompt_per_mtok: float
    completion_per_mtok: float

    def __post_init__(self) -> None:
        for name in ("prompt_per_mtok", "completion_per_mtok"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise TracingConfigError(f"ModelPrice.{name} must be a non-negative number, got {value!r}")


@dataclass(frozen=True)
class PriceTable:
    """An immutable mapping of model name to :class:`ModelPrice`, with prefix matching."""

    prices: Mapping[str, ModelPrice] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for model, price in self.prices.items():
            if not isinstance(price, ModelPrice):
                raise TracingConfigError(
                    f"price for model {model!r} must be a ModelPrice, got {type(price).__name__}"
                )
        object.__setattr__(self, "prices", MappingProxyType({k.lower(): v for k, v in self.prices.items()}))
        # Memo of model -> price: judges price every call, and prefix matching is a scan.
        object.__setattr__(self, "_memo", {})

    def lookup(self, model: str) -> ModelPrice | None:
        """Return the price of ``model``: exact match, else the longest key that prefixes it."""
        memo: dict[str, ModelPrice | None] = self._memo  # type: ignore[attr-defined]
        try:
            return memo[model]
        except KeyError:
            pass
        key = model.lower()
        if key in self.prices:
            found: ModelPrice | None = self.prices[key]
        else:
            best = max((k for k in self.prices if key.startswith(k)), key=len, default=None)
            found = self.prices[best] if best is not None else None
        if len(memo) < 4096:
            memo[model] = found
        return found

    def with_prices(self, extra: Mapping[str, ModelPrice]) -> PriceTable:
        """Return a new table with ``extra`` added to (and overriding) this one."""
        return PriceTable({**self.prices, **extra})

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> PriceTable:
        """Load ``{"model": {"prompt": usd_per_mtok, "completion": usd_per_mtok}}`` from a JSON file."""
        try:
            raw = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TracingConfigError(f"cannot read price table {str(path)!r}: {exc}") from exc
        if not isinstance(raw, dict):
            raise TracingConfigError(f"price table {str(path)!r} must be a JSON object of model -> prices")
        prices: dict[str, ModelPrice] = {}
        for model, entry in raw.items():
            if not isinstance(entry, dict) or not {"prompt", "completion"} <= entry.keys():
                raise TracingConfigError(
                    f"price table {str(path)!r}: entry {model!r} must be "
                    '{"prompt": <usd per 1M tokens>, "completion": <usd per 1M tokens>}'
                )
            prices[model] = ModelPrice(float(entry["prompt"]), float(entry["completion"]))
        return cls(prices)


DEFAULT_PRICES = PriceTable(
    {
        # Local models: no per-token price.
        "gemma-3-270m": ModelPrice(0.0, 0.0),
        "local": ModelPrice(0.0, 0.0),
        # OpenAI list prices (USD / 1M tokens).
        "gpt-4o-mini": ModelPrice(0.15, 0.60),
        "gpt-4o": ModelPrice(2.50, 10.00),
        "gpt-4.1-nano": ModelPrice(0.10, 0.40),
        "gpt-4.1-mini": ModelPrice(0.40, 1.60),
        "gpt-4.1": ModelPrice(2.00, 8.00),
        # Anthropic list prices (USD / 1M tokens).
        "claude-3-5-haiku": ModelPrice(0.80, 4.00),
        "claude-sonnet-4": ModelPrice(3.00, 15.00),
        "claude-opus-4": ModelPrice(15.00, 75.00),
    }
)


@lru_cache(maxsize=8)
def _table_for_env(path: str | None) -> PriceTable:
    return DEFAULT_PRICES if not path else DEFAULT_PRICES.with_prices(PriceTable.from_json(path).prices)


def default_price_table() -> PriceTable:
    """The built-in table, merged with the JSON file named by ``EVALHARNESS_PRICE_TABLE`` if set."""
    return _table_for_env(os.environ.get(PRICE_TABLE_ENV) or None)


def estimate_cost(
    model: str, prompt_tokens: int | None, completion_tokens: int | None, prices: PriceTable | None = None
) -> float | None:
    """Estimated USD cost of one call, or ``None`` when the model or the token counts are unknown."""
    if prompt_tokens is None or completion_tokens is None:
        return None
    if prompt_tokens < 0 or completion_tokens < 0:
        raise TracingConfigError(
            f"token counts must be >= 0, got prompt_tokens={prompt_tokens}, completion_tokens={completion_tokens}"
        )
    price = (prices or _table_for_env(os.environ.get(PRICE_TABLE_ENV) or None)).lookup(model)
    if price is None:
        return None
    return (prompt_tokens * price.prompt_per_mtok + completion_tokens * price.completion_per_mtok) / 1e6
