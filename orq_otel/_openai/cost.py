"""What a call cost in USD, from its token counts and the `genai-prices` data.

`genai-prices` computes a price in about 60 µs, too slow for every call. For a model with
flat per-token prices, cost is linear in the token counts, so we ask genai-prices once per
model and day for the price of a million uncached input, cached input and output tokens,
and multiply. Models with tiered prices (which depend on the size of the request) are
priced by genai-prices on every call. An unknown model gets no cost at all: never a
made-up zero.

Users can add or override prices with the `model_prices` option: a mapping from model name
to USD per million tokens (``{"input": 0.5, "output": 1.5, "cache_read": 0.05}``), or a
callable ``(provider, model, usage) -> float | None`` (None falls back to genai-prices).

genai-prices builds its price data when first used: about 170 million instructions (tens
of milliseconds). No call waits for it: a daemon thread loads it once the first call has
ended (`prices.py`), and a call that ends before it is loaded gets no cost from
genai-prices (prices from `model_prices` still apply); every call after it has one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, NamedTuple

from orq_otel._cache import LruCache
from orq_otel._log import logger
from orq_otel._openai import prices as price_data
from orq_otel._openai.attributes import Usage
from orq_otel._openai.prices import PriceData

MILLION = 1_000_000
PRICE_CACHE_SIZE = 1024
# Providers genai-prices knows that an OpenAI client may be talking to.
_PRICED_PROVIDERS = {"openai": "openai", "azure.ai.openai": "azure"}

PriceTable = Mapping[str, Mapping[str, float]]
PriceCallable = Callable[[str | None, str, Usage], float | None]


class LinearPrice(NamedTuple):
    """USD per token, for a model whose price is flat."""

    input: float
    cache_read: float
    output: float

    def cost(self, usage: Usage) -> float:
        total_input = usage.input_tokens or 0
        cached = min(usage.cached_input_tokens or 0, total_input)
        return (
            (total_input - cached) * self.input
            + cached * self.cache_read
            + (usage.output_tokens or 0) * self.output
        )


_TIERED = object()  # priced by genai-prices call by call
_UNKNOWN = object()  # no price: no cost attribute
_NOT_YET = object()  # genai-prices' data still loading: this call is not priced


def split_model(model: str, provider: str | None) -> tuple[str | None, str]:
    """('openai', 'gpt-4o') from a router name 'openai/gpt-4o', or the client's provider."""
    if "/" in model:
        prefix, _, name = model.partition("/")
        return prefix.lower(), name
    return _PRICED_PROVIDERS.get(provider or ""), model


class CostCalculator:
    """Cost per call; lookups in genai-prices cached per model and day."""

    def __init__(
        self,
        model_prices: PriceTable | PriceCallable | None = None,
        prices: PriceData | None = None,
    ) -> None:
        self._prices = prices if prices is not None else price_data.PRICES
        self.prices_wanted = self._prices.call_ended  # every call's end: load if not yet
        self._table = _table_prices(model_prices) if isinstance(model_prices, Mapping) else {}
        self._callable = model_prices if callable(model_prices) else None
        # One entry per model and day: bounded, or a service that sees many model names (or
        # runs for years) would grow without end.
        self._cache: LruCache[tuple[str | None, str, int], object] = LruCache(PRICE_CACHE_SIZE)

    def cost(self, provider: str | None, models: tuple[str, ...], usage: Usage) -> float | None:
        """USD for this usage, from the first of `models` with a known price (response model
        first: it names the exact snapshot), or None."""
        if usage.input_tokens is None and usage.output_tokens is None:
            return None
        loading = False
        for model in models:
            price_provider, name = split_model(model, provider)
            if self._callable is not None:
                custom = self._callable(price_provider, name, usage)
                if custom is not None:
                    return float(custom)
            price = self._price(price_provider, name)
            if isinstance(price, LinearPrice):
                return price.cost(usage)
            if price is _TIERED:
                return _genai_price(price_provider, name, usage)
            loading = loading or price is _NOT_YET  # a later model may be in model_prices
        _debug_once(("(price data still loading)",) if loading else models)
        return None

    def _price(self, provider: str | None, model: str) -> object:
        table = self._table.get(model)
        if table is not None:
            return table
        key = (provider, model, _utc_day())
        price = self._cache.get(key)
        if price is None:
            if not self._prices.ready:
                return _NOT_YET  # not cached: looked up once the data is there
            price = _lookup(provider, model)
            self._cache.put(key, price)
        return price


def _utc_day() -> int:
    """Days since the epoch, UTC: the key prices are kept under (POSIX time has no leap
    seconds, so a day is 86,400 of them; cheaper than building today's date every call)."""
    return int(time.time() // 86_400)


def _table_prices(table: PriceTable) -> dict[str, LinearPrice]:
    prices = {}
    for model, per_million in table.items():
        input_price = float(per_million["input"]) / MILLION
        prices[model] = LinearPrice(
            input=input_price,
            cache_read=float(per_million.get("cache_read", per_million["input"])) / MILLION,
            output=float(per_million.get("output", 0.0)) / MILLION,
        )
    return prices


def _usage_for_prices(input_tokens: int, cache_read: int, output: int) -> Any:
    from genai_prices import Usage as PricesUsage  # noqa: PLC0415 - see _LAZY

    return PricesUsage(
        input_tokens=input_tokens, cache_read_tokens=cache_read, output_tokens=output
    )


def _providers_to_try(provider: str | None) -> tuple[str | None, ...]:
    """genai-prices providers to look a model up under, in order.

    A model served through another provider's OpenAI-compatible API is found by its name
    alone. A bare name on a router (no `provider/` prefix) is most likely OpenAI's, the
    API the client speaks: genai-prices finds chat names by their name but not, say,
    `text-embedding-3-small`.
    """
    return (provider, None) if provider is not None else (None, "openai")


def _calculation(usage: Any, model: str, provider: str | None) -> Any:
    """genai-prices' price calculation under the first provider that knows the model."""
    from genai_prices import calc_price  # noqa: PLC0415 - see _LAZY

    for candidate in _providers_to_try(provider):
        try:
            return calc_price(usage, model, provider_id=candidate)
        except LookupError:
            continue
    return None


def _lookup(provider: str | None, model: str) -> object:
    """LinearPrice from genai-prices, or _TIERED / _UNKNOWN."""
    from genai_prices.types import TieredPrices  # noqa: PLC0415 - see _LAZY

    calculation = _calculation(_usage_for_prices(MILLION, 0, 0), model, provider)
    if calculation is None:
        return _UNKNOWN
    if any(isinstance(value, TieredPrices) for value in vars(calculation.model_price).values()):
        return _TIERED
    model_price = calculation.model_price

    def per_token(input_tokens: int, cache_read: int, output: int) -> float:
        price = model_price.calc_price(_usage_for_prices(input_tokens, cache_read, output))
        return float(Decimal(price["total_price"]) / MILLION)

    return LinearPrice(
        input=per_token(MILLION, 0, 0),
        cache_read=per_token(MILLION, MILLION, 0),
        output=per_token(0, 0, MILLION),
    )


def _genai_price(provider: str | None, model: str, usage: Usage) -> float | None:
    cached = usage.cached_input_tokens or 0
    prices_usage = _usage_for_prices(usage.input_tokens or 0, cached, usage.output_tokens or 0)
    calculation = _calculation(prices_usage, model, provider)
    return float(calculation.total_price) if calculation is not None else None


_unknown_logged: set[tuple[str, ...]] = set()


def _debug_once(models: tuple[str, ...]) -> None:
    if models not in _unknown_logged and logger.isEnabledFor(logging.DEBUG):
        _unknown_logged.add(models)
        logger.debug("no price known for model %s; no cost recorded", " / ".join(models))
