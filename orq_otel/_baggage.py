"""The identity's wire format in W3C baggage, for services in any language.

Entries (values shown before the propagator's percent-encoding):

- ``orq.identity.id``: the id as plain text. Enough on its own for a downstream service.
- ``orq.identity.<field>`` for each other propagated field: the field's value as compact
  JSON (a string, an array of strings or an object). JSON keeps leading and trailing
  spaces, which the W3C propagator would otherwise trim, and nests metadata naturally.
- Without ``orq.identity.id``, a plain ``enduser.id`` entry is taken as the id.

Baggage from other services is untrusted: every entry is bounded, parsed and validated on
its own; a bad entry is dropped with one warning per kind and never raises.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import quote_plus

from opentelemetry import baggage
from opentelemetry.context import Context
from opentelemetry.semconv._incubating.attributes.enduser_attributes import ENDUSER_ID
from pydantic import ValidationError

from orq_otel._config import IDENTITY_FIELDS, Settings
from orq_otel._identity import Identity
from orq_otel._log import warn_once
from orq_otel._signing import SIGNATURE_KEY, Rejection, sign, verify

# The clock signatures are made and checked with (Unix seconds); tests replace it.
wall_clock = time.time

KEY_PREFIX = "orq.identity."
ID_KEY = KEY_PREFIX + "id"
# The convention of the OpenTelemetry demo and other instrumentations: read, never written.
ENDUSER_ID_KEY = ENDUSER_ID

# The limits the Python W3C propagator enforces (W3CBaggagePropagator._MAX_*): an entry
# beyond them is dropped by the propagator without telling us which field it was.
MAX_HEADER_BYTES = 8192
MAX_ENTRY_BYTES = 4096
MAX_ENTRIES = 180

_OPTIONAL_FIELDS = tuple(name for name in IDENTITY_FIELDS if name != "id")
_FIELD_KEYS = {name: KEY_PREFIX + name for name in IDENTITY_FIELDS}
_DECODE_CACHE_SIZE = 4096
# "orq.identity.sig=v1.<10-digit expiry>.<43 base64url characters>"
_SIGNATURE_WIRE_SIZE = len(SIGNATURE_KEY) + 1 + len("v1.") + 10 + 1 + 43


# --- writing -------------------------------------------------------------------------


def _encode_value(field: str, value: Any) -> str:
    if field == "id":
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _wire_size(key: str, value: str) -> int | None:
    """Bytes the propagator will write for one entry, or None if it cannot encode it."""
    try:
        return len(quote_plus(key)) + 1 + len(quote_plus(value))
    except UnicodeEncodeError:  # lone surrogates: not representable in UTF-8
        return None


def _header_size(sizes: Iterable[int]) -> int:
    sizes = list(sizes)
    return sum(sizes) + max(len(sizes) - 1, 0)


def encode_identity(identity: Identity, propagate_fields: Iterable[str]) -> dict[str, str]:
    """The baggage entries for an identity: id plain, other set fields as JSON."""
    payload = identity.payload
    return {
        _FIELD_KEYS[field]: _encode_value(field, payload[field])
        for field in propagate_fields
        if field in payload
    }


def fit_entries(entries: dict[str, str], other_sizes: list[int]) -> dict[str, str]:
    """Drop whole optional entries, largest first, until all baggage fits W3C limits.

    `other_sizes` are the wire sizes of the baggage entries that are not ours. The id is
    never dropped: an identity without its id is no identity.
    """
    sizes: dict[str, int] = {}
    for key, value in entries.items():
        size = _wire_size(key, value)
        if size is None and key != ID_KEY:
            warn_once(f"unencodable:{key}", "%s is not valid unicode; left out of baggage", key)
            continue
        sizes[key] = size or 0
    for key in [k for k, size in sizes.items() if size > MAX_ENTRY_BYTES and k != ID_KEY]:
        _drop(sizes, key, f"is larger than the {MAX_ENTRY_BYTES} bytes W3C allows an entry")

    def too_big() -> bool:
        count = len(other_sizes) + len(sizes)
        return (
            count > MAX_ENTRIES or _header_size([*other_sizes, *sizes.values()]) > MAX_HEADER_BYTES
        )

    while too_big() and len(sizes) > 1:
        largest = max((key for key in sizes if key != ID_KEY), key=sizes.__getitem__)
        _drop(sizes, largest, f"does not fit in the {MAX_HEADER_BYTES} bytes of W3C baggage")
    if too_big():
        warn_once("baggage-full", "baggage is full even with only %s; it may be lost", ID_KEY)
    return {key: entries[key] for key in sizes}


def _drop(sizes: dict[str, int], key: str, reason: str) -> None:
    warn_once(f"dropped:{key}", "identity baggage entry %s %s; left out (id kept)", key, reason)
    del sizes[key]


def write_identity(identity: Identity, settings: Settings, context: Context) -> Context:
    """Replace any identity entries in the context's baggage with this identity's.

    With `identity_secret` set, the entries are signed (`orq.identity.sig`).
    """
    current = baggage.get_all(context)
    for key in current:
        if key.startswith(KEY_PREFIX):
            context = baggage.remove_baggage(key, context)
    other_sizes = [
        _wire_size(key, str(value)) or 0
        for key, value in current.items()
        if not key.startswith(KEY_PREFIX)
    ]
    if settings.identity_secret:
        other_sizes.append(_SIGNATURE_WIRE_SIZE)  # room for the signature entry
    entries = fit_entries(encode_identity(identity, settings.propagate_fields), other_sizes)
    if settings.identity_secret:
        expiry = int(wall_clock() + settings.identity_signature_ttl)
        entries[SIGNATURE_KEY] = sign(entries, settings.identity_secret[0], expiry)
    for key, value in entries.items():
        context = baggage.set_baggage(key, value, context)
    return context


# --- reading -------------------------------------------------------------------------


def read_identity(
    context: Context | None, settings: Settings
) -> tuple[Identity | None, Rejection | None]:
    """The identity another service put in baggage, or why it was not trusted.

    (None, None) when there is no identity in baggage. Never raises.
    """
    raw_id = baggage.get_baggage(ID_KEY, context)
    from_enduser = raw_id is None
    if from_enduser:
        raw_id = baggage.get_baggage(ENDUSER_ID_KEY, context)
        if raw_id is None:
            return None, None
    raw_fields = tuple(baggage.get_baggage(_FIELD_KEYS[name], context) for name in _OPTIONAL_FIELDS)
    raw_signature = baggage.get_baggage(SIGNATURE_KEY, context)
    texts = (raw_id, *raw_fields, raw_signature)
    if not all(value is None or isinstance(value, str) for value in texts):
        warn_once("baggage-not-text", "identity baggage holds a non-text value; ignored")
        return None, None
    identity, expiry, rejection = _decode(
        raw_id,  # all checked to be text just above
        from_enduser,
        raw_fields,
        raw_signature,
        settings.identity_secret,
    )
    if rejection is None and expiry is not None and _expired(expiry, settings):
        rejection = Rejection.EXPIRED
    if rejection is not None:
        warn_once(f"rejected:{rejection.value}", _REJECTION_WARNINGS[rejection])
        return None, rejection
    return identity, None


def _expired(expiry: int, settings: Settings) -> bool:
    return wall_clock() > expiry + settings.identity_clock_skew


_REJECTION_WARNINGS = {
    Rejection.MISSING: "identity in baggage is not signed; ignored (identity_secret is set)",
    Rejection.BAD_SIGNATURE: "identity in baggage has a bad signature (forged, tampered); ignored",
    Rejection.EXPIRED: "identity in baggage has an expired signature (an old replay?); ignored",
}


@lru_cache(maxsize=_DECODE_CACHE_SIZE)
def _decode(
    raw_id: str,
    from_enduser: bool,
    raw_fields: tuple[str | None, ...],
    raw_signature: str | None,
    secrets: tuple[str, ...],
) -> tuple[Identity | None, int | None, Rejection | None]:
    """(identity, signature expiry, rejection): cached, since baggage repeats call after call."""
    expiry = None
    if secrets:
        if from_enduser:  # enduser.id cannot carry our signature
            return None, None, Rejection.MISSING
        entries = {
            _FIELD_KEYS[name]: raw
            for name, raw in zip(_OPTIONAL_FIELDS, raw_fields, strict=True)
            if raw is not None
        }
        entries[ID_KEY] = raw_id
        if raw_signature is not None:
            entries[SIGNATURE_KEY] = raw_signature
        expiry, rejection = verify(entries, secrets)
        if rejection is not None:
            return None, None, rejection
    try:
        identity = Identity(id=raw_id)
    except ValidationError as error:
        warn_once(
            "baggage-invalid-id", "identity id in baggage is invalid, ignored: %s", _reason(error)
        )
        return None, None, None
    fields: dict[str, Any] = {}
    for name, raw in zip(_OPTIONAL_FIELDS, raw_fields, strict=True):
        if raw is not None:
            value = _decode_field(name, raw)
            if value is not None:
                fields[name] = value
    return (identity.model_copy(update=fields) if fields else identity), expiry, None


def _decode_field(name: str, raw: str) -> Any:
    """One validated field value from its baggage text, or None (with a warning)."""
    if len(raw) > MAX_ENTRY_BYTES:
        warn_once(f"baggage-oversized:{name}", "identity %s in baggage is oversized, ignored", name)
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        warn_once(f"baggage-malformed:{name}", "identity %s in baggage is not JSON, ignored", name)
        return None
    try:
        validated = Identity.model_validate({"id": "-", name: value})
    except ValidationError as error:
        warn_once(
            f"baggage-invalid:{name}",
            "identity %s in baggage is invalid, ignored: %s",
            name,
            _reason(error),
        )
        return None
    return getattr(validated, name)


def _reason(error: ValidationError) -> str:
    return "; ".join(str(detail["msg"]) for detail in error.errors())


def is_identity_key(key: str) -> bool:
    """Whether a baggage key carries identity (ours, or the enduser.id convention)."""
    return key.startswith(KEY_PREFIX) or key == ENDUSER_ID_KEY
