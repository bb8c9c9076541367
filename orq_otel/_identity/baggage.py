"""Groups of our entries in W3C baggage: written within every SDK's limits, read as
untrusted input, signed and verified as a whole.

A group is every entry under one prefix (``orq.identity.``, ``orq.thread.``). Values are
wire format v2 (`wire`). Writing replaces the group's entries and drops whole optional
entries, largest first, until the baggage fits the strictest SDK's limits. Reading never
raises: a bad entry is dropped with one warning per kind.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, NamedTuple
from urllib.parse import quote_plus

from opentelemetry import baggage
from opentelemetry.context import Context

from orq_otel._config import Settings
from orq_otel._identity.egress import install as install_egress_guard
from orq_otel._identity.properties import without_properties_in
from orq_otel._identity.signing import Rejection, sign, verify
from orq_otel._identity.values import WireError
from orq_otel._identity.wire import (
    decode_json,
    encode_json,
    is_unreserved,
    wire_size,
)
from orq_otel._log import warn_once

# The clock signatures are made and checked with (Unix seconds); tests replace it.
wall_clock = time.time

# Limits of the strictest SDKs: Python's propagator drops an entry over 4096 bytes and a
# header over 8192; Java and Go keep at most 64 entries.
MAX_HEADER_BYTES = 8192
MAX_ENTRY_BYTES = 4096
MAX_ENTRIES = 64
# "<prefix>sig=v2.<expiry, up to 12 digits>.<43 base64url characters>"
_SIGNATURE_VALUE_SIZE = len("v2.") + 12 + 1 + 43


class Group(NamedTuple):
    """One group of our baggage entries."""

    prefix: str  # "orq.identity."
    what: str  # "identity", for warnings
    # The group whose entries are signed along with this one's (the thread's: identity).
    binds: str | None = None

    @property
    def id_key(self) -> str:
        return self.prefix + "id"

    @property
    def encoded_id_key(self) -> str:  # an id that is not plain unreserved text
        return self.prefix + "id.b64"

    @property
    def signature_key(self) -> str:
        return self.prefix + "sig"

    def key(self, field: str) -> str:
        return self.prefix + field


# --- writing -------------------------------------------------------------------------


def id_entry(group: Group, value: str) -> tuple[str, str]:
    """The id as plain text when it is made of unreserved characters, else encoded."""
    if is_unreserved(value):
        return group.id_key, value
    return group.encoded_id_key, encode_json(value)


def _other_size(key: str, value: object) -> int:
    """Bytes Python's propagator writes for an entry that is not ours."""
    try:
        return len(quote_plus(key)) + 1 + len(quote_plus(str(value)))
    except UnicodeEncodeError:  # the propagator fails on it too; nothing for us to fit
        return 0


def fit_entries(group: Group, entries: dict[str, str], other_sizes: list[int]) -> dict[str, str]:
    """Drop whole optional entries, largest first, until all baggage fits the limits.

    `other_sizes` are the sizes of the entries that are not this group's. The id is never
    dropped: a group without its id is nothing.
    """
    ids = {group.id_key, group.encoded_id_key}
    sizes = {key: wire_size(key, value) for key, value in entries.items()}
    for key in [k for k, size in sizes.items() if size > MAX_ENTRY_BYTES and k not in ids]:
        _drop(group, sizes, key, f"is larger than the {MAX_ENTRY_BYTES} bytes an entry may have")

    def too_big() -> bool:
        all_sizes = [*other_sizes, *sizes.values()]
        header = sum(all_sizes) + max(len(all_sizes) - 1, 0)
        return len(all_sizes) > MAX_ENTRIES or header > MAX_HEADER_BYTES

    while too_big() and len(sizes) > 1:
        largest = max((key for key in sizes if key not in ids), key=sizes.__getitem__)
        _drop(group, sizes, largest, f"does not fit in {MAX_HEADER_BYTES} bytes of baggage")
    if too_big():
        message = "baggage is full even with only the %s id; it may be lost"
        warn_once(f"baggage-full:{group.prefix}", message, group.what)
    return {key: entries[key] for key in sizes}


def _drop(group: Group, sizes: dict[str, int], key: str, reason: str) -> None:
    warn_once(
        f"dropped:{key}", "%s baggage entry %s %s; left out (id kept)", group.what, key, reason
    )
    del sizes[key]


def write_group(
    group: Group,
    entries: dict[str, str],
    settings: Settings,
    context: Context,
    also_remove: tuple[str, ...] = (),
) -> Context:
    """Replace the group's entries (and `also_remove`) in the context's baggage.

    With `identity_secret` set, the entries are signed (``<prefix>sig``). From now on
    they leave the process only toward `propagate_to` hosts (`egress`).
    """
    install_egress_guard()
    current = baggage.get_all(context)
    ours = [key for key in current if key.startswith(group.prefix) or key in also_remove]
    for key in ours:
        context = baggage.remove_baggage(key, context)
    other_sizes = [_other_size(key, value) for key, value in current.items() if key not in ours]
    if settings.identity_secret:  # room for the signature entry
        other_sizes.append(wire_size(group.signature_key, "x" * _SIGNATURE_VALUE_SIZE))
    entries = fit_entries(group, entries, other_sizes)
    if settings.identity_secret:
        bound = bound_entries(group, context)
        entries[group.signature_key] = _signature(group, {**bound, **entries}, settings)
    for key, value in entries.items():
        context = baggage.set_baggage(key, value, context)
    return context


def _signature(group: Group, signed: Mapping[str, str], settings: Settings) -> str:
    expiry = int(wall_clock() + settings.identity_signature_ttl)
    return sign(signed, settings.identity_secret[0], expiry, group.signature_key)


def resign(group: Group, settings: Settings, context: Context) -> Context:
    """Sign the group in the context again (its bound entries changed), if it is signed."""
    entries = group_entries(group, context)
    if not settings.identity_secret or group.signature_key not in entries:
        return context
    signed = {**bound_entries(group, context), **entries}
    return baggage.set_baggage(group.signature_key, _signature(group, signed, settings), context)


# --- reading -------------------------------------------------------------------------


def read_id(group: Group, entries: Mapping[str, str]) -> str | None:
    """The group's id: the plain entry, else the decoded one, else None.

    `ValueError` when the encoded id is malformed, or when both are there and differ: a
    header that names two ids names none.
    """
    plain, encoded = entries.get(group.id_key), entries.get(group.encoded_id_key)
    decoded = decode_json(encoded) if encoded is not None else None
    if encoded is not None and not isinstance(decoded, str):
        raise WireError("the encoded id is not a JSON string")
    if plain is None:
        return decoded
    if decoded is not None and decoded != plain:
        raise WireError("two different ids")
    return plain


def group_entries(group: Group, context: Context | None) -> dict[str, Any]:
    """Every baggage entry under the group's prefix, text values without W3C properties
    (as every SDK reads them); other values as they are, for the caller to refuse."""
    return _entries_under(group.prefix, context)


def _entries_under(prefix: str, context: Context | None) -> dict[str, Any]:
    return {
        key: without_properties_in(key, value, context) if isinstance(value, str) else value
        for key, value in baggage.get_all(context).items()
        if key.startswith(prefix)
    }


def bound_entries(group: Group, context: Context | None) -> dict[str, str]:
    """The entries signed along with the group's own: the bound group's but its signature."""
    if group.binds is None:
        return {}
    signature_key = group.binds + "sig"
    return {
        key: value
        for key, value in _entries_under(group.binds, context).items()
        if key != signature_key and isinstance(value, str)
    }


# Entries larger than this are decoded or verified each time, not cached: a cache keeps its
# keys, and a caller who sends new large baggage on every request must not grow us.
CACHEABLE_CHARS = 2048


def cacheable(*groups: tuple[tuple[str, str], ...]) -> bool:
    """Whether these items are small enough to be a cache key (see CACHEABLE_CHARS)."""
    return sum(len(k) + len(v) for items in groups for k, v in items) <= CACHEABLE_CHARS


@lru_cache(maxsize=4096)
def _verified(
    items: tuple[tuple[str, str], ...],
    bound: tuple[tuple[str, str], ...],
    secrets: tuple[str, ...],
    signature_key: str,
) -> tuple[int | None, Rejection | None]:
    return verify(dict(items), secrets, signature_key, dict(bound))


def trusted(
    group: Group,
    entries: Mapping[str, str],
    settings: Settings,
    bound: Mapping[str, str] | None = None,
) -> tuple[bool, Rejection | None]:
    """(trusted, why not): unsigned groups are trusted unless `identity_secret` is set.

    `bound`: the entries signed with the group's own (`bound_entries`)."""
    if not settings.identity_secret:
        return True, None
    items = tuple(sorted(entries.items()))
    bound_items = tuple(sorted((bound or {}).items()))
    verified = _verified if cacheable(items, bound_items) else _verified.__wrapped__
    expiry, rejection = verified(items, bound_items, settings.identity_secret, group.signature_key)
    if rejection is None and expiry is not None:
        now = wall_clock()
        if now > expiry + settings.identity_clock_skew:
            rejection = Rejection.EXPIRED
        elif expiry > now + settings.identity_signature_ttl + settings.identity_clock_skew:
            warn_once(
                f"sig-too-long:{group.prefix}",
                "%s in baggage is signed for longer than identity_signature_ttl; ignored",
                group.what,
            )
            rejection = Rejection.BAD_SIGNATURE
    if rejection is not None:
        warn_once(f"rejected:{group.prefix}{rejection.value}", _WARNINGS[rejection], group.what)
        return False, rejection
    return True, None


_WARNINGS = {
    Rejection.MISSING: "%s in baggage is not signed; ignored (identity_secret is set)",
    Rejection.BAD_SIGNATURE: "%s in baggage has a bad signature (forged, tampered); ignored",
    Rejection.EXPIRED: "%s in baggage has an expired signature (an old replay?); ignored",
}
