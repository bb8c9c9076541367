"""Identity and thread read from baggage once per baggage object, not once per call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from opentelemetry import baggage
from opentelemetry.context import Context, get_value

from orq_otel._config import Settings
from orq_otel._identity.properties import noted_values

_Read = TypeVar("_Read")
# Where the API keeps the baggage of a context: one dict, replaced (never changed in place)
# by every set_baggage / remove_baggage. Private to the API; without it, nothing is memoised.
_BAGGAGE_KEY = getattr(baggage, "_BAGGAGE_KEY", None)


class LastBaggageRead(Generic[_Read]):
    """`read(context, settings)`, memoised for the last baggage it read.

    Every call made while one request is served sees that request's baggage object, so
    reading it again gives the same answer: the identity or thread in it is decoded once,
    not on every LLM call. The memo is keyed by the objects themselves (the baggage dict,
    the note of values without properties, the settings) and holds them, so a key is never
    reused. Signed baggage is read every time: its signature expires with the clock.
    """

    __slots__ = ("_last", "_read")

    def __init__(self, read: Callable[[Context | None, Settings], _Read]) -> None:
        self._read = read
        self._last: tuple[object, object, Settings, _Read] | None = None

    def __call__(self, context: Context | None, settings: Settings) -> _Read:
        if _BAGGAGE_KEY is None or settings.identity_secret:
            return self._read(context, settings)
        entries = get_value(_BAGGAGE_KEY, context)
        noted = noted_values(context)
        last = self._last  # one read of the slot: another thread may replace it meanwhile
        if last is not None and last[0] is entries and last[1] is noted and last[2] is settings:
            return last[3]
        result = self._read(context, settings)
        self._last = (entries, noted, settings, result)
        return result
