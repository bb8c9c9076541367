"""The identity and the thread as span attributes, for LLM spans and for every span
(`IdentitySpanProcessor`), with the same privacy rules: e-mail only with `record_email`."""

from __future__ import annotations

import json
from collections.abc import Mapping

from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai
from opentelemetry.semconv._incubating.attributes.enduser_attributes import ENDUSER_ID
from opentelemetry.semconv._incubating.attributes.user_attributes import USER_ID
from opentelemetry.util.types import AttributeValue

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
    """Span attributes of an identity, computed once per identity object and kept on it.

    The same mapping is returned call after call: callers copy it, never change it.
    """

    def __init__(self, record_email: bool) -> None:
        self._record_email = record_email
        self._key = "span_attributes_with_email" if record_email else "span_attributes"

    def of(self, identity: Identity) -> Mapping[str, AttributeValue]:
        derived = identity.derived
        attributes = derived.get(self._key)
        if attributes is None:
            attributes = derived[self._key] = self._compute(identity)
        return attributes

    def _compute(self, identity: Identity) -> Mapping[str, AttributeValue]:
        attributes = _identity_attributes(identity)
        if self._record_email and identity.email is not None:
            attributes[IDENTITY_EMAIL] = identity.email
        return attributes


def thread_attributes(thread: Thread) -> Mapping[str, AttributeValue]:
    """The conversation, as the semantic conventions name it and as orq does (computed once
    per thread object; callers copy it, never change it)."""
    attributes: Mapping[str, AttributeValue] | None = thread.derived.get("span_attributes")
    if attributes is None:
        attributes = thread.derived["span_attributes"] = _thread_attributes(thread)
    return attributes


def _thread_attributes(thread: Thread) -> dict[str, AttributeValue]:
    attributes: dict[str, AttributeValue] = {
        gen_ai.GEN_AI_CONVERSATION_ID: thread.id,
        THREAD_ID: thread.id,
    }
    if thread.tags:
        attributes[THREAD_TAGS] = tuple(thread.tags)
    return attributes
