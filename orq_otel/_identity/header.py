"""The text of baggage-carrying headers, and the keys each SDK would read from it.

An entry must be removed if *any* SDK would read one of our keys from it: Python's
propagator percent-decodes with `+` as a space and strips afterwards (so `+orq.identity.id`
and `%20orq.identity.id` are ``orq.identity.id`` to it); JavaScript trims first and then
decodes; every SDK cuts W3C properties (`;p=1`) off. We compute every reading and drop
the entry if one of them is ours.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Iterable

# Header-name prefixes under which the Jaeger and OT Trace propagators carry baggage,
# one entry per header (`uberctx-<key>: <value>`).
ENTRY_HEADER_PREFIXES = ("uberctx-", "ot-baggage-")

KeyTest = Callable[[str], bool]


_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def percent_decoded(text: str) -> str:
    """`urllib.parse.unquote(text)`, in time linear in C rather than a Python loop per
    escape: an edge decodes whatever a caller sends, 2,700 escapes in 8 KB included."""
    if "%" not in text:
        return text
    # Every `%XX` becomes `\xXX` for the C decoder of backslash escapes; everything else
    # stays literal: backslashes doubled, a `%` not followed by two hex digits kept.
    escaped = _LONE_PERCENT.sub("%25", text).replace("\\", "\\\\").replace("%", "\\x")
    decoded: bytes = codecs.escape_decode(escaped.encode())[0]
    return decoded.decode("utf-8", "replace")


def key_readings(raw: str) -> set[str]:
    """Every key an SDK could read from the raw (still encoded) key text."""
    readings = set()
    for text in {raw, raw.split(";", 1)[0]}:
        readings.add(text.strip())
        if "%" in text or "+" in text:  # Python's unquote_plus, which also covers
            # JavaScript's unquote after trimming: the `+`s it keeps are never in a key
            # of ours, nor before or in the middle of one
            readings.add(percent_decoded(text.replace("+", " ")).strip())
    return readings


def is_ours(raw_key: str, test: KeyTest) -> bool:
    return any(test(key) for key in key_readings(raw_key))


def members_without(values: Iterable[str], test: KeyTest) -> str:
    """One `baggage` header value from several, without the members whose key is ours.

    Python reads only the first `baggage` header, JavaScript every one: joining them (as
    RFC 9110 allows for list headers) makes every reader see the same entries.
    """
    kept = []
    for value in values:
        for member in value.split(","):
            if member.strip() and not is_ours(member.split("=", 1)[0], test):
                kept.append(member.strip())
    return ",".join(kept)


def _entry_keys(name: str, prefix: str) -> list[str]:
    """The keys propagators read from a header named `name` under `prefix`: OT Trace cuts
    the prefix off once; Jaeger removes it wherever it occurs (`uberctx-orquberctx-.x`
    is `orq.x` to it); both as written and lowercased, as other SDKs see header names."""
    keys: list[str] = []
    for spelling in {name, name.lower()}:
        if spelling.startswith(prefix):
            keys += (spelling[len(prefix) :], spelling.replace(prefix, ""))
    return keys


def is_entry_header_ours(name: str, test: KeyTest) -> bool:
    """Whether a Jaeger / OT Trace baggage header (`uberctx-<key>`) carries one of our keys."""
    keys = {key for prefix in ENTRY_HEADER_PREFIXES for key in _entry_keys(name, prefix)}
    return any(is_ours(key, test) for key in keys)
