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
from opentelemetry.util.types import AttributeValue

from orq_otel._config import OPTIONAL_METRIC_ATTRIBUTES, Settings
from orq_otel._log import warn_once
from orq_otel._names import IDENTITY_ID, OVERFLOW_IDENTITY

_OPTIONAL = frozenset(OPTIONAL_METRIC_ATTRIBUTES)


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
        self._lock = threading.Lock()
        self._overflowed = overflowed

    def of(
        self, common: Mapping[str, AttributeValue], identity_id: str | None
    ) -> Mapping[str, AttributeValue]:
        attributes = self.carried(common)
        if identity_id is None or not self._identity:
            return attributes
        return {**attributes, IDENTITY_ID: self._admit(identity_id)}

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
