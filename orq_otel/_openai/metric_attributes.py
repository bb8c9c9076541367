"""Which attributes metric points carry, and how many identities get series of their own.

Every distinct set of attributes is a series a metrics backend stores (and often bills)
separately, and the OpenTelemetry SDK keeps at most 2,000 per instrument before it merges
the rest into one overflow point, silently, for the life of the process. So identity on
metrics is bounded here first, visibly: the first `metric_identity_limit` identities keep
their own series; later ones are recorded as `orq.identity.id = "_other"`, with one warning
and the `orq.identity.overflow` counter. `metric_attributes` chooses the optional
attributes metrics carry at all.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from opentelemetry.metrics import Counter
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GEN_AI_TOKEN_TYPE,
    GenAiTokenTypeValues,
)
from opentelemetry.util.types import AttributeValue

from orq_otel._cache import LruCache
from orq_otel._config import OPTIONAL_METRIC_ATTRIBUTES, Settings
from orq_otel._log import warn_once
from orq_otel._names import IDENTITY_ID, OVERFLOW_IDENTITY

_OPTIONAL = frozenset(OPTIONAL_METRIC_ATTRIBUTES)
_INPUT = {GEN_AI_TOKEN_TYPE: GenAiTokenTypeValues.INPUT.value}
_OUTPUT = {GEN_AI_TOKEN_TYPE: GenAiTokenTypeValues.OUTPUT.value}
# Distinct attribute sets kept ready; past this many (request models are the caller's to
# name) the least recently made go first and are made again when a call needs them.
MAX_KEPT_SETS = 4096

AttributeItems = tuple[tuple[str, AttributeValue], ...]


class PointAttributes:
    """The attribute sets of one call's metric points, made once per distinct set and
    shared by every call with it (the OpenTelemetry SDK copies what it keeps; nobody
    changes these)."""

    __slots__ = ("cost_key", "duration", "input_tokens", "output_tokens")

    def __init__(self, attributes: dict[str, AttributeValue]) -> None:
        self.duration = attributes
        self.input_tokens = {**attributes, **_INPUT}
        self.output_tokens = {**attributes, **_OUTPUT}
        self.cost_key = frozenset(attributes.items())  # the cost totals' key


class CallPoints:
    """What a call's metric points share from its start; `at_end` adds what its end told
    (the response model or the error type)."""

    __slots__ = ("_at_end", "_attributes")

    def __init__(self, attributes: dict[str, AttributeValue]) -> None:
        self._attributes = attributes
        self._at_end: LruCache[AttributeItems, PointAttributes] = LruCache(MAX_KEPT_SETS)

    def at_end(self, extra: AttributeItems) -> PointAttributes:
        points = self._at_end.get(extra)
        if points is None:
            points = PointAttributes({**self._attributes, **dict(extra)})
            self._at_end.put(extra, points)
        return points


class MetricAttributes:
    """The attributes of one call's metric points, by the settings."""

    def __init__(self, settings: Settings, overflowed: Counter) -> None:
        carried = set(settings.metric_attributes)
        if not settings.metric_identity:
            carried.discard(IDENTITY_ID)
        self._dropped = _OPTIONAL - carried
        self._identity = IDENTITY_ID in carried
        self._limit = settings.metric_identity_limit
        self._admitted: set[str] = set()
        self._kept: LruCache[tuple[AttributeItems, str | None], CallPoints] = LruCache(
            MAX_KEPT_SETS
        )
        self._lock = threading.Lock()
        self._overflowed = overflowed

    def of(self, common: Mapping[str, AttributeValue], identity_id: str | None) -> CallPoints:
        """The metric attributes of a call with these common attributes, for this identity."""
        if identity_id is not None and self._identity:
            identity_id = self._admit(identity_id)
        else:
            identity_id = None
        key = (tuple(common.items()), identity_id)
        points = self._kept.get(key)
        if points is None:
            attributes = dict(self.carried(common))
            if identity_id is not None:
                attributes[IDENTITY_ID] = identity_id
            points = CallPoints(attributes)
            self._kept.put(key, points)
        return points

    def carried(self, attributes: Mapping[str, AttributeValue]) -> Mapping[str, AttributeValue]:
        """`attributes` without the ones metrics do not carry."""
        if not self._dropped:
            return attributes
        return {key: value for key, value in attributes.items() if key not in self._dropped}

    def _admit(self, identity_id: str) -> str:
        if identity_id in self._admitted:  # a set lookup: safe without the lock
            return identity_id
        with self._lock:
            if len(self._admitted) < self._limit:
                self._admitted.add(identity_id)
                return identity_id
        warn_once(
            "metric-identity-overflow",
            "more than %s identities on metrics (metric_identity_limit): later ones are "
            'recorded as orq.identity.id="%s"',
            self._limit,
            OVERFLOW_IDENTITY,
        )
        self._overflowed.add(1)
        return OVERFLOW_IDENTITY
