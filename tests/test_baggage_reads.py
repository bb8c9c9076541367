"""Identity and thread read from baggage once per baggage object, and never stale.

Every LLM call of one request sees that request's baggage, so orq-otel decodes it once
(`LastBaggageRead`). These calls share one process and alternate between baggage objects,
and move the clock past a signature's expiry between two calls in one context: each call
must still carry exactly the identity and thread of its own context.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import openai
import pytest
from conftest import Telemetry
from opentelemetry import context, propagate
from opentelemetry.context import Context

from orq_otel import set_identity
from orq_otel._identity.thread import set_thread
from orq_otel.testing import LocalOpenAIServer

SECRET = "s3cret-key-number-one-0123456789"


def received(header: str) -> Context:
    """The context a service's edge makes from an incoming `baggage` header."""
    return propagate.extract({"baggage": header})


def sent(identity_id: str, thread_id: str | None = None) -> str:
    """The `baggage` header an upstream service sends for this identity (and thread)."""
    outgoing = set_identity({"id": identity_id}, Context())
    if thread_id is not None:
        outgoing = set_thread(thread_id, context=outgoing)
    headers: dict[str, str] = {}
    propagate.inject(headers, context=outgoing)
    return headers["baggage"]


@contextmanager
def attached(incoming: Context) -> Iterator[None]:
    token = context.attach(incoming)
    try:
        yield
    finally:
        context.detach(token)


def call(client: openai.OpenAI) -> None:
    client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )


def sent_to_router(server: LocalOpenAIServer) -> tuple[Any, Any]:
    orq = server.requests[-1].json.get("orq", {})
    return (orq.get("identity") or {}).get("id"), (orq.get("thread") or {}).get("id")


def test_each_call_carries_its_own_contexts_identity_and_thread(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    telemetry.instrument()
    ada = received(sent("user-ada", "thread-1"))
    bob = received(sent("user-bob"))
    same_as_ada = received(sent("user-ada", "thread-1"))  # equal baggage, another object
    expected = []
    for incoming, who in [(ada, ("user-ada", "thread-1")), (bob, ("user-bob", None))] * 2 + [
        (same_as_ada, ("user-ada", "thread-1")),
        (Context(), (None, None)),
        (ada, ("user-ada", "thread-1")),
    ]:
        with attached(incoming):
            call(orq_client)
        expected.append(who)
        assert sent_to_router(server) == who
    llm_spans = [span for span in telemetry.spans() if span.name.startswith("chat ")]
    recorded = [
        (
            (span.attributes or {}).get("orq.identity.id"),
            (span.attributes or {}).get("gen_ai.conversation.id"),
        )
        for span in llm_spans
    ]
    assert recorded == expected


def test_a_signature_that_expires_between_two_calls_of_one_context_is_refused(
    telemetry: Telemetry,
    server: LocalOpenAIServer,
    orq_client: openai.OpenAI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = 1_800_000_000.0
    monkeypatch.setattr("orq_otel._identity.baggage.wall_clock", lambda: now)
    telemetry.instrument(identity_secret=[SECRET], identity_signature_ttl=60)
    incoming = received(sent("user-ada"))
    with attached(incoming):
        call(orq_client)
        assert sent_to_router(server) == ("user-ada", None)
        monkeypatch.setattr("orq_otel._identity.baggage.wall_clock", lambda: now + 3600)
        call(orq_client)
        assert sent_to_router(server) == (None, None)
