"""Baggage values that arrive unchanged in every OpenTelemetry SDK (wire format v2).

The SDKs' W3C baggage propagators disagree on encoding: Python form-encodes (a space is
written `+`, and a `+` is read as a space), JavaScript, Java and Go percent-encode (a
space is `%20`, a `+` read literally; Go also writes `+` literally); Python strips
whitespace after decoding, JavaScript before. Only the URL-unreserved characters
``A-Z a-z 0-9 - . _ ~`` pass every encoder and decoder untouched. So every value we
write is made of those alone:

- an id made only of unreserved characters is written as it is (readable, and what a
  service in any language can set by hand);
- every other value is ``base64url(UTF-8(JSON))``, unpadded (RFC 4648 section 5).

Reading is strict: a value either is plain unreserved text, or decodes in exactly one
canonical way; anything else is refused with `ValueError` (callers warn and drop it).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from orq_otel._identity.values import WireError

_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
# Marks a value written by the first release: compact JSON, which starts like this.
_V1_JSON_START = ('"', "[", "{")


def is_unreserved(text: str) -> bool:
    """Whether `text` is non-empty and passes every SDK's propagator unchanged."""
    return _UNRESERVED.fullmatch(text) is not None


def encode_json(value: Any) -> str:
    """``base64url(UTF-8(compact JSON))``, unpadded."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode("ascii")


def _reject_constant(name: str) -> Any:
    raise WireError(f"{name} is not JSON")


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # nesting deeper than the interpreter's stack
        raise WireError("nested too deeply") from None


def decode_json(value: str) -> Any:
    """The JSON value in a baggage value (without W3C properties): base64url (v2), or plain
    JSON (the first release)."""
    if value.startswith(_V1_JSON_START):
        return _loads(value)
    if _BASE64URL.fullmatch(value) is None or len(value) % 4 == 1:
        raise WireError("not base64url")
    padded = value + "=" * (-len(value) % 4)
    try:
        data = base64.urlsafe_b64decode(padded)
    except (binascii.Error, ValueError):
        raise WireError("not base64url") from None
    if base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii") != value:
        raise WireError("not canonical base64url")  # stray bits in the last character
    return _loads(data.decode("utf-8"))  # UnicodeDecodeError is a ValueError


def without_properties(value: str) -> str:
    """A value without W3C properties (``value;prop=1``).

    Python's propagator leaves properties inside the value; the other SDKs split them off.
    We read them as the others do, so that every service sees one value.
    """
    return value.split(";", 1)[0].strip()


def entry_text(value: str) -> str:
    """An entry's value as every SDK reads it: without W3C properties.

    Values of the first release (JSON, percent-encoded by the propagator) are kept whole:
    they may hold a `;` of their own.
    """
    return value if value.startswith(_V1_JSON_START) else without_properties(value)


def wire_size(key: str, value: str) -> int:
    """Bytes of one ``key=value`` entry on the wire: our keys and values need no escaping."""
    return len(key) + 1 + len(value)
