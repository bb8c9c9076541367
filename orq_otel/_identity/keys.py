"""The baggage keys orq-otel writes, and those it guards (scoped on the way out, dropped at
a public edge): everything that says who or what a call is for."""

from __future__ import annotations

from opentelemetry.semconv._incubating.attributes.enduser_attributes import ENDUSER_ID

IDENTITY_PREFIX = "orq.identity."
THREAD_PREFIX = "orq.thread."
# The convention of the OpenTelemetry demo and other instrumentations: read as an id when
# ours is absent, never written, and removed when an identity is set.
ENDUSER_ID_KEY = ENDUSER_ID

_GUARDED_PREFIXES = (IDENTITY_PREFIX, THREAD_PREFIX)


def is_guarded_key(key: str) -> bool:
    return key.startswith(_GUARDED_PREFIXES) or key == ENDUSER_ID_KEY
