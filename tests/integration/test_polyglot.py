"""Identity across Go and Java services, in one trace.

A Python gateway (orq_otel, the OpenTelemetry SDK, an instrumented httpx client) sets the
identity and the thread, then calls through real relays: examples/go (the OpenTelemetry Go
SDK, its W3C propagators and otelhttp), examples/java (JDK HttpServer and HttpClient under
the OpenTelemetry Java agent, with no code of ours touching baggage) and examples/node.
At the end, a Python worker reads `get_identity()`/`get_thread()` and calls the local
router through the real openai client. Every service exports its spans by OTLP to a real
Jaeger v2 (built by otel_stack), whose query API must hold the request as one trace.

The per-relay tests pin what each SDK does to baggage on the way (re-encoding, order,
the 64-entry and 8,192-byte caps) and that orq-otel's entries pass byte for byte.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from conftest import ORQ_BASE_URL
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.httpx import HTTPX2ClientInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from otel_stack import Jaeger, Unavailable, build, get_json, running_jaeger
from relays import NODE_SOURCE, go_relay, java_relay, missing_tools, node_relay, running
from servers import IdleClosingServer, serve_in_thread, wait_until
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from test_node import IDS, TRICKY

from orq_otel import OrqInstrumentor, get_identity, get_thread, use_identity, use_thread
from orq_otel.testing import LocalOpenAIServer

pytestmark = pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools()))

SECRET = "polyglot-shared-secret-0123456789"
THREAD_ID = 'chat 1 + 2 % ,;="ü😀'
THREAD_TAGS = ["a,b", "c;d=e", "😀"]
QUESTION = {"question": "hello there"}
WITH_NODE = (NODE_SOURCE / "node_modules").is_dir()  # .ci/run installs it (npm ci)


# --- where the spans go: the real Jaeger ----------------------------------------------


@dataclass(frozen=True)
class SpanSeen:
    """One span as Jaeger's query API shows it; ids as integers, kind as `span.kind`."""

    span_id: int
    parent_id: int | None
    kind: str  # "server", "client", "internal", ...
    attributes: dict[str, Any]


@dataclass(frozen=True)
class JaegerBackend:
    """Jaeger v2 (tools/jaeger, in memory): every service exports OTLP/HTTP to it."""

    jaeger: Jaeger

    @property
    def otlp_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.jaeger.otlp_http_port}"

    def trace(self, trace_id: int) -> dict[str, Any] | None:
        """GET /api/traces/{traceID}: the trace as Jaeger holds it, None until it has one."""
        try:
            found = get_json(f"{self.jaeger.ui}/api/traces/{trace_id:032x}")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise
        traces = found.get("data") or []
        assert len(traces) <= 1, [t["traceID"] for t in traces]
        return dict(traces[0]) if traces else None

    def services_in_trace(self, trace_id: int) -> dict[str, list[SpanSeen]]:
        """service.name -> its spans in that trace (none while Jaeger has not got it)."""
        found = self.trace(trace_id)
        return spans_by_service(found) if found else {}


def spans_by_service(found: dict[str, Any]) -> dict[str, list[SpanSeen]]:
    services = {key: process["serviceName"] for key, process in found["processes"].items()}
    spans: dict[str, list[SpanSeen]] = {}
    for span in found["spans"]:
        tags = {tag["key"]: tag["value"] for tag in span.get("tags") or []}
        parents = [r for r in span.get("references") or [] if r["refType"] == "CHILD_OF"]
        seen = SpanSeen(
            int(span["spanID"], 16),
            int(parents[0]["spanID"], 16) if parents else None,
            str(tags.get("span.kind", "")),
            tags,
        )
        spans.setdefault(services[span["processID"]], []).append(seen)
    return spans


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JaegerBackend | Unavailable]:
    """The real Jaeger, or why it cannot be had (only the one-trace test needs it)."""
    try:
        binary = build("jaeger")["jaeger"]
    except Unavailable as reason:
        yield reason
        return
    with running_jaeger(binary, tmp_path_factory.mktemp("jaeger")) as running:
        yield JaegerBackend(running)


def otlp_endpoint(jaeger: JaegerBackend | Unavailable) -> str | None:
    return jaeger.otlp_endpoint if isinstance(jaeger, JaegerBackend) else None


# --- the Python services --------------------------------------------------------------


def _provider(service: str, endpoint: str | None) -> TracerProvider:
    """Spans exported as each ends (no batch to wait for), or kept nowhere without Jaeger."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if endpoint is not None:
        exporter = OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", timeout=10)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


@pytest.fixture(scope="module")
def worker_provider(jaeger: JaegerBackend | Unavailable) -> Iterator[TracerProvider]:
    provider = _provider("py-worker", otlp_endpoint(jaeger))
    yield provider
    provider.shutdown()


@pytest.fixture(scope="module")
def gateway(jaeger: JaegerBackend | Unavailable) -> Iterator[Gateway]:
    """The gateway's own instrumented client: it writes traceparent and baggage."""
    provider = _provider("py-gateway", otlp_endpoint(jaeger))
    # No idle connection kept: Node's server closes one after 5 s, as long as httpx keeps
    # it, and a request sent on it as it closes fails (so the relays keep none either).
    no_reuse = httpx2.Limits(max_keepalive_connections=0)
    with httpx2.Client(timeout=90, limits=no_reuse) as client:
        HTTPX2ClientInstrumentor.instrument_client(client, tracer_provider=provider)
        yield Gateway(client, provider.get_tracer("gateway"))
    provider.shutdown()


@dataclass
class Gateway:
    client: httpx2.Client
    tracer: trace.Tracer

    def call(self, url: str, body: Any, headers: dict[str, str] | None = None) -> Any:
        reply = self.client.post(url, json=body, headers=headers)
        assert reply.status_code == 200, reply.text
        return reply.json()


def worker_app(llm: Any, provider: TracerProvider) -> Any:
    """Reads the identity and thread it was sent, then calls the LLM for them."""

    async def answer(request: Request) -> Response:
        identity, thread = get_identity(), get_thread()
        completion = await llm.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
        )
        return JSONResponse(
            {
                "identity": identity.model_dump(mode="json", exclude_none=True)
                if identity
                else None,
                "thread": thread.model_dump(mode="json", exclude_none=True) if thread else None,
                "baggage": request.headers.get("baggage"),
                "traceparent": request.headers.get("traceparent"),
                "answer": completion.choices[0].message.content,
            }
        )

    app = Starlette(routes=[Route("/llm", answer, methods=["POST"])])
    return OpenTelemetryMiddleware(app, tracer_provider=provider)


@pytest.fixture(scope="module")
def worker(server: LocalOpenAIServer, worker_provider: TracerProvider) -> Iterator[str]:
    with serve_in_thread(worker_app(server.async_client(ORQ_BASE_URL), worker_provider)) as url:
        yield url


@pytest.fixture
def instrument(worker_provider: TracerProvider) -> Iterator[Callable[..., None]]:
    """orq-otel in this process (gateway and worker alike), with the options given."""
    instrumentor = OrqInstrumentor()

    def with_options(**options: Any) -> None:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        instrumentor.instrument(tracer_provider=worker_provider, **options)

    with_options()
    yield with_options
    instrumentor.uninstrument()


# --- the relays: each started once for the module -------------------------------------

Hop = Callable[["dict[str, str] | None"], Any]


def direct(gateway: Gateway, url: str) -> Hop:
    """Through relays that forward the path: POST {url}/llm reaches the worker."""

    def call(headers: dict[str, str] | None = None) -> Any:
        return gateway.call(f"{url}/llm", QUESTION, headers)

    return call


def enveloped(gateway: Gateway, url: str) -> Hop:
    """Through Node's POST /relay, which sends {"body"} on to NEXT_URL + {"path"}."""

    def call(headers: dict[str, str] | None = None) -> Any:
        reply = gateway.call(f"{url}/relay", {"path": "/llm", "body": QUESTION}, headers)
        assert reply["status"] == 200, reply
        return reply["reply"]

    return call


@pytest.fixture(scope="module")
def chain(worker: str, jaeger: JaegerBackend | Unavailable, gateway: Gateway) -> Iterator[Hop]:
    """gateway -> Go -> Java -> Node -> worker (Go and Java forward Node's /relay path)."""
    with ExitStack() as stack:
        next_url = worker
        if WITH_NODE:
            next_url = stack.enter_context(node_relay(next_url))
        java = stack.enter_context(java_relay(next_url, otlp_endpoint(jaeger)))
        go = stack.enter_context(go_relay(java, otlp_endpoint(jaeger)))
        yield enveloped(gateway, go) if WITH_NODE else direct(gateway, go)


@pytest.fixture(scope="module")
def relays(worker: str, gateway: Gateway) -> Iterator[dict[str, Hop]]:
    """Each relay alone in front of the worker (their baggage is asserted, not their spans)."""
    with ExitStack() as stack:
        hops = {
            "go": direct(gateway, stack.enter_context(go_relay(worker))),
            "java": direct(gateway, stack.enter_context(java_relay(worker))),
        }
        if WITH_NODE:
            hops["node"] = enveloped(gateway, stack.enter_context(node_relay(worker)))
        yield hops


# --- helpers --------------------------------------------------------------------------


def propagated(identity: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "display_name", "tags", "metadata")
    return {key: identity[key] for key in keys if key in identity}


def members(header: str | None) -> list[str]:
    """The `key=value` members of a baggage header, as written, in order."""
    return [member.strip() for member in (header or "").split(",") if member.strip()]


def by_key(header: str | None) -> dict[str, str]:
    return dict(member.split("=", 1) for member in members(header))


def ours(header: str | None) -> set[str]:
    return {member for member in members(header) if member.startswith("orq.")}


def what_python_writes() -> str:
    """The baggage header orq-otel's context makes Python's propagator write."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier["baggage"]


def foreign_upstream(baggage: str) -> dict[str, str]:
    """Headers as a service we do not control would send them (a fresh trace)."""
    traceparent = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
    return {"traceparent": traceparent, "baggage": baggage}


def trace_id_of(traceparent: str) -> int:
    return int(traceparent.split("-")[1], 16)


# --- the whole chain ------------------------------------------------------------------


@pytest.mark.parametrize("identity", TRICKY, ids=IDS)
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_the_worker_sees_what_the_gateway_set_across_go_java_and_node(
    chain: Hop,
    instrument: Callable[..., None],
    server: LocalOpenAIServer,
    identity: dict[str, Any],
    signed: bool,
) -> None:
    instrument(identity_secret=SECRET if signed else None)
    with use_identity(identity), use_thread(THREAD_ID, tags=THREAD_TAGS):
        seen = chain(None)
    assert seen["identity"] == propagated(identity)
    assert seen["thread"] == {"id": THREAD_ID, "tags": THREAD_TAGS}
    assert ("orq.identity.sig=v2." in seen["baggage"]) is signed  # the wire format v2
    assert server.requests[-1].identity == propagated(identity)
    assert server.requests[-1].thread == {"id": THREAD_ID, "tags": THREAD_TAGS}


def test_a_tampered_identity_is_rejected_after_go_java_and_node(
    chain: Hop,
    instrument: Callable[..., None],
    server: LocalOpenAIServer,
) -> None:
    instrument(identity_secret=SECRET)
    with use_identity({"id": "plain-id_1.2~3", "tags": ["pro"]}):
        signed = what_python_writes()
    tampered = signed.replace("orq.identity.id=plain-id_1.2~3", "orq.identity.id=someone-else")
    assert tampered != signed
    seen = chain({"baggage": tampered})  # no identity in context: ours is sent
    assert "orq.identity.id=someone-else" in seen["baggage"]  # it arrived, and was refused
    assert seen["identity"] is None
    assert server.requests[-1].identity is None


EXPECTED_SPANS = {
    ("py-gateway", "client"),
    ("go-relay", "server"),
    ("go-relay", "client"),
    ("java-relay", "server"),
    ("java-relay", "client"),
    ("py-worker", "server"),
}


def test_jaeger_holds_one_trace_across_python_go_and_java(
    chain: Hop,
    gateway: Gateway,
    instrument: Callable[..., None],
    jaeger: JaegerBackend | Unavailable,
    tmp_path: Path,
) -> None:
    if isinstance(jaeger, Unavailable):
        pytest.skip(f"no Jaeger: {jaeger}")
    instrument(identity_secret=SECRET)
    with gateway.tracer.start_as_current_span("ask") as ask, use_identity(TRICKY[0]):
        seen = chain(None)
    trace_id = ask.get_span_context().trace_id
    assert trace_id_of(seen["traceparent"]) == trace_id

    # Spans arrive on their own schedules (Python as each ends, Go and Java in batches
    # every 200 ms): poll Jaeger's GET /api/traces/{traceID}, bounded, until all are in.
    def kinds_in_trace() -> set[tuple[str, str]]:
        found = jaeger.services_in_trace(trace_id)
        return {(service, span.kind) for service, spans in found.items() for span in spans}

    wait_until(lambda: kinds_in_trace() >= EXPECTED_SPANS, 30, f"{sorted(EXPECTED_SPANS)}")
    found = jaeger.trace(trace_id)
    assert found is not None
    (tmp_path / "jaeger-trace.json").write_text(json.dumps(found, indent=1))
    assert {int(span["traceID"], 16) for span in found["spans"]} == {trace_id}
    spans = spans_by_service(found)
    # One chain of parents: the gateway's "ask" -> its client span -> Go's server span
    # (otelhttp) -> Go's client span -> Java's server span (the agent's HttpServer
    # instrumentation) -> Java's client span (HttpClient) -> Node (exports nothing) -> the
    # worker's server span -> the LLM span.
    gateway_client = one(spans["py-gateway"], "client")
    assert gateway_client.parent_id == ask.get_span_context().span_id
    go_server, go_client = one(spans["go-relay"], "server"), one(spans["go-relay"], "client")
    java_server = one(spans["java-relay"], "server")
    java_client = one(spans["java-relay"], "client")
    assert go_server.parent_id == gateway_client.span_id
    assert go_client.parent_id == go_server.span_id
    assert java_server.parent_id == go_client.span_id
    assert java_client.parent_id == java_server.span_id
    worker_server = one(spans["py-worker"], "server")
    if not WITH_NODE:
        assert worker_server.parent_id == java_client.span_id
    llm = [s for s in spans["py-worker"] if s.attributes.get("gen_ai.operation.name") == "chat"]
    assert [s.attributes.get("orq.identity.id") for s in llm] == [TRICKY[0]["id"]]
    assert [s.parent_id for s in llm] == [worker_server.span_id]
    # Users find it as the README says: by the worker's spans tagged with the identity.
    tagged = jaeger.jaeger.traces("py-worker", {"orq.identity.id": str(TRICKY[0]["id"])})
    assert trace_id in {int(t["traceID"], 16) for t in tagged}


def one(spans: list[SpanSeen], kind: str) -> SpanSeen:
    found = [span for span in spans if span.kind == kind]
    assert len(found) == 1, spans
    return found[0]


# --- each relay alone: what its SDK does to baggage -----------------------------------

RELAYS = [
    "go",
    "java",
    pytest.param("node", marks=pytest.mark.skipif(not WITH_NODE, reason="npm ci not run")),
]


@pytest.mark.parametrize("relay", RELAYS)
@pytest.mark.parametrize("identity", TRICKY, ids=IDS)
def test_our_entries_pass_each_relay_byte_for_byte(
    relays: dict[str, Hop],
    instrument: Callable[..., None],
    server: LocalOpenAIServer,
    relay: str,
    identity: dict[str, Any],
) -> None:
    instrument(identity_secret=SECRET)
    with use_identity(identity), use_thread(THREAD_ID, tags=THREAD_TAGS):
        sent = what_python_writes()
        seen = relays[relay](None)
    # Each SDK decoded and re-encoded every entry (Java sorts them, Go shuffles them): ours
    # are unreserved characters or base64url, which every one writes back as they were.
    assert ours(seen["baggage"]) == ours(sent)
    assert seen["identity"] == propagated(identity)
    assert seen["thread"] == {"id": THREAD_ID, "tags": THREAD_TAGS}
    assert server.requests[-1].identity == propagated(identity)


# A foreign service's members, as written on the wire, and what each SDK sends on.
FOREIGN = {
    "foreign.plus": "a+b",
    "foreign.space": "a%20b",
    "foreign.lower": "%e2%9c%93",
    "foreign.slash": "a/b=c",
    "foreign.badescape": "x%ZZ",  # dropped by all three
}
PERCENT_ENCODED = {
    "foreign.plus": "a%2Bb",
    "foreign.space": "a%20b",
    "foreign.lower": "%E2%9C%93",
    "foreign.slash": "a%2Fb%3Dc",
}
RE_ENCODED = {
    "go": {**PERCENT_ENCODED, "foreign.plus": "a+b", "foreign.slash": "a/b=c"},
    "java": PERCENT_ENCODED,
    "node": PERCENT_ENCODED,  # encodeURIComponent
}


@pytest.fixture
def signed_header(instrument: Callable[..., None]) -> str:
    """orq-otel's signed identity and thread, as Python writes them."""
    instrument(identity_secret=SECRET)
    with use_identity(TRICKY[0]), use_thread(THREAD_ID, tags=THREAD_TAGS):
        return what_python_writes()


@pytest.mark.parametrize("relay", RELAYS)
def test_each_sdk_re_encodes_foreign_values_and_ours_survive(
    relays: dict[str, Hop], signed_header: str, relay: str
) -> None:
    foreign = ",".join(f"{key}={value}" for key, value in FOREIGN.items())
    sent = f"{foreign},{signed_header}"
    seen = relays[relay](foreign_upstream(sent))
    received = by_key(seen["baggage"])
    assert {k: v for k, v in received.items() if k.startswith("foreign.")} == RE_ENCODED[relay]
    if relay == "java":  # the agent's Baggage is sorted by key
        assert list(received) == sorted(received)
    if relay == "node":  # JavaScript keeps the order it read; Go's Baggage is a map
        assert list(received) == [key for key in by_key(sent) if key in received]
    assert ours(seen["baggage"]) == ours(signed_header)
    assert seen["identity"] == propagated(TRICKY[0])


MAX_ENTRIES = {"go": 64, "java": 64, "node": 180}


@pytest.mark.parametrize("relay", RELAYS)
def test_each_sdk_keeps_the_first_entries_up_to_its_cap(
    relays: dict[str, Hop], signed_header: str, relay: str
) -> None:
    sent = members(signed_header) + [f"f{number:02d}=v" for number in range(70)]
    seen = relays[relay](foreign_upstream(",".join(sent)))
    kept = members(seen["baggage"])
    assert set(kept) == set(sent[: MAX_ENTRIES[relay]])  # Go and Java: 64 of 76
    assert ours(seen["baggage"]) == ours(signed_header)  # ours came first, so all fit
    assert seen["identity"] == propagated(TRICKY[0])


@pytest.mark.parametrize("relay", RELAYS)
def test_a_member_that_re_encoding_takes_past_a_cap_is_dropped(
    relays: dict[str, Hop], signed_header: str, relay: str
) -> None:
    pluses = "+" * 3000  # 3,000 bytes in; written as `%2B`: 9,000 bytes out
    header = f"foreign.pluses={pluses},{signed_header}"
    assert len(header) < 4096
    seen = relays[relay](foreign_upstream(header))
    received = by_key(seen["baggage"])
    if relay == "go":  # Go writes `+` as it is
        assert received["foreign.pluses"] == pluses
    else:  # Java: past 8,192 bytes for the header; JavaScript: past 4,096 for one member
        assert "foreign.pluses" not in received
    assert ours(seen["baggage"]) == ours(signed_header)
    assert seen["identity"] == propagated(TRICKY[0])


@pytest.mark.parametrize("relay", RELAYS)
def test_a_header_over_8192_bytes(relays: dict[str, Hop], signed_header: str, relay: str) -> None:
    header = f"foreign.big={'x' * 8192},{signed_header}"
    seen = relays[relay](foreign_upstream(header))
    if relay == "node":  # skips the member over 4,096 bytes and reads on
        assert set(members(seen["baggage"])) == ours(signed_header)
        assert seen["identity"] == propagated(TRICKY[0])
    else:  # Go and Java refuse the whole header: ours are lost with it
        assert seen["baggage"] is None
        assert seen["identity"] is None


START = {"go": go_relay, "java": java_relay, "node": node_relay}


@pytest.mark.parametrize("relay", RELAYS)
def test_a_relay_answers_every_request_when_the_downstream_closes_idle_connections(
    gateway: Gateway, relay: str
) -> None:
    """A relay must not send a request on a connection the downstream may be closing.

    It forwards POSTs, which it must not replay, so a reused connection that the
    downstream's keep-alive timeout closes under a request would fail the caller (502).
    """
    with IdleClosingServer() as downstream, START[relay](downstream.url) as url:
        hop = enveloped(gateway, url) if relay == "node" else direct(gateway, url)
        replies = [hop(None) for _ in range(3)]
    assert replies == [IdleClosingServer.REPLY] * 3


def test_a_relay_that_does_not_start_fails_with_its_stderr(tmp_path: Path) -> None:
    command = ["sh", "-c", "echo 'no NEXT_URL' >&2; exit 3"]
    with (
        pytest.raises(AssertionError, match=r"the broken relay did not start.*no NEXT_URL"),
        running(command, {}, tmp_path, "the broken relay"),
    ):
        pass
