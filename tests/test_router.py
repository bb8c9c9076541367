"""The orq router as it works today: the identity header, the Responses API's top-level
identity, and the trace the router continues (`link_router_trace`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from conftest import CALL_CASES, CALLS, Telemetry
from opentelemetry import context, propagate
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor, HTTPXClientInstrumentor
from otlp_receiver import OTLPReceiver

from orq_otel import use_identity, use_thread
from orq_otel.testing import LocalOpenAIServer

HEADER = "X-ORQ-IDENTITY-ID"


def call(client: Any, endpoint: str, stream: bool, **kwargs: Any) -> Any:
    result = CALLS[endpoint](client, **({"stream": True} if stream else {}), **kwargs)
    return list(result) if stream else result


def header(server: LocalOpenAIServer, name: str) -> str | None:
    return server.requests[-1].header(name)


# --- the identity header --------------------------------------------------------------


@pytest.mark.parametrize(("endpoint", "stream"), CALL_CASES)
def test_orq_hosts_get_the_identity_header_beside_the_body(
    telemetry: Telemetry,
    server: LocalOpenAIServer,
    orq_client: openai.OpenAI,
    endpoint: str,
    stream: bool,
) -> None:
    with use_identity(id="user-123", display_name="Ada"):
        call(orq_client, endpoint, stream)
    assert header(server, HEADER) == "user-123"
    assert server.requests[-1].identity == {"id": "user-123", "display_name": "Ada"}


@pytest.mark.parametrize(("endpoint", "stream"), CALL_CASES)
async def test_async_orq_hosts_get_the_identity_header(
    telemetry: Telemetry,
    server: LocalOpenAIServer,
    async_orq_client: openai.AsyncOpenAI,
    endpoint: str,
    stream: bool,
) -> None:
    with use_identity(id="user-async"):
        result = await CALLS[endpoint](async_orq_client, **({"stream": True} if stream else {}))
        if stream:
            _ = [item async for item in result]
    assert header(server, HEADER) == "user-async"


def test_a_caller_given_header_wins(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    with use_identity(id="ambient"):
        CALLS["chat"](orq_client, extra_headers={"x-orq-identity-id": "mine"})
    assert header(server, HEADER) == "mine"


def test_the_header_names_a_caller_given_body_identity(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    with use_identity(id="ambient"):
        CALLS["chat"](orq_client, extra_body={"orq": {"identity": {"id": "explicit"}}})
    assert header(server, HEADER) == "explicit"


def test_an_id_that_is_not_ascii_travels_in_the_body_only(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    with use_identity(id="用户-ü"):
        CALLS["chat"](orq_client)
    assert header(server, HEADER) is None
    assert server.requests[-1].identity == {"id": "用户-ü"}


@pytest.mark.parametrize(("endpoint", "stream"), CALL_CASES)
def test_other_hosts_get_no_header_and_no_trace_mark(
    telemetry: Telemetry,
    server: LocalOpenAIServer,
    plain_client: openai.OpenAI,
    endpoint: str,
    stream: bool,
) -> None:
    telemetry.instrument(link_router_trace=True)
    with use_identity(id="user-123"):
        call(plain_client, endpoint, stream)
    assert header(server, HEADER) is None
    assert header(server, "tracestate") is None
    assert not server.requests[-1].continues_trace


# --- the Responses API ----------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_responses_take_top_level_identity_and_thread(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI, stream: bool
) -> None:
    with (
        use_identity(id="u", logo_url="https://cdn.example.com/u.png", tags=["pro"]),
        use_thread("conversation-1", tags=["support"]),
    ):
        call(orq_client, "responses", stream)
    body = server.requests[-1].json
    assert body["identity"] == {"id": "u", "tags": ["pro"]}  # no logo_url in its schema
    assert body["thread"] == {"id": "conversation-1", "tags": ["support"]}
    assert "orq" not in body


def test_a_caller_given_top_level_identity_wins_whole(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    with use_identity(id="ambient", display_name="Ambient"):
        CALLS["responses"](orq_client, extra_body={"identity": {"id": "explicit"}})
    assert server.requests[-1].json["identity"] == {"id": "explicit"}
    assert (telemetry.only_span().attributes or {})["orq.identity.id"] == "explicit"


def test_the_local_router_refuses_orq_on_responses_as_the_router_does(
    telemetry: Telemetry, orq_client: openai.OpenAI
) -> None:
    with pytest.raises(openai.BadRequestError, match="orq"):
        CALLS["responses"](orq_client, extra_body={"orq": {"identity": {"id": "u"}}})


# --- the router continues our trace ---------------------------------------------------


def linked(telemetry: Telemetry) -> None:
    telemetry.instrument(link_router_trace=True)


@pytest.mark.parametrize(("endpoint", "stream"), CALL_CASES)
def test_linked_calls_send_the_llm_spans_traceparent_with_orq_1(
    telemetry: Telemetry,
    server: LocalOpenAIServer,
    orq_client: openai.OpenAI,
    endpoint: str,
    stream: bool,
) -> None:
    linked(telemetry)
    call(orq_client, endpoint, stream)
    span = telemetry.only_span()
    ids = f"{span.context.trace_id:032x}-{span.context.span_id:016x}"
    assert header(server, "traceparent") == f"00-{ids}-{span.context.trace_flags:02x}"
    assert header(server, "tracestate") == "orq=1"
    assert server.requests[-1].continues_trace


@pytest.mark.parametrize(("endpoint", "stream"), CALL_CASES)
async def test_async_linked_calls_send_the_llm_spans_traceparent_with_orq_1(
    telemetry: Telemetry,
    server: LocalOpenAIServer,
    async_orq_client: openai.AsyncOpenAI,
    endpoint: str,
    stream: bool,
) -> None:
    linked(telemetry)
    result = await CALLS[endpoint](async_orq_client, **({"stream": True} if stream else {}))
    if stream:
        _ = [item async for item in result]
    span = telemetry.only_span()
    assert (header(server, "traceparent") or "").split("-")[2] == f"{span.context.span_id:016x}"
    assert server.requests[-1].continues_trace


def test_orq_1_is_merged_into_the_members_already_there(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    linked(telemetry)
    upstream = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "congo=t61rcWkgMzE,orq=0",
    }
    token = context.attach(propagate.extract(upstream))
    try:
        CALLS["chat"](orq_client)
    finally:
        context.detach(token)
    assert header(server, "tracestate") == "orq=1,congo=t61rcWkgMzE"
    assert (header(server, "traceparent") or "").startswith("00-0af7651916cd43dd8448eb211c80319c-")


@pytest.fixture
def http_spans(telemetry: Telemetry) -> Iterator[None]:
    instrumentors = [HTTPX2ClientInstrumentor(), HTTPXClientInstrumentor()]
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=telemetry.tracer_provider)
    yield
    for instrumentor in instrumentors:
        instrumentor.uninstrument()


@pytest.mark.usefixtures("http_spans")
def test_with_http_client_spans_the_router_nests_under_the_http_span(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    linked(telemetry)
    token = context.attach(propagate.extract({"tracestate": "congo=t61rcWkgMzE"}))
    try:
        CALLS["chat"](orq_client)
    finally:
        context.detach(token)
    spans = {span.name: span for span in telemetry.spans()}
    llm = spans.pop("chat gpt-4o-mini")
    (http,) = spans.values()
    assert http.parent is not None
    assert http.parent.span_id == llm.context.span_id
    sent = header(server, "traceparent") or ""
    assert sent.split("-")[2] == f"{http.context.span_id:016x}"
    assert "orq=1" in (header(server, "tracestate") or "").split(",")


@pytest.mark.usefixtures("http_spans")
def test_http_client_spans_to_other_hosts_never_get_orq_1(
    telemetry: Telemetry, server: LocalOpenAIServer, plain_client: openai.OpenAI
) -> None:
    linked(telemetry)
    CALLS["chat"](plain_client)
    assert header(server, "traceparent") is not None  # the HTTP instrumentation's own
    assert not server.requests[-1].continues_trace


def test_linking_is_off_by_default(
    telemetry: Telemetry, server: LocalOpenAIServer, orq_client: openai.OpenAI
) -> None:
    CALLS["chat"](orq_client)
    assert header(server, "traceparent") is None
    assert not server.requests[-1].continues_trace


SETUP_APP = """
import orq_otel
from orq_otel.testing import LocalOpenAIServer

handle = orq_otel.setup("linked-service")
with LocalOpenAIServer() as server, server.client("http://api.orq.ai/v3/router") as client:
    client.chat.completions.create(model="gpt-4o-mini", messages=[])
    print("CONTINUES", server.requests[-1].continues_trace, flush=True)
handle.shutdown()
"""


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"ORQ_API_KEY": "k"}, "CONTINUES True"),
        ({"ORQ_API_KEY": "k", "ORQ_OTEL_LINK_ROUTER_TRACE": "false"}, "CONTINUES False"),
        ({"OTEL_TRACES_EXPORTER": "none"}, "CONTINUES False"),
    ],
)
def test_setup_links_the_router_trace_when_it_exports_to_orq(
    tmp_path: Path, environment: dict[str, str], expected: str
) -> None:
    app = tmp_path / "app.py"
    app.write_text(SETUP_APP)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "ORQ_"))}
    with OTLPReceiver() as receiver:
        env.update({"ORQ_OTEL_ENDPOINT": f"{receiver.url}/v2/otel", **environment})
        result = subprocess.run(
            [sys.executable, str(app)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=True,
        )
    assert expected in result.stdout
