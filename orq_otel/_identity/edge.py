"""Edge protection without a secret: drop identity and thread entries that arrive from outside.

A public-facing service should count only identity it sets itself. Put this ASGI
middleware outermost (outside the OpenTelemetry middleware, which reads the headers), so
that a caller writing ``baggage: orq.identity.id=someone-else`` is not billed, attributed
or personalised as someone else. Our entries go however they are spelled or encoded, from
the `baggage` header and from the Jaeger (`uberctx-`) and OT Trace (`ot-baggage-`)
baggage headers, with header names read as each of those propagators reads them; other
entries pass through. Several `baggage` headers are joined into one, so that every SDK
downstream reads the same entries.

The edge is where an attacker sends traffic, so its work is bounded by the W3C baggage
limits, which the propagators behind it apply as well: at most 8,192 bytes of `baggage`
(all such headers together) and 180 list-members, and at most 180 Jaeger / OT Trace
baggage headers, are passed on; the rest is dropped unread. Its cost is one pass over the
header names and work proportional to what it keeps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from orq_otel._identity.header import ENTRY_HEADER_PREFIXES, is_entry_header_ours, is_ours
from orq_otel._identity.keys import is_guarded_key
from orq_otel._log import warn_once

_BAGGAGE = b"baggage"
_ENTRY_PREFIXES = tuple(prefix.encode() for prefix in ENTRY_HEADER_PREFIXES)
# The W3C baggage limits (https://www.w3.org/TR/baggage/#limits).
MAX_BAGGAGE_BYTES = 8192
MAX_MEMBERS = 180

# ASGI's types, spelled out so that orq_otel needs no web framework.
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _carries_baggage(name: bytes) -> bool:
    # Only the start of a name is lowered: a long name must not cost a long copy.
    return name[:11].lower().startswith(_ENTRY_PREFIXES) or (
        len(name) == len(_BAGGAGE) and name.lower() == _BAGGAGE
    )


def _members(values: list[bytes]) -> list[str]:
    """The list-members of the `baggage` headers, joined, within the W3C limits."""
    joined = b",".join(values)
    if len(joined) > MAX_BAGGAGE_BYTES:
        joined = joined[: MAX_BAGGAGE_BYTES + 1]
        joined = joined[: joined.rfind(b",") + 1]  # no member cut in two: drop the last
        warn_once("edge-baggage-limit", "incoming baggage over %s bytes cut", MAX_BAGGAGE_BYTES)
    members = [m.strip(" \t") for m in joined.decode("latin-1").split(",")]
    members = [member for member in members if member]
    if len(members) > MAX_MEMBERS:
        warn_once("edge-member-limit", "incoming baggage over %s members cut", MAX_MEMBERS)
    return members[:MAX_MEMBERS]


def strip_identity_baggage(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """ASGI headers without our baggage entries, the `baggage` headers joined into the first."""
    kept: list[tuple[bytes, bytes]] = []
    baggage_values: list[bytes] = []
    baggage_at: int | None = None
    entry_headers = 0
    for name, value in headers:
        if name[:11].lower().startswith(_ENTRY_PREFIXES):
            entry_headers += 1
            if entry_headers <= MAX_MEMBERS and not is_entry_header_ours(
                name.decode("latin-1"), is_guarded_key
            ):
                kept.append((name, value))
        elif len(name) == len(_BAGGAGE) and name.lower() == _BAGGAGE:
            baggage_at = len(kept) if baggage_at is None else baggage_at
            baggage_values.append(value)
        else:
            kept.append((name, value))
    if entry_headers > MAX_MEMBERS:
        warn_once("edge-entry-limit", "incoming baggage headers over %s dropped", MAX_MEMBERS)
    members = _members(baggage_values) if baggage_values else []
    joined = ",".join(m for m in members if not is_ours(m.split("=", 1)[0], is_guarded_key))
    if baggage_at is not None and joined:
        kept.insert(baggage_at, (_BAGGAGE, joined.encode("latin-1")))
    return kept


class DropIncomingIdentity:
    """ASGI middleware: incoming requests lose any identity or thread in their baggage.

    ``app = DropIncomingIdentity(OpenTelemetryMiddleware(app))``
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") in ("http", "websocket") and any(
            _carries_baggage(name) for name, _ in scope.get("headers", ())
        ):
            scope = {**scope, "headers": strip_identity_baggage(list(scope["headers"]))}
        await self.app(scope, receive, send)
