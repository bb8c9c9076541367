"""The identity in effect: set in this process, or received in baggage from another service."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry.context import Context, attach, create_key, detach, get_value, set_value

from orq_otel._config import current_settings
from orq_otel._identity.identity_entries import read_identity, write_identity
from orq_otel._identity.model import Identity, coerce_identity
from orq_otel._identity.signing import Rejection
from orq_otel._log import exception_once

# The full identity (email and logo included) stays in-process under this key; only the
# propagated fields go into baggage.
_IDENTITY_KEY = create_key("orq_otel.identity")

# Called with the identity each time a `use_identity` block is entered (IdentitySpanProcessor
# uses it to tag the span in progress).
on_identity_entered: list[Callable[[Identity], None]] = []


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
    return identity_in_effect(context)[0]


def identity_in_effect(context: Context | None = None) -> tuple[Identity | None, Rejection | None]:
    """The identity in effect, or why the one in baggage was not trusted."""
    in_process = get_value(_IDENTITY_KEY, context)
    if isinstance(in_process, Identity):
        return in_process, None
    return read_identity(context, current_settings.get())


def get_local_identity(context: Context | None = None) -> Identity | None:
    """The identity set in this process only (trusted without question)."""
    value = get_value(_IDENTITY_KEY, context)
    return value if isinstance(value, Identity) else None


def _notify(identity: Identity) -> None:
    for listener in on_identity_entered:
        try:
            listener(identity)
        except Exception:  # noqa: BLE001 - a listener of ours must not break the caller's block
            exception_once(f"listener:{listener!r}", "orq_otel failed to tag the current span")


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
        _notify(resolved)
        yield resolved
    finally:
        detach(token)
