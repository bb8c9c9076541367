"""Signed identity baggage: HMAC-SHA256 over the identity entries and an expiry.

The signature travels as one more baggage entry, ``orq.identity.sig``::

    v1.<expiry, Unix seconds>.<base64url HMAC-SHA256, unpadded>

computed over the canonical form of every ``orq.identity.*`` entry (the signature aside),
as UTF-8 text: one ``key=value`` line per entry, sorted by key, then ``exp=<expiry>``,
joined by ``\\n``. Values are the entries' text before percent-encoding, so a service in
any language can sign and verify. No value can hold a newline: ids have no control
characters and every other value is JSON, which escapes them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from enum import Enum

SIGNATURE_KEY = "orq.identity.sig"
_VERSION = "v1"


class Rejection(str, Enum):
    """Why identity from baggage was not trusted (the `reason` of the rejection counter)."""

    MISSING = "missing"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"


def canonical_form(entries: Mapping[str, str], expiry: int) -> bytes:
    lines = [f"{key}={entries[key]}" for key in sorted(entries) if key != SIGNATURE_KEY]
    lines.append(f"exp={expiry}")
    return "\n".join(lines).encode()


def _mac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def sign(entries: Mapping[str, str], secret: str, expiry: int) -> str:
    """The `orq.identity.sig` value for these entries, valid until `expiry`."""
    digest = _mac(secret, canonical_form(entries, expiry))
    return f"{_VERSION}.{expiry}.{base64.urlsafe_b64encode(digest).rstrip(b'=').decode()}"


def parse_signature(value: str) -> tuple[int, bytes] | None:
    """(expiry, digest) from an `orq.identity.sig` value, or None if malformed."""
    parts = value.split(".")
    if len(parts) != 3 or parts[0] != _VERSION or not parts[1].isdigit() or len(parts[1]) > 12:
        return None
    try:
        digest = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
    except (binascii.Error, ValueError):
        return None
    return (int(parts[1]), digest) if len(digest) == hashlib.sha256().digest_size else None


def verify(
    entries: Mapping[str, str], secrets: Sequence[str]
) -> tuple[int | None, Rejection | None]:
    """(expiry, None) if any secret signed these entries, else (None, the reason).

    Expiry is checked by the caller against its clock: this result is cacheable.
    """
    value = entries.get(SIGNATURE_KEY)
    if value is None:
        return None, Rejection.MISSING
    parsed = parse_signature(value)
    if parsed is None:
        return None, Rejection.BAD_SIGNATURE
    expiry, digest = parsed
    message = canonical_form(entries, expiry)
    if any(hmac.compare_digest(_mac(secret, message), digest) for secret in secrets):
        return expiry, None
    return None, Rejection.BAD_SIGNATURE
