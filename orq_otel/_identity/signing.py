"""Signed baggage: HMAC-SHA256 over a group of entries and an expiry.

A group (``orq.identity.*`` or ``orq.thread.*``) is signed by one more entry, its ``sig``::

    v1.<expiry>.<HMAC-SHA256, 43 base64url characters, unpadded>

The expiry is Unix seconds, 1-12 ASCII digits without a leading zero. The HMAC is taken
over the group's canonical form, as UTF-8: one ``key=value`` line for every entry of the
group but the signature, sorted by key, then ``exp=<expiry>``, joined by ``\n``. Values
are as the receiving SDK's propagator delivers them, without W3C properties. No value can
hold a newline: every value we write is URL-unreserved text or base64url.

Every entry of the group is signed, so an entry added in transit (known or not) breaks
the signature. The parser accepts exactly one form: anything else is a bad signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from enum import Enum

from orq_otel._identity.wire import entry_text

_VERSION = "v1"
_SIGNATURE = re.compile(r"v1\.([1-9][0-9]{0,11})\.([A-Za-z0-9_-]{43})")


class Rejection(str, Enum):
    """Why identity from baggage was not trusted (the `reason` of the rejection counter)."""

    MISSING = "missing"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"


def canonical_form(entries: Mapping[str, str], expiry: int, signature_key: str) -> bytes:
    lines = [f"{key}={entry_text(entries[key])}" for key in sorted(entries) if key != signature_key]
    lines.append(f"exp={expiry}")
    return "\n".join(lines).encode()


def _mac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def _base64url(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign(entries: Mapping[str, str], secret: str, expiry: int, signature_key: str) -> str:
    """The signature entry's value for these entries, valid until `expiry`."""
    digest = _mac(secret, canonical_form(entries, expiry, signature_key))
    return f"{_VERSION}.{expiry}.{_base64url(digest)}"


def parse_signature(value: str) -> tuple[int, bytes] | None:
    """(expiry, digest) from a signature value in its one canonical form, else None."""
    match = _SIGNATURE.fullmatch(entry_text(value))
    if match is None:
        return None
    encoded = match.group(2)
    digest = base64.urlsafe_b64decode(encoded + "=")
    if _base64url(digest) != encoded:  # stray bits in the last character
        return None
    return int(match.group(1)), digest


def verify(
    entries: Mapping[str, str], secrets: Sequence[str], signature_key: str
) -> tuple[int | None, Rejection | None]:
    """(expiry, None) if any secret signed these entries, else (None, the reason).

    Expiry is checked by the caller against its clock: this result is cacheable.
    """
    value = entries.get(signature_key)
    if value is None:
        return None, Rejection.MISSING
    parsed = parse_signature(value)
    if parsed is None:
        return None, Rejection.BAD_SIGNATURE
    expiry, digest = parsed
    message = canonical_form(entries, expiry, signature_key)
    if any(hmac.compare_digest(_mac(secret, message), digest) for secret in secrets):
        return expiry, None
    return None, Rejection.BAD_SIGNATURE
