"""Identity and thread baggage leave the process only toward `propagate_to` hosts.

Each HTTP client, instrumented by its OpenTelemetry instrumentation, calls the local
server under two names: `localhost` (allowed here) and `127.0.0.1` (not). The server
records the headers it gets.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import httpx
import httpx2
import openai
import pytest
import requests
import urllib3
from conftest import MESSAGES, Telemetry
from opentelemetry import baggage, context, propagate
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor, HTTPXClientInstrumentor
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.jaeger import JaegerPropagator
from opentelemetry.propagators.ot_trace import OTTracePropagator
from opentelemetry.sdk.trace import TracerProvider

from orq_otel import use_identity
from orq_otel._config import DEFAULT_PROPAGATE_TO
from orq_otel._identity.egress import Destinations
from orq_otel.testing import LocalOpenAIServer


@pytest.fixture(scope="module", autouse=True)
def http_instrumentations() -> Iterator[None]:
    instrumentors: list[BaseInstrumentor] = [
        HTTPXClientInstrumentor(),
        HTTPX2ClientInstrumentor(),
        RequestsInstrumentor(),
        URLLib3Instrumentor(),
        AioHttpClientInstrumentor(),
    ]
    # Real spans: the Jaeger and OT Trace propagators write nothing without a span context.
    tracer_provider = TracerProvider()
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=tracer_provider)
    yield
    for instrumentor in instrumentors:
        instrumentor.uninstrument()


@pytest.fixture
def scoped(telemetry: Telemetry) -> Telemetry:
    telemetry.instrument(propagate_to=["localhost"])
    return telemetry


def port_of(server: LocalOpenAIServer) -> int:
    return int(server.address.rsplit(":", 1)[1])


def url(server: LocalOpenAIServer, host: str) -> str:
    return f"http://{host}:{port_of(server)}/v1/anything"


async def _aiohttp_get(address: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(address) as response:
        await response.read()


async def _httpx_async_get(client_type: Any, address: str) -> None:
    async with client_type() as client:
        await client.get(address)


CLIENTS: dict[str, Callable[[str], Any]] = {
    "httpx": httpx.get,
    "httpx (async)": lambda address: asyncio.run(_httpx_async_get(httpx.AsyncClient, address)),
    "httpx2": httpx2.get,
    "httpx2 (async)": lambda address: asyncio.run(_httpx_async_get(httpx2.AsyncClient, address)),
    "requests": lambda address: requests.get(address, timeout=10),
    "urllib3": lambda address: urllib3.request("GET", address, timeout=10),
    "aiohttp": lambda address: asyncio.run(_aiohttp_get(address)),
}


def baggage_sent(server: LocalOpenAIServer) -> set[str]:
    headers = server.requests[-1].headers.items()
    header = next((value for name, value in headers if name.lower() == "baggage"), "")
    return {member.split("=", 1)[0] for member in header.split(",") if member}


@pytest.fixture
def with_tenant() -> Iterator[None]:
    token = context.attach(baggage.set_baggage("tenant", "acme"))
    yield
    context.detach(token)


@pytest.mark.usefixtures("scoped", "with_tenant")
@pytest.mark.parametrize("client", list(CLIENTS))
def test_identity_goes_only_to_allowed_hosts(server: LocalOpenAIServer, client: str) -> None:
    with use_identity(id="user-1", display_name="Ada"):
        CLIENTS[client](url(server, "localhost"))
        assert baggage_sent(server) == {
            "tenant",
            "orq.identity.id",
            "orq.identity.display_name",
        }
        CLIENTS[client](url(server, "127.0.0.1"))
        assert baggage_sent(server) == {"tenant"}  # other entries pass untouched


@pytest.mark.usefixtures("with_tenant")
def test_signature_stays_home_too(telemetry: Telemetry, server: LocalOpenAIServer) -> None:
    telemetry.instrument(propagate_to=["localhost"], identity_secret="egress-test-secret-0123")
    with use_identity(id="user-1"):
        CLIENTS["requests"](url(server, "127.0.0.1"))
    assert baggage_sent(server) == {"tenant"}


@pytest.mark.usefixtures("scoped", "with_tenant")
def test_identity_received_from_upstream_is_scoped_on_the_way_on(
    server: LocalOpenAIServer,
) -> None:
    upstream = propagate.extract({"baggage": "orq.identity.id=user-2,enduser.id=user-2"})
    token = context.attach(baggage.set_baggage("tenant", "acme", upstream))
    try:
        CLIENTS["httpx2"](url(server, "127.0.0.1"))
    finally:
        context.detach(token)
    assert baggage_sent(server) == {"tenant"}


@pytest.mark.usefixtures("with_tenant")
@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_openai_calls_carry_no_identity_baggage_to_any_host(
    telemetry: Telemetry, server: LocalOpenAIServer, host: str
) -> None:
    telemetry.instrument(propagate_to=[host], inject_hosts=[host])
    base_url = f"http://{host}:{port_of(server)}/v1"
    with (
        openai.OpenAI(base_url=base_url, api_key="k", max_retries=0) as client,
        use_identity(id="user-1"),
    ):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert baggage_sent(server) == {"tenant"}
    assert server.requests[-1].json["orq"] == {"identity": {"id": "user-1"}}  # in the body


@pytest.mark.usefixtures("scoped")
@pytest.mark.parametrize("propagator", [JaegerPropagator(), OTTracePropagator()])
def test_jaeger_and_ot_trace_baggage_headers_are_scoped(
    server: LocalOpenAIServer, propagator: Any
) -> None:
    before = propagate.get_global_textmap()
    propagate.set_global_textmap(CompositePropagator([propagator]))
    try:
        with use_identity(id="user-1"):
            CLIENTS["requests"](url(server, "127.0.0.1"))
            barred = dict(server.requests[-1].headers)
            CLIENTS["requests"](url(server, "localhost"))
            allowed = dict(server.requests[-1].headers)
    finally:
        propagate.set_global_textmap(before)
    ours = {"uberctx-orq.identity.id", "ot-baggage-orq.identity.id"}
    assert ours.isdisjoint(name.lower() for name in barred)
    assert ours & {name.lower() for name in allowed}


@pytest.mark.usefixtures("telemetry")
def test_the_application_injecting_by_hand_is_not_judged() -> None:
    # No host to judge (a queue message, say): everything is written, as before.
    headers: dict[str, str] = {}
    with use_identity(id="user-1"):
        propagate.inject(headers)
    assert "orq.identity.id=user-1" in headers["baggage"]


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost", True),
        ("worker", True),  # single-label: Docker Compose, Kubernetes short names
        ("api.internal", True),
        ("printer.local", True),
        ("svc-a.ns.svc", True),
        ("svc-a.ns.svc.cluster.local", True),
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("172.20.0.5", True),
        ("192.168.1.10", True),
        ("::1", True),
        ("[::1]", True),
        ("fd12::1", True),
        ("api.openai.com", False),
        ("api.orq.ai", False),
        ("8.8.8.8", False),
        ("172.32.0.1", False),
        ("internal.example.com", False),
        ("evil.localhost.example.com", False),
    ],
)
def test_default_destinations(host: str, allowed: bool) -> None:
    assert Destinations(DEFAULT_PROPAGATE_TO).allows(host) is allowed


def test_destinations_match_exact_names_suffixes_and_networks() -> None:
    destinations = Destinations(("api.corp.example", ".mesh.example", "203.0.113.0/24"))
    assert destinations.allows("api.corp.example")
    assert not destinations.allows("x.api.corp.example")  # exact means exact
    assert destinations.allows("a.mesh.example")
    assert destinations.allows("203.0.113.7")
    assert not destinations.allows("worker")


ORDER_SCRIPT = """
import sys, urllib3, requests
from opentelemetry import baggage, context
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
from opentelemetry.sdk.trace import TracerProvider
from orq_otel import OrqInstrumentor, use_identity
from orq_otel.testing import LocalOpenAIServer

def ours():
    OrqInstrumentor().instrument(propagate_to=["localhost"])

def theirs():
    for instrumentor in (RequestsInstrumentor(), URLLib3Instrumentor()):
        instrumentor.instrument(tracer_provider=TracerProvider())

first, second = (ours, theirs) if sys.argv[1] == "ours-first" else (theirs, ours)
first()
second()
with LocalOpenAIServer() as server:
    port = server.address.rsplit(":", 1)[1]
    context.attach(baggage.set_baggage("tenant", "acme"))
    with use_identity(id="user-1"):
        requests.get(f"http://127.0.0.1:{port}/x", timeout=10)
        urllib3.request("GET", f"http://127.0.0.1:{port}/x", timeout=10)
    for request in server.requests:
        print(request.headers.get("baggage") or request.headers.get("Baggage"))
"""


@pytest.mark.parametrize("order", ["ours-first", "theirs-first"])
def test_scoping_holds_whichever_instrumentation_wraps_first(order: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", ORDER_SCRIPT, order],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.split() == ["tenant=acme", "tenant=acme"]
