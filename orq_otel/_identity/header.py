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
    """Whether any reading of the raw key is ours: `key_readings`, computed lazily, as the
    edge asks this of every key a caller sends."""
    texts = (raw_key, raw_key.split(";", 1)[0]) if ";" in raw_key else (raw_key,)
    for text in texts:
        if test(text.strip()):
            return True
        if ("%" in text or "+" in text) and test(percent_decoded(text.replace("+", " ")).strip()):
            return True
    return False


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


def is_entry_header_ours(name: str, test: KeyTest) -> bool:
    """Whether a Jaeger / OT Trace baggage header (`uberctx-<key>`) carries one of our keys.

    The keys propagators read from it: OT Trace cuts the prefix off once; Jaeger removes
    it wherever it occurs (`uberctx-orquberctx-.x` is `orq.x` to it); both from the name
    as written and lowercased, as other SDKs see header names."""
    lowered = name.lower()
    for spelling in (name,) if lowered == name else (name, lowered):
        for prefix in ENTRY_HEADER_PREFIXES:
            if spelling.startswith(prefix):
                key = spelling[len(prefix) :]
                if is_ours(key, test) or (prefix in key and is_ours(key.replace(prefix, ""), test)):
                    return True
    return False
