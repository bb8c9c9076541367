"""Threads: a conversation across calls and services, like the identity but never on metrics."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from conftest import CALL_CASES, CALLS, Telemetry
from opentelemetry import context, propagate
from opentelemetry.context import Context
from opentelemetry.util.genai._conversation_context import with_conversation_id
from pydantic import ValidationError

from orq_otel import get_thread, use_identity, use_thread
from orq_otel._config import current_settings, load_settings
from orq_otel._identity.thread import set_thread
from orq_otel.testing import LocalOpenAIServer

SECRET = "thread-test-secret-0123456789"


def hop(ctx: Context) -> Context:
    headers: dict[str, str] = {}
    propagate.inject(headers, context=ctx)
    return propagate.extract(headers, context=Context())


# --- the API ----------------------------------------------------------------------------


def test_use_thread_makes_a_conversation_current_and_restores_the_previous_one() -> None:
    assert get_thread() is None
    with use_thread("conversation-1", tags=["support"]) as thread:
        assert thread.id == "conversation-1"
        assert thread.tags == ["support"]
        with use_thread("conversation-2"):
            assert get_thread().id == "conversation-2"  # type: ignore[union-attr]
        assert get_thread() == thread
    assert get_thread() is None


async def test_each_asyncio_task_sees_its_own_thread() -> None:
    async def converse(number: int) -> str:
        with use_thread(f"c-{number}"):
            await asyncio.sleep(0)
            return get_thread().id  # type: ignore[union-attr]

    assert await asyncio.gather(*(converse(n) for n in range(3))) == ["c-0", "c-1", "c-2"]


@pytest.mark.parametrize(
    ("thread_id", "tags", "named", "limit"),
    [
        ("x" * 101, None, "id", "100"),
        ("", None, "id", "1"),
        ("ok", [f"t{n}" for n in range(11)], "tags", "10"),
        ("ok", ["\ud800"], "tags.0", "Unicode"),
    ],
)
def test_invalid_threads_are_refused_naming_the_field_and_the_limit(
    thread_id: str, tags: list[str] | None, named: str, limit: str
) -> None:
    with pytest.raises(ValidationError) as raised, use_thread(thread_id, tags=tags):
        pass
    assert named in str(raised.value)
    assert limit in str(raised.value)


def test_a_thread_crosses_a_hop_losslessly() -> None:
    ctx = set_thread("Ticket #42 / ü", tags=["a,b", "c d"], context=Context())
    received = get_thread(hop(ctx))
    assert received is not None
    assert (received.id, received.tags) == ("Ticket #42 / ü", ["a,b", "c d"])


def test_a_signed_thread_is_trusted_and_an_unsigned_one_is_not() -> None:
    current_settings.set(load_settings({"identity_secret": SECRET}))
    assert get_thread(hop(set_thread("t-1", context=Context()))).id == "t-1"  # type: ignore[union-attr]
    unsigned = propagate.extract({"baggage": "orq.thread.id=t-forged"}, context=Context())
    assert get_thread(unsigned) is None


def test_util_genai_conversation_id_is_honoured_when_no_thread_is_set(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    token = context.attach(with_conversation_id("agent-run-7"))
    try:
        assert get_thread().id == "agent-run-7"  # type: ignore[union-attr]
        CALLS["chat"](orq_client)
        with use_thread("explicit"):
            assert get_thread().id == "explicit"  # type: ignore[union-attr]
    finally:
        context.detach(token)
    assert server.requests[-1].thread == {"id": "agent-run-7"}


# --- what the router and the spans get ------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "stream"),
    CALL_CASES,
)
def test_orq_hosts_get_the_thread_and_spans_carry_it(
    telemetry: Telemetry,
    server: LocalOpenAIServer,
    orq_client: openai.OpenAI,
    endpoint: str,
    stream: bool,
) -> None:
    with use_thread("conversation-1", tags=["support"]):
        result = CALLS[endpoint](orq_client, **({"stream": True} if stream else {}))
        if stream:
            list(result)
    assert server.requests[-1].thread == {"id": "conversation-1", "tags": ["support"]}
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.conversation.id"] == "conversation-1"
    assert attributes["orq.thread.id"] == "conversation-1"
    assert attributes["orq.thread.tags"] == ("support",)


@pytest.mark.parametrize(("endpoint", "stream"), CALL_CASES)
async def test_async_orq_hosts_get_the_thread(
    telemetry: Telemetry,
    server: LocalOpenAIServer,
    async_orq_client: openai.AsyncOpenAI,
    endpoint: str,
    stream: bool,
) -> None:
    with use_thread("c-async"):
        result = await CALLS[endpoint](async_orq_client, **({"stream": True} if stream else {}))
        if stream:
            _ = [item async for item in result]
    assert server.requests[-1].thread == {"id": "c-async"}  # no empty tags
    assert (telemetry.only_span().attributes or {})["gen_ai.conversation.id"] == "c-async"


def test_thread_and_identity_share_the_orq_object_with_the_callers_keys(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    with use_identity(id="u"), use_thread("c-1"):
        CALLS["chat"](orq_client, extra_body={"orq": {"contact": {"id": "x"}}})
    assert server.requests[-1].json["orq"] == {
        "identity": {"id": "u"},
        "thread": {"id": "c-1"},
        "contact": {"id": "x"},
    }


@pytest.mark.parametrize("endpoint", ["chat", "responses"])
def test_a_caller_given_thread_wins_whole_and_is_the_one_recorded(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI, endpoint: str
) -> None:
    given: dict[str, Any] = {"id": "explicit", "tags": ["mine"]}
    extra = {"thread": given} if endpoint == "responses" else {"orq": {"thread": given}}
    with use_thread("ambient", tags=["ours"]):
        CALLS[endpoint](orq_client, extra_body=extra)
    assert server.requests[-1].thread == given
    attributes = dict(telemetry.only_span().attributes or {})
    assert attributes["gen_ai.conversation.id"] == "explicit"


def test_other_hosts_get_no_thread(
    telemetry: Telemetry, server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    with use_thread("c-1"):
        CALLS["chat"](plain_client)
    assert "orq" not in server.requests[-1].json
    assert (telemetry.only_span().attributes or {})["gen_ai.conversation.id"] == "c-1"


def test_threads_never_reach_metrics(telemetry: Telemetry, orq_client: openai.OpenAI) -> None:
    with use_identity(id="u"), use_thread("c-1", tags=["t"]):
        CALLS["chat"](orq_client)
    points = [
        point
        for name in ("gen_ai.client.operation.duration", "gen_ai.client.token.usage")
        for point in telemetry.points(name)
    ]
    assert len(points) == 3  # the duration, input and output tokens: the call was recorded
    keys = {key for point in points for key in point.attributes or {}}
    assert "orq.identity.id" in keys  # what metrics do carry of who the call was for
    assert {k for k in keys if "thread" in k or "conversation" in k} == set()
