"""Edge protection without a secret: drop identity and thread entries that arrive from outside.

A public-facing service should count only identity it sets itself. Put this ASGI
middleware outermost (outside the OpenTelemetry middleware, which reads the headers), so
that a caller writing ``baggage: orq.identity.id=someone-else`` is not billed, attributed
or personalised as someone else. Our entries go however they are spelled or encoded, from
the `baggage` header and from the Jaeger (`uberctx-`) and OT Trace (`ot-baggage-`)
baggage headers; other entries pass through. Several `baggage` headers are joined into
one, so that every SDK downstream reads the same entries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from orq_otel._identity.header import ENTRY_HEADER_PREFIXES, is_entry_header_ours, members_without
from orq_otel._identity.keys import is_guarded_key

_BAGGAGE = b"baggage"
_ENTRY_PREFIXES = tuple(prefix.encode() for prefix in ENTRY_HEADER_PREFIXES)

# ASGI's types, spelled out so that orq_otel needs no web framework.
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _carries_baggage(name: bytes) -> bool:
    lowered = name.lower()
    return lowered == _BAGGAGE or lowered.startswith(_ENTRY_PREFIXES)


def strip_identity_baggage(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """ASGI headers without our baggage entries, the `baggage` headers joined into the first."""
    kept: list[tuple[bytes, bytes]] = []
    baggage_values: list[str] = []
    baggage_at: int | None = None
    for name, value in headers:
        lowered = name.lower()
        if lowered == _BAGGAGE:
            baggage_at = len(kept) if baggage_at is None else baggage_at
            baggage_values.append(value.decode("latin-1"))
        elif not (
            lowered.startswith(_ENTRY_PREFIXES)
            and is_entry_header_ours(name.decode("latin-1"), is_guarded_key)
        ):
            kept.append((name, value))
    joined = members_without(baggage_values, is_guarded_key)
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
