"""Signed baggage: HMAC-SHA256 over a group of entries and an expiry.

A group (``orq.identity.*`` or ``orq.thread.*``) is signed by one more entry, its ``sig``::

    v2.<expiry>.<HMAC-SHA256, 43 base64url characters, unpadded>

The expiry is Unix seconds, 1-12 ASCII digits without a leading zero. The HMAC is taken
over a message in which every item is length-prefixed, ``<UTF-8 byte length>:<text>``, so
that no two different sets of entries give the same message (the first release joined
``key=value`` lines, and a key that decodes to hold `=` and a newline could fold two
entries into one). The items, in order: ``v2``, the signature's own key, then for every
signed entry, sorted by key, its key and its value, then ``exp`` and the expiry. Values
are as the receiving SDK's propagator delivers them, without W3C properties.

The signed entries are the group's own but its signature and, for the thread, also every
identity entry but the identity's signature: a thread is valid only next to the identity
it was signed with, so a victim's signed thread cannot be carried beside another identity.

`v1` signatures (the previous release: lines, the group's own entries only) are still
verified during an upgrade, but only where their message is unambiguous (no key holding
`=` or a newline, no value holding a newline); they do not bind a thread to an identity.
The parser accepts exactly one form per version: anything else is a bad signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from enum import Enum

_VERSION = "v2"
_SIGNATURE = re.compile(r"(v[12])\.([1-9][0-9]{0,11})\.([A-Za-z0-9_-]{43})")


class Rejection(str, Enum):
    """Why identity from baggage was not trusted (the `reason` of the rejection counter)."""

    MISSING = "missing"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"


def _item(text: str) -> bytes:
    data = text.encode()
    return str(len(data)).encode() + b":" + data


def canonical_form(entries: Mapping[str, str], expiry: int, signature_key: str) -> bytes:
    """The v2 message: every signed entry but the signature, length-prefixed."""
    items = [_VERSION, signature_key]
    for key in sorted(entries):
        if key != signature_key:
            items += (key, entries[key])
    items += ("exp", str(expiry))
    return b"".join(map(_item, items))


def _v1_form(entries: Mapping[str, str], expiry: int, signature_key: str) -> bytes | None:
    """The first release's message, or None where it could be read two ways."""
    signed = {key: value for key, value in entries.items() if key != signature_key}
    if any("=" in k or "\n" in k or "\n" in v for k, v in signed.items()):
        return None
    lines = [f"{key}={signed[key]}" for key in sorted(signed)]
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


def parse_signature(value: str) -> tuple[str, int, bytes] | None:
    """(version, expiry, digest) from a signature value in its canonical form, else None."""
    match = _SIGNATURE.fullmatch(value)
    if match is None:
        return None
    encoded = match.group(3)
    digest = base64.urlsafe_b64decode(encoded + "=")
    if _base64url(digest) != encoded:  # stray bits in the last character
        return None
    return match.group(1), int(match.group(2)), digest


def verify(
    entries: Mapping[str, str],
    secrets: Sequence[str],
    signature_key: str,
    bound: Mapping[str, str] | None = None,
) -> tuple[int | None, Rejection | None]:
    """(expiry, None) if any secret signed these entries, else (None, the reason).

    `bound` are the entries signed along with the group's own (the identity's, for a
    thread). Expiry is checked by the caller against its clock: this result is cacheable.
    """
    value = entries.get(signature_key)
    if value is None:
        return None, Rejection.MISSING
    parsed = parse_signature(value)
    if parsed is None:
        return None, Rejection.BAD_SIGNATURE
    version, expiry, digest = parsed
    if version == _VERSION:
        message: bytes | None = canonical_form({**(bound or {}), **entries}, expiry, signature_key)
    else:
        message = _v1_form(entries, expiry, signature_key)
    if message is not None and any(
        hmac.compare_digest(_mac(secret, message), digest) for secret in secrets
    ):
        return expiry, None
    return None, Rejection.BAD_SIGNATURE
