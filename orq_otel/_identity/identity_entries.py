"""The identity's entries in W3C baggage, for services in any language (wire format v2).

- ``orq.identity.id``: the id, when it is made of URL-unreserved characters only;
  otherwise ``orq.identity.id.b64``: the id encoded as every other value is.
- ``orq.identity.<field>`` for each other propagated field (``display_name``, ``tags``,
  ``metadata``; ``email`` and ``logo_url`` when listed): ``base64url(UTF-8(JSON))``.
- ``orq.identity.sig`` with ``identity_secret`` set (`signing`).
- Without ``orq.identity.id``, a plain ``enduser.id`` entry is taken as the id.

Values written by the first release (plain JSON) are still read.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from opentelemetry import baggage
from opentelemetry.context import Context
from pydantic import ValidationError

from orq_otel._config import IDENTITY_FIELDS, Settings
from orq_otel._identity.baggage import (
    Group,
    cacheable,
    group_entries,
    id_entry,
    read_id,
    resign,
    trusted,
    write_group,
)
from orq_otel._identity.keys import ENDUSER_ID_KEY, IDENTITY_PREFIX
from orq_otel._identity.last_read import LastBaggageRead
from orq_otel._identity.model import Identity
from orq_otel._identity.properties import without_properties_in
from orq_otel._identity.signing import Rejection
from orq_otel._identity.thread_entries import THREAD
from orq_otel._identity.values import describe
from orq_otel._identity.wire import decode_json, encode_json
from orq_otel._log import exception_once, warn_once

IDENTITY = Group(IDENTITY_PREFIX, "identity")
_OPTIONAL_FIELDS = tuple(name for name in IDENTITY_FIELDS if name != "id")
_FIELD_KEYS = {IDENTITY.key(name): name for name in _OPTIONAL_FIELDS}
_KNOWN_KEYS = frozenset(
    {IDENTITY.id_key, IDENTITY.encoded_id_key, IDENTITY.signature_key, *_FIELD_KEYS}
)


# --- writing -------------------------------------------------------------------------


def encode_identity(identity: Identity, propagate_fields: Iterable[str]) -> dict[str, str]:
    """The baggage entries for an identity's propagated fields."""
    payload = identity.payload
    key, value = id_entry(IDENTITY, identity.id)
    entries = {key: value}
    for field in propagate_fields:
        if field != "id" and field in payload:
            entries[IDENTITY.key(field)] = encode_json(payload[field])
    return entries


def write_identity(identity: Identity, settings: Settings, context: Context) -> Context:
    """Replace any identity entries (and `enduser.id`) in the context's baggage."""
    entries = encode_identity(identity, settings.propagate_fields)
    context = write_group(IDENTITY, entries, settings, context, also_remove=(ENDUSER_ID_KEY,))
    return resign(THREAD, settings, context)  # a signed thread is bound to the identity


# --- reading -------------------------------------------------------------------------


def _read_identity(
    context: Context | None, settings: Settings
) -> tuple[Identity | None, Rejection | None]:
    """The identity another service put in baggage, or why it was not trusted.

    (None, None) when there is none. Never raises, whatever the baggage holds.
    """
    try:
        return _read(context, settings)
    except Exception:  # noqa: BLE001 - untrusted input must never break the caller
        exception_once("baggage-unexpected", "identity baggage could not be read; ignored")
        return None, None


# Read once per baggage object (all the calls of one request share it).
read_identity = LastBaggageRead(_read_identity)


def _read(context: Context | None, settings: Settings) -> tuple[Identity | None, Rejection | None]:
    entries = group_entries(IDENTITY, context)
    enduser = baggage.get_baggage(ENDUSER_ID_KEY, context)
    if not entries and enduser is None:
        return None, None
    if not all(isinstance(v, str) for v in (*entries.values(), enduser) if v is not None):
        warn_once("baggage-not-text", "identity baggage holds a non-text value; ignored")
        return None, None
    if settings.identity_secret:
        if not entries:  # a bare enduser.id cannot carry our signature
            warn_once("rejected:enduser", "enduser.id in baggage is not signed; ignored")
            return None, Rejection.MISSING
        ok, rejection = trusted(IDENTITY, entries, settings)
        if not ok:
            return None, rejection
        enduser = None  # signed identity only
    elif enduser is not None:
        enduser = without_properties_in(ENDUSER_ID_KEY, str(enduser), context)
    # Unknown entries only earn one warning: left out of the cache key, as any caller
    # can make new ones on every request.
    known = tuple(sorted((k, v) for k, v in entries.items() if k in _KNOWN_KEYS))
    if len(known) < len(entries):
        warn_once("baggage-unknown", "unknown identity baggage entries ignored")
    decode = _decode if cacheable(known) else _decode.__wrapped__
    identity, warnings = decode(known, enduser)
    for warning in warnings:  # made outside the cache: each is logged once, cached or not
        warn_once(*warning)
    return identity, None


# (kind, message, *arguments) of warn_once: fixed texts and field names, never values.
Warning = tuple[str, ...]


@lru_cache(maxsize=4096)
def _decode(
    items: tuple[tuple[str, str], ...], enduser: str | None
) -> tuple[Identity | None, tuple[Warning, ...]]:
    """The identity in these entries, or None, and what was wrong; cached, since baggage
    repeats call after call."""
    entries = dict(items)
    warnings: list[Warning] = []
    identity_id = _identity_id(entries, enduser, warnings)
    if identity_id is None:
        return None, tuple(warnings)
    try:
        identity = Identity(id=identity_id)
    except ValidationError as error:
        message = "identity id in baggage is invalid, ignored: %s"
        warnings.append(("baggage-invalid-id", message, describe(error)))
        return None, tuple(warnings)
    fields = {}
    for key, name in _FIELD_KEYS.items():
        raw = entries.get(key)
        if raw is not None and (value := _field(name, raw, warnings)) is not None:
            fields[name] = value
    return (identity.model_copy(update=fields) if fields else identity), tuple(warnings)


def _identity_id(
    entries: dict[str, str], enduser: str | None, warnings: list[Warning]
) -> str | None:
    try:
        identity_id = read_id(IDENTITY, entries)
    except ValueError as error:
        message = "identity id in baggage is unusable (%s); ignored"
        warnings.append(("baggage-bad-id", message, describe(error)))
        return None
    if identity_id is None and enduser is not None:
        return enduser
    return identity_id


def _field(name: str, raw: str, warnings: list[Warning]) -> Any:
    """One validated field value from its baggage text, or None (with a warning)."""
    try:
        value = decode_json(raw)
    except ValueError as error:
        message = "identity %s in baggage is malformed (%s), ignored"
        warnings.append((f"baggage-malformed:{name}", message, name, describe(error)))
        return None
    if value is None:
        return None
    try:
        validated = Identity.model_validate({"id": "-", name: value})
    except ValidationError as error:
        message = "identity %s in baggage is invalid, ignored: %s"
        warnings.append((f"baggage-invalid:{name}", message, name, describe(error)))
        return None
    return getattr(validated, name)
