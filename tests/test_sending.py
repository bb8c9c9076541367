"""Where our additions join a request: each attempt openai builds, and nothing else.

orq-otel adds the identity to the per-attempt copy of the options that openai's
`_build_request` turns into an HTTP request, and the header to the request it built. So a
retried call carries the identity on every attempt, a header the caller set anywhere wins,
the caller's own options are left as they were, and an openai call made while another is
being sent gets only what is its own.
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from conftest import OPENAI_HTTP, ORQ_BASE_URL, Telemetry
from openai._models import FinalRequestOptions
from openai.types.chat import ChatCompletion

from orq_otel import use_identity
from orq_otel.testing import LocalOpenAIServer

HEADER = "X-ORQ-IDENTITY-ID"
MESSAGES: Any = [{"role": "user", "content": "hi"}]


def test_every_attempt_of_a_retried_call_carries_the_identity(
    telemetry: Telemetry, server: LocalOpenAIServer
) -> None:
    client = server.client(ORQ_BASE_URL, max_retries=2)
    before = len(server.requests)
    with use_identity(id="user-retry"), pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="error-500", messages=MESSAGES)
    sent = server.requests[before:]
    assert len(sent) == 3
    assert [request.identity for request in sent] == [{"id": "user-retry"}] * 3
    assert [request.header(HEADER) for request in sent] == ["user-retry"] * 3


def test_a_header_in_the_clients_default_headers_wins(
    telemetry: Telemetry, server: LocalOpenAIServer
) -> None:
    client = server.client(ORQ_BASE_URL, default_headers={"x-orq-identity-id": "service"})
    with use_identity(id="user-1"):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert server.requests[-1].header(HEADER) == "service"
    assert server.requests[-1].identity == {"id": "user-1"}  # the body still names the user


def test_the_callers_options_are_left_as_they_were(
    telemetry: Telemetry, server: LocalOpenAIServer
) -> None:
    client = server.client(ORQ_BASE_URL)
    extra = {"metadata_note": "kept"}
    headers = {"x-trace": "1"}
    options = FinalRequestOptions.construct(
        method="post",
        url="/chat/completions",
        json_data={"model": "gpt-4o-mini", "messages": MESSAGES},
        extra_json=extra,
        headers=headers,
    )
    before = options.model_dump()
    with use_identity(id="user-1"):
        client.request(ChatCompletion, options)
    assert server.requests[-1].identity == {"id": "user-1"}
    assert options.model_dump() == before
    assert (extra, headers) == ({"metadata_note": "kept"}, {"x-trace": "1"})


def test_a_call_made_while_another_is_sent_gets_only_its_own(
    telemetry: Telemetry, server: LocalOpenAIServer
) -> None:
    # A transport that makes openai calls of its own (to a host that is not orq's) while
    # the orq call it carries is being sent: one orq-otel instruments, one it leaves alone.
    plain = server.client()

    class CallingTransport(OPENAI_HTTP.HTTPTransport):  # type: ignore[misc]
        def handle_request(self, request: Any) -> Any:
            plain.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            with pytest.raises(openai.NotFoundError):  # the local server has no /models
                plain.models.list()
            return super().handle_request(request)

    orq = openai.OpenAI(
        api_key="local-test-key",
        base_url=ORQ_BASE_URL,
        max_retries=0,
        http_client=openai.DefaultHttpxClient(transport=CallingTransport(proxy=server.address)),
    )
    with use_identity(id="user-1"):
        orq.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    *inner, outer = server.requests[-3:]
    assert (outer.host, outer.identity) == ("api.orq.ai", {"id": "user-1"})
    assert outer.header(HEADER) == "user-1"
    assert [(request.method, request.host) for request in inner] == [
        ("POST", "127.0.0.1"),
        ("GET", "127.0.0.1"),
    ]
    assert [request.header(HEADER) for request in inner] == [None, None]
    assert inner[0].json.get("orq") is None
