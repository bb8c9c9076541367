"""The orq payload: added for orq hosts only, merged with what the caller gave."""

from __future__ import annotations

import copy
from typing import Any

import openai
import pytest
from conftest import CALL_CASES, CALLS, ORQ_BASE_URL, Telemetry
from opentelemetry import context, propagate

from orq_otel import use_identity
from orq_otel.testing import LocalOpenAIServer

IDENTITY = {
    "id": "user-123",
    "display_name": "Ada Lovelace",
    "email": "ada@example.com",
    "metadata": {"plan": "pro", "limits": {"daily": 10}},
    "logo_url": "https://cdn.example.com/ada.png",
    "tags": ["beta", "eu"],
}


def last_body(server: LocalOpenAIServer) -> Any:
    return server.requests[-1].json


@pytest.mark.parametrize("endpoint", list(CALLS))
def test_orq_host_request_carries_the_whole_identity(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI, endpoint: str
) -> None:
    with use_identity(**IDENTITY):
        CALLS[endpoint](orq_client)
    sent = server.requests[-1]
    assert sent.host == "api.orq.ai"
    if endpoint == "responses":  # top-level identity; its schema has no logo_url, no orq
        assert sent.json["identity"] == {k: v for k, v in IDENTITY.items() if k != "logo_url"}
        assert "orq" not in sent.json
    else:
        assert sent.json["orq"] == {"identity": IDENTITY}


@pytest.mark.parametrize("endpoint", list(CALLS))
async def test_async_orq_host_request_carries_the_identity(
    telemetry: Telemetry,
    server: LocalOpenAIServer,
    async_orq_client: openai.AsyncOpenAI,
    endpoint: str,
) -> None:
    with use_identity(id="user-async", tags=["a"]):
        await CALLS[endpoint](async_orq_client)
    assert server.requests[-1].identity == {"id": "user-async", "tags": ["a"]}


@pytest.mark.parametrize(
    ("endpoint", "stream"),
    CALL_CASES,
)
def test_other_host_request_is_byte_identical_to_uninstrumented(
    telemetry: Telemetry,
    server: LocalOpenAIServer,
    plain_client: openai.OpenAI,
    endpoint: str,
    stream: bool,
) -> None:
    kwargs = {"stream": True} if stream else {}
    with use_identity(**IDENTITY):
        with telemetry.paused():
            list(CALLS[endpoint](plain_client, **kwargs)) if stream else CALLS[endpoint](
                plain_client
            )
        without_us = server.requests[-1].body
        list(CALLS[endpoint](plain_client, **kwargs)) if stream else CALLS[endpoint](plain_client)
    assert server.requests[-1].body == without_us
    assert len(telemetry.spans()) == 1  # and the instrumented call was traced


def test_no_identity_means_no_orq_payload(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    CALLS["chat"](orq_client)
    assert "orq" not in last_body(server)


@pytest.mark.parametrize(
    ("base_url", "injected"),
    [
        ("http://api.orq.ai/v3/router", True),
        ("http://orq.ai/v3/router", True),
        ("http://eu.api.orq.ai/v3/router", True),
        ("http://API.ORQ.AI/v3/router", True),
        ("http://evilorq.ai/v1", False),
        ("http://orq.ai.example.com/v1", False),
        ("http://api.openai.com/v1", False),
    ],
)
def test_only_orq_hosts_on_a_dot_boundary_get_the_payload(
    telemetry: Telemetry, server: LocalOpenAIServer, base_url: str, injected: bool
) -> None:
    with server.client(base_url) as client, use_identity(id="u"):
        CALLS["chat"](client)
    assert ("orq" in last_body(server)) is injected


def test_inject_hosts_option_replaces_the_default(
    telemetry: Telemetry, server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    telemetry.instrument(inject_hosts=["127.0.0.1", "router.internal"])
    with use_identity(id="u"):
        CALLS["chat"](plain_client)
        assert last_body(server)["orq"] == {"identity": {"id": "u"}}
        with server.client(ORQ_BASE_URL) as orq_client:
            CALLS["chat"](orq_client)
        assert "orq" not in last_body(server)


def test_inject_hosts_from_environment(
    telemetry: Telemetry,
    server: LocalOpenAIServer,
    plain_client: openai.OpenAI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORQ_OTEL_INJECT_HOSTS", "router.internal, 127.0.0.1")
    telemetry.instrument()
    with use_identity(id="u"):
        CALLS["chat"](plain_client)
    assert last_body(server)["orq"] == {"identity": {"id": "u"}}


def test_reassigned_base_url_is_decided_again(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    with use_identity(id="u"):
        CALLS["chat"](orq_client)
        assert "orq" in last_body(server)
        orq_client.base_url = "http://api.openai.com/v1"
        CALLS["chat"](orq_client)
        assert "orq" not in last_body(server)


def test_caller_orq_keys_are_merged_and_win(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    extra_body = {"orq": {"contact": {"id": "c-1"}, "thread": {"id": "t-9"}}, "custom": 1}
    before = copy.deepcopy(extra_body)
    with use_identity(id="u"):
        CALLS["chat"](orq_client, extra_body=extra_body)
    body = last_body(server)
    assert body["orq"] == {
        "identity": {"id": "u"},
        "contact": {"id": "c-1"},
        "thread": {"id": "t-9"},
    }
    assert body["custom"] == 1
    assert extra_body == before


def test_caller_given_identity_wins_whole(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    extra_body = {"orq": {"identity": {"id": "explicit"}}}
    before = copy.deepcopy(extra_body)
    with use_identity(id="ambient", display_name="Ambient"):
        CALLS["chat"](orq_client, extra_body=extra_body)
    assert last_body(server)["orq"] == {"identity": {"id": "explicit"}}
    assert extra_body == before


def test_identity_received_in_baggage_is_injected(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    incoming = {"baggage": "orq.identity.id=remote-user,orq.identity.tags=%5B%22vip%22%5D"}
    token = context.attach(propagate.extract(incoming))
    try:
        CALLS["chat"](orq_client)
    finally:
        context.detach(token)
    assert last_body(server)["orq"] == {"identity": {"id": "remote-user", "tags": ["vip"]}}


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_orq_stream_asks_for_usage_on_the_callers_behalf(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI, endpoint: str
) -> None:
    list(CALLS[endpoint](orq_client, stream=True))
    assert last_body(server)["stream_options"] == {"include_usage": True}


def test_caller_stream_options_are_kept_when_usage_is_asked(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    options = {"include_obfuscation": False}
    list(CALLS["chat"](orq_client, stream=True, stream_options=options))
    assert last_body(server)["stream_options"] == {
        "include_obfuscation": False,
        "include_usage": True,
    }
    assert options == {"include_obfuscation": False}
