"""The identity in effect: set in this process, or received in baggage from another service."""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from opentelemetry.context import Context, attach, create_key, detach, get_value, set_value

from orq_otel._config import Settings, current_settings
from orq_otel._identity.identity_entries import read_identity, write_identity
from orq_otel._identity.model import Identity, coerce_identity
from orq_otel._identity.signing import Rejection
from orq_otel._log import exception_once

# The full identity (email and logo included) stays in-process under this key; only the
# propagated fields go into baggage.
_IDENTITY_KEY = create_key("orq_otel.identity")


class SpanTagger(Protocol):
    """Tags the span in progress with an identity just set inside it (IdentitySpanProcessor)."""

    def tag_current_span(self, identity: Identity) -> None: ...


# Registered by each IdentitySpanProcessor when it is made (not at import): the server
# span of a request starts before the application knows the user, and use_identity lets
# them tag it.
_span_taggers: weakref.WeakSet[SpanTagger] = weakref.WeakSet()


def register_span_tagger(tagger: SpanTagger) -> None:
    _span_taggers.add(tagger)


def set_identity(identity: Identity | Mapping[str, Any], context: Context | None = None) -> Context:
    """Return a copy of `context` (default: the current one) in which `identity` is in effect.

    The identity is kept whole in the context and its propagated fields are written to
    baggage, so instrumented HTTP clients carry it to other services. Pass the result to
    `opentelemetry.context.attach`. Invalid input raises `pydantic.ValidationError`.
    """
    resolved = coerce_identity(identity, {})
    with_value = set_value(_IDENTITY_KEY, resolved, context)
    return write_identity(resolved, current_settings.get(), with_value)


def get_identity(context: Context | None = None) -> Identity | None:
    """The identity in effect: the one set in this process, else the one read from baggage.

    With `identity_secret` set, identity from baggage counts only if its signature verifies
    and has not expired; identity set in this process is always trusted.
    """
    return identity_in_effect(context, current_settings.get())[0]


def identity_in_effect(
    context: Context | None, settings: Settings
) -> tuple[Identity | None, Rejection | None]:
    """The identity in effect, or why the one in baggage was not trusted."""
    in_process = get_value(_IDENTITY_KEY, context)
    if isinstance(in_process, Identity):
        return in_process, None
    return read_identity(context, settings)


def identity_set_here(context: Context | None = None) -> bool:
    """Whether the identity in effect was set in this process (not read from baggage)."""
    return isinstance(get_value(_IDENTITY_KEY, context), Identity)


def _tag_current_span(identity: Identity) -> None:
    for tagger in list(_span_taggers):
        try:
            tagger.tag_current_span(identity)
        except Exception:  # noqa: BLE001 - a tagger of ours must not break the caller's block
            exception_once("span-tagger", "orq_otel failed to tag the current span")


@contextmanager
def use_identity(
    identity: Identity | Mapping[str, Any] | None = None, /, **fields: Any
) -> Iterator[Identity]:
    """Make an identity current for the ``with`` block, then restore the previous one.

    Accepts an `Identity`, a mapping, or keyword fields (which override those of a given
    identity). Each asyncio task and each copied context sees only its own identity.
    Invalid input raises `pydantic.ValidationError` before anything is set.
    """
    resolved = coerce_identity(identity, fields)
    token = attach(set_identity(resolved))
    try:
        _tag_current_span(resolved)
        yield resolved
    finally:
        detach(token)
