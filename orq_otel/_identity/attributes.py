"""The identity and the thread as span attributes, for LLM spans and for every span
(`IdentitySpanProcessor`), with the same privacy rules: e-mail only with `record_email`."""

from __future__ import annotations

import json
from collections.abc import Mapping

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv._incubating.attributes.enduser_attributes import ENDUSER_ID
from opentelemetry.semconv._incubating.attributes.user_attributes import USER_ID
from opentelemetry.util.types import AttributeValue

from orq_otel._cache import LruCache
from orq_otel._identity.model import Identity, Thread
from orq_otel._names import (
    IDENTITY_DISPLAY_NAME,
    IDENTITY_EMAIL,
    IDENTITY_ID,
    IDENTITY_METADATA_PREFIX,
    IDENTITY_TAGS,
    THREAD_ID,
    THREAD_TAGS,
)


def _metadata_value(value: object) -> AttributeValue | None:
    if isinstance(value, (str, bool, int, float)):
        return value
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _identity_attributes(identity: Identity) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        IDENTITY_ID: identity.id,
        ENDUSER_ID: identity.id,
        USER_ID: identity.id,
    }
    if identity.display_name is not None:
        attributes[IDENTITY_DISPLAY_NAME] = identity.display_name
    if identity.tags is not None:
        attributes[IDENTITY_TAGS] = tuple(identity.tags)
    for key, value in (identity.metadata or {}).items():
        converted = _metadata_value(value)
        if converted is not None:
            attributes[IDENTITY_METADATA_PREFIX + key] = converted
    return attributes


class IdentityAttributes:
    """Span attributes per identity object, computed once and kept for recent identities.

    Each `use_identity` block holds one identity object, so calls in the block reuse one
    entry. Entries hold their identity, so an `id()` is never reused while cached.
    """

    def __init__(self, record_email: bool, size: int = 1024) -> None:
        self._record_email = record_email
        self._cache: LruCache[int, tuple[Identity, Mapping[str, AttributeValue]]] = LruCache(size)

    def of(self, identity: Identity) -> Mapping[str, AttributeValue]:
        key = id(identity)
        cached = self._cache.get(key)
        if cached is not None and cached[0] is identity:
            return cached[1]
        attributes = _identity_attributes(identity)
        if self._record_email and identity.email is not None:
            attributes[IDENTITY_EMAIL] = identity.email
        self._cache.put(key, (identity, attributes))
        return attributes


def thread_attributes(thread: Thread) -> dict[str, AttributeValue]:
    """The conversation, as the semantic conventions name it and as orq does."""
    attributes: dict[str, AttributeValue] = {
        gen_ai.GEN_AI_CONVERSATION_ID: thread.id,
        THREAD_ID: thread.id,
    }
    if thread.tags:
        attributes[THREAD_TAGS] = tuple(thread.tags)
    return attributes
