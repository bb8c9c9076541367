"""The boundaries, second round, over real HTTP on loopback: identity never leaves toward a
barred host (redirects, a plain-HTTP proxy, numeric and Unicode spellings of hosts), and
the edge reads header names as the Jaeger and OT Trace propagators do.

Barred hosts are loopback servers that `propagate_to` leaves out, so that every request
really goes out and is recorded.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import httpx
import httpx2
import pytest
import requests
import urllib3
from conftest import Telemetry
from opentelemetry import baggage, context, propagate
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor, HTTPXClientInstrumentor
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.jaeger import JaegerPropagator
from opentelemetry.propagators.ot_trace import OTTracePropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from servers import serve_in_thread

from orq_otel import DropIncomingIdentity, get_identity, use_identity
from orq_otel._identity.keys import is_guarded_key
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
    tracer_provider = TracerProvider()
    for instrumentor in instrumentors:
        instrumentor.instrument(tracer_provider=tracer_provider)
    yield
    for instrumentor in instrumentors:
        instrumentor.uninstrument()


@pytest.fixture
def with_tenant() -> Iterator[None]:
    token = context.attach(baggage.set_baggage("tenant", "acme"))
    yield
    context.detach(token)


def port_of(server: LocalOpenAIServer) -> int:
    return int(server.address.rsplit(":", 1)[1])


def baggage_keys(headers: Any) -> set[str]:
    header = next((value for name, value in headers if name.lower() == "baggage"), "")
    return {member.split("=", 1)[0] for member in header.split(",") if member}


def sent(server: LocalOpenAIServer) -> set[str]:
    return baggage_keys(server.requests[-1].headers.items())


def run_script(script: str, *args: str) -> str:
    """What `script` prints, run in a fresh interpreter: the egress guard is installed once
    per process, so tests of when it is installed need a process of their own."""
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


# --- loopback helpers: a redirector and a recording proxy ------------------------------


@contextmanager
def http_server(handle: Callable[[http.server.BaseHTTPRequestHandler], None]) -> Iterator[int]:
    """A plain HTTP server on 127.0.0.1 whose GETs `handle` answers; yields its port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            handle(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def redirect_to(location: str, status: int) -> Callable[[http.server.BaseHTTPRequestHandler], None]:
    def handle(request: http.server.BaseHTTPRequestHandler) -> None:
        request.send_response(status)
        request.send_header("Location", location)
        request.send_header("Content-Length", "0")
        request.end_headers()

    return handle


# --- 1. redirects ------------------------------------------------------------------------


async def _httpx_async(client_type: Any, address: str) -> None:
    async with client_type(follow_redirects=True) as client:
        await client.get(address)


async def _aiohttp_get(address: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(address) as response:
        await response.read()


FOLLOWING_CLIENTS: dict[str, Callable[[str], Any]] = {
    "httpx": lambda address: httpx.get(address, follow_redirects=True),
    "httpx (async)": lambda address: asyncio.run(_httpx_async(httpx.AsyncClient, address)),
    "httpx2": lambda address: httpx2.get(address, follow_redirects=True),
    "httpx2 (async)": lambda address: asyncio.run(_httpx_async(httpx2.AsyncClient, address)),
    "aiohttp": lambda address: asyncio.run(_aiohttp_get(address)),
    "requests": lambda address: requests.get(address, timeout=10),
    "urllib3": lambda address: urllib3.request("GET", address, timeout=10),
}


@pytest.mark.usefixtures("with_tenant")
@pytest.mark.parametrize("status", [302, 307])
@pytest.mark.parametrize("client", list(FOLLOWING_CLIENTS))
def test_a_redirect_to_a_barred_host_carries_no_identity(
    telemetry: Telemetry, server: LocalOpenAIServer, client: str, status: int
) -> None:
    telemetry.instrument(propagate_to=["localhost"])
    barred = f"http://127.0.0.1:{port_of(server)}/v1/anything"
    allowed = f"http://localhost:{port_of(server)}/v1/anything"
    with use_identity(id="victim", display_name="Ada"):
        with http_server(redirect_to(allowed, status)) as port:
            FOLLOWING_CLIENTS[client](f"http://localhost:{port}/go")
        # followed to an allowed host, the identity goes on (the test sees it when it does)
        assert {"orq.identity.id", "orq.identity.display_name"} <= sent(server)
        with http_server(redirect_to(barred, status)) as port:
            FOLLOWING_CLIENTS[client](f"http://localhost:{port}/go")
    assert server.requests[-1].host == "127.0.0.1"  # the redirect was followed
    assert sent(server) == {"tenant"}


# --- 3. a plain-HTTP proxy ---------------------------------------------------------------


@contextmanager
def recording_proxy() -> Iterator[tuple[int, list[tuple[str, list[tuple[str, str]]]]]]:
    """A proxy that records (request target, headers) and answers for the target itself."""
    seen: list[tuple[str, list[tuple[str, str]]]] = []

    def handle(request: http.server.BaseHTTPRequestHandler) -> None:
        seen.append((request.path, list(request.headers.items())))
        request.send_response(200)
        request.send_header("Content-Length", "2")
        request.end_headers()
        request.wfile.write(b"ok")

    with http_server(handle) as port:
        yield port, seen


@pytest.mark.usefixtures("with_tenant")
@pytest.mark.parametrize("client", ["urllib3.ProxyManager", "requests"])
def test_behind_a_plain_http_proxy_the_target_is_judged(telemetry: Telemetry, client: str) -> None:
    telemetry.instrument()  # the default list: loopback (the proxy) allowed
    with recording_proxy() as (port, seen), use_identity(id="victim"):
        proxy = f"http://127.0.0.1:{port}"
        for target in ("http://api.example.com/v1/x", "http://worker/v1/x"):
            if client == "requests":
                requests.get(target, proxies={"http": proxy}, timeout=10)
            else:
                urllib3.ProxyManager(proxy).request("GET", target, timeout=10)
    (barred_target, barred), (_, allowed) = seen
    assert barred_target == "http://api.example.com/v1/x"
    assert baggage_keys(barred) == {"tenant"}
    assert "orq.identity.id" in baggage_keys(allowed)  # worker: single-label, allowed


PROXY_SCRIPT = """
import sys, http.server, threading, urllib3, requests
from opentelemetry import baggage, context
from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
from opentelemetry.sdk.trace import TracerProvider
from orq_otel import OrqInstrumentor, use_identity

seen = []
class Proxy(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        seen.append(self.headers.get("baggage"))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args):
        pass

def ours():
    OrqInstrumentor().instrument()

def theirs():
    URLLib3Instrumentor().instrument(tracer_provider=TracerProvider())

first, second = (ours, theirs) if sys.argv[1] == "ours-first" else (theirs, ours)
first()
second()
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
threading.Thread(target=server.serve_forever, daemon=True).start()
proxy = f"http://127.0.0.1:{server.server_address[1]}"
context.attach(baggage.set_baggage("tenant", "acme"))
with use_identity(id="victim"):
    urllib3.ProxyManager(proxy).request("GET", "http://api.example.com/x", timeout=10)
    requests.get("http://api.example.com/x", proxies={"http": proxy}, timeout=10)
server.shutdown()
print(" ".join(str(header) for header in seen))
"""


@pytest.mark.parametrize("order", ["ours-first", "theirs-first"])
def test_behind_a_proxy_whichever_instrumentation_wraps_first(order: str) -> None:
    # Only urllib3's instrumentation: requests then writes nothing itself, urllib3 does.
    assert run_script(PROXY_SCRIPT, order).split() == ["tenant=acme", "tenant=acme"]


UNINSTRUMENT_SCRIPT = """
import asyncio, http.server, json, threading, aiohttp, httpx, httpx2, requests, urllib3
from opentelemetry import baggage, context
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor, HTTPXClientInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor
from opentelemetry.sdk.trace import TracerProvider
from orq_otel import OrqInstrumentor, use_identity

received = []
class Barred(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        received.append({name.lower(): value for name, value in self.headers.items()})
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args):
        pass

async def with_aiohttp(address):
    async with aiohttp.ClientSession() as session, session.get(address) as response:
        await response.read()

def each_client(address):
    httpx.get(address)
    httpx2.get(address)
    requests.get(address, timeout=10)
    urllib3.request("GET", address, timeout=10)
    asyncio.run(with_aiohttp(address))

def propagated():
    found = [(headers.get("baggage"), "traceparent" in headers) for headers in received]
    received.clear()
    return found

theirs = [HTTPXClientInstrumentor(), HTTPX2ClientInstrumentor(), RequestsInstrumentor(),
          URLLib3Instrumentor(), AioHttpClientInstrumentor()]
for instrumentor in theirs:
    instrumentor.instrument(tracer_provider=TracerProvider())
OrqInstrumentor().instrument(propagate_to=["api.orq.ai"])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Barred)
threading.Thread(target=server.serve_forever, daemon=True).start()
address = f"http://127.0.0.1:{server.server_address[1]}/x"
context.attach(baggage.set_baggage("tenant", "acme"))
with use_identity(id="victim"):
    each_client(address)
    while_instrumented = propagated()
    for instrumentor in theirs:
        instrumentor.uninstrument()
    each_client(address)
    after_uninstrument = propagated()
    for instrumentor in theirs:
        instrumentor.instrument(tracer_provider=TracerProvider())
    each_client(address)
    instrumented_again = propagated()
server.shutdown()
print(json.dumps([while_instrumented, after_uninstrument, instrumented_again]))
"""


def test_other_instrumentations_uninstrument_cleanly_and_the_guard_stays() -> None:
    # Theirs are instrumented before ours is installed: uninstrument() must still remove
    # theirs entirely (no header written at all), and identity must stay home throughout.
    found = json.loads(run_script(UNINSTRUMENT_SCRIPT))
    while_instrumented, after_uninstrument, instrumented_again = found
    assert while_instrumented == [["tenant=acme", True]] * 5
    assert after_uninstrument == [[None, False]] * 5
    assert instrumented_again == [["tenant=acme", True]] * 5


# --- 4, 5. hosts as clients connect to them --------------------------------------------

# Spellings of 127.0.0.1 that each client connects to (aiohttp refuses some of them).
NUMERIC = ["2130706433", "0x7f000001", "017700000001", "127.1", "0x7f.1"]
UNICODE = ["127\u30020\u30020\u30021", "127\uff0e0\uff0e0\uff0e1", "127\uff610\uff610\uff611"]
SPELLING_CASES = [
    *((client, host) for client in ("httpx", "requests", "urllib3") for host in NUMERIC),
    *(("aiohttp", host) for host in ("0x7f000001", "0x7f.1")),
    *((client, host) for client in ("httpx", "aiohttp") for host in UNICODE),
]
PLAIN_CLIENTS: dict[str, Callable[[str], Any]] = {
    "httpx": httpx.get,
    "requests": lambda address: requests.get(address, timeout=10),
    "urllib3": lambda address: urllib3.request("GET", address, timeout=10),
    "aiohttp": lambda address: asyncio.run(_aiohttp_get(address)),
}


@pytest.mark.usefixtures("with_tenant")
@pytest.mark.parametrize(("client", "host"), SPELLING_CASES)
def test_a_host_is_judged_as_the_address_the_client_connects_to(
    telemetry: Telemetry, server: LocalOpenAIServer, client: str, host: str
) -> None:
    # Single-label names may have identity; 127.0.0.1 may not, however it is spelled.
    telemetry.instrument(propagate_to=["single-label"])
    with use_identity(id="victim"):
        PLAIN_CLIENTS[client](f"http://localhost:{port_of(server)}/v1/x")
        assert "orq.identity.id" in sent(server)  # a single-label name: allowed
        PLAIN_CLIENTS[client](f"http://{host}:{port_of(server)}/v1/x")
    assert sent(server) == {"tenant"}


# --- 2, 9. the edge and the reader, behind a real ASGI server --------------------------


async def report_baggage(scope: Any, receive: Any, send: Any) -> None:
    """An ASGI app that answers with the baggage keys and the identity it sees."""
    identity = get_identity()
    body = json.dumps([sorted(baggage.get_all()), identity.id if identity else None]).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def global_propagators(*propagators: Any) -> Iterator[None]:
    before = propagate.get_global_textmap()
    propagate.set_global_textmap(CompositePropagator(list(propagators)))
    try:
        yield
    finally:
        propagate.set_global_textmap(before)


TRACE_HEADERS = {
    "uber-trace-id": "000000000000000a:000000000000000b:0:1",
    "ot-tracer-traceid": "000000000000000a",
    "ot-tracer-spanid": "000000000000000b",
    "ot-tracer-sampled": "true",
}


@pytest.mark.usefixtures("telemetry")
@pytest.mark.parametrize(
    "name",
    [
        "uberctx-orquberctx-.identity.id",
        "uberctx-uberctx-orq.identity.id",
        "uberctx-enduser.iduberctx-",
        "uberctx-orq.threaduberctx-.id",
        "uberctx-orq.thread.uberctx-id",
        "ot-baggage-orq.identity.id",
        "ot-baggage-enduser.id",
    ],
)
def test_the_edge_reads_header_names_as_jaeger_and_ot_trace_do(name: str) -> None:
    app = DropIncomingIdentity(OpenTelemetryMiddleware(report_baggage))
    with (
        global_propagators(W3CBaggagePropagator(), JaegerPropagator(), OTTracePropagator()),
        serve_in_thread(app) as url,
    ):
        headers = {**TRACE_HEADERS, name: "victim", "uberctx-tenant": "acme"}
        keys, identity = httpx.get(url, headers=headers).json()
        # without the edge, the same request makes the victim the identity (or thread)
        with serve_in_thread(OpenTelemetryMiddleware(report_baggage)) as bare:
            bare_keys, _ = httpx.get(bare, headers=headers).json()
    assert any(is_guarded_key(key) for key in bare_keys)
    assert identity is None
    assert not any(is_guarded_key(key) for key in keys)
    assert "tenant" in keys


@pytest.mark.usefixtures("telemetry")
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("orq.identity.id=t%C3%A9st%20user%3B1", "tést user;1"),  # Node, Java, Go
        ("orq.identity.id=t%C3%A9st+user%3B1", "tést user;1"),  # Python
        ("orq.identity.id=user-1;p=1", "user-1"),  # a property, at a literal `;`
        ("orq.identity.id=a%3Bb;p=%3B", "a;b"),
        ("enduser.id=x%3By", "x;y"),
    ],
)
def test_only_a_literal_semicolon_starts_properties(header: str, expected: str) -> None:
    with (
        global_propagators(TraceContextTextMapPropagator(), W3CBaggagePropagator()),
        serve_in_thread(OpenTelemetryMiddleware(report_baggage)) as url,
    ):
        _, identity = httpx.get(url, headers={"baggage": header}).json()
    assert identity == expected
