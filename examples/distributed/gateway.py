"""The gateway: authenticates the caller, sets the identity, and calls the worker.

It never talks to the LLM: the identity, and the thread of the conversation, reach the
worker in the W3C `baggage` header, written by the instrumented httpx client, and read by
the worker's instrumented server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from typing import Any

import httpx2
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from service import instrument_http_clients, serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

import orq_otel
from orq_otel import use_identity, use_thread

# A stand-in for your user database: bearer token -> profile.
PROFILES: Mapping[str, Mapping[str, Any]] = {
    "token-ada": {
        "id": "user-ada",
        "display_name": "Ada Lovelace",
        "email": "ada@example.com",
        "tags": ["pro", "eu"],
        "metadata": {"plan": "pro", "org": "analytical-engines"},
    },
    "token-alan": {
        "id": "user-alan",
        "display_name": "Alan Turing",
        "tags": ["free"],
        "metadata": {"plan": "free"},
    },
    "token-grace": {
        "id": "tenant-navy-user-grace",
        "display_name": "Grace Hopper",
        "tags": ["enterprise"],
        "metadata": {"plan": "enterprise", "org": "navy"},
    },
}


class AuthenticateUser:
    """ASGI middleware: bearer token -> identity for the rest of the request.

    It sits inside the OpenTelemetry middleware (which starts each request from the
    context in its headers); with `IdentitySpanProcessor` on, `use_identity` also tags the
    request's server span, which started before the user was known.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        token = headers.get(b"authorization", b"").decode().removeprefix("Bearer ")
        profile = PROFILES.get(token)
        if profile is None:
            await JSONResponse({"error": "unknown bearer token"}, status_code=401)(
                scope, receive, send
            )
            return
        with use_identity(profile):
            await self.app(scope, receive, send)


def create_app(worker_url: str, http_client: httpx2.AsyncClient | None = None) -> ASGIApp:
    # A new connection for each request: a POST must not be replayed, so it must not go out
    # on an idle connection that the worker's keep-alive timeout may be closing at that
    # moment (the request would fail). On a local network a connection costs little.
    client = http_client or httpx2.AsyncClient(
        timeout=30, limits=httpx2.Limits(max_keepalive_connections=0)
    )

    async def ask(request: Request) -> Response:
        payload = await request.json()
        # One thread per conversation: the client names it, or a new one starts here.
        conversation = str(payload.get("conversation") or f"conversation-{uuid.uuid4().hex[:12]}")
        with use_thread(conversation, tags=["gateway"]):
            reply = await client.post(
                f"{worker_url}/llm", json={"question": payload.get("question", "")}
            )
        return JSONResponse({**reply.json(), "conversation": conversation}, reply.status_code)

    app = Starlette(routes=[Route("/ask", ask, methods=["POST"])])
    return OpenTelemetryMiddleware(AuthenticateUser(app))


def main() -> None:
    handle = orq_otel.setup("gateway", identity_on_every_span=True)
    instrument_http_clients()
    serve(create_app(os.environ["WORKER_URL"]), int(os.environ.get("GATEWAY_PORT", "8000")), handle)


if __name__ == "__main__":
    main()
