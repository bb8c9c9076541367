"""Edge protection without a secret: drop identity that arrives from outside.

A public-facing service should count only identity it sets itself. Put this ASGI
middleware outermost (outside the OpenTelemetry middleware, which reads the `baggage`
header), so that a caller writing ``baggage: orq.identity.id=someone-else`` is not
billed, attributed or personalised as someone else. Other baggage entries pass through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote_plus

from orq_otel._baggage import is_identity_key

_BAGGAGE = b"baggage"

# ASGI's types, spelled out so that orq_otel needs no web framework.
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _key_of(member: bytes) -> str:
    name = member.split(b"=", 1)[0].split(b";", 1)[0]
    return unquote_plus(name.decode("latin-1").strip())  # as the W3C propagator reads keys


def _without_identity(value: bytes) -> bytes:
    members = [member for member in value.split(b",") if not is_identity_key(_key_of(member))]
    return b",".join(members).strip()


def strip_identity_baggage(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """ASGI headers with the identity entries of every `baggage` header removed."""
    kept: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if name.lower() != _BAGGAGE:
            kept.append((name, value))
        elif remaining := _without_identity(value):
            kept.append((name, remaining))
    return kept


class DropIncomingIdentity:
    """ASGI middleware: incoming requests lose any identity in their `baggage` header.

    ``app = DropIncomingIdentity(OpenTelemetryMiddleware(app))``
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") in ("http", "websocket") and any(
            name.lower() == _BAGGAGE for name, _ in scope.get("headers", ())
        ):
            scope = {**scope, "headers": strip_identity_baggage(list(scope["headers"]))}
        await self.app(scope, receive, send)
